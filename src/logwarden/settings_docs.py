"""What the generated settings references of docs/alerting.md, docs/rules.md and docs/processors.md share.

- `settings_table`: a model's settings as a markdown table (setting, default, meaning from the field docstring);
- `undocumented`: the settings without a docstring (each reference's test keeps this empty);
- `GeneratedSection`: the generated part of a hand-written document, between two markers, and the
  `python -m … [--write DOC]` command that prints or replaces it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from logwarden.model.units import format_duration

END = "<!-- END GENERATED -->"


def default_cell(field: Any) -> str:
    """How a setting's default reads in a table: `required`, a duration as the config writes it, `(secret)`,
    `see below` for a nested model, else its JSON."""
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, timedelta):
        return f"`{format_duration(value)}`"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, BaseModel):
        return "see below"
    return f"`{json.dumps(value, default=str)}`"


def settings_table(model: type[BaseModel], skip: Iterable[str] = ()) -> list[str]:
    """The lines of a markdown table of `model`'s settings, but those named in `skip` (documented elsewhere)."""
    skipped = set(skip)
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in skipped:
            continue
        doc = (field.description or "").replace("\n", " ").replace("|", "\\|")  # one table row, no stray column
        rows.append(f"| `{field.alias or name}` | {default_cell(field)} | {doc} |")
    return rows


def undocumented(models: Iterable[type[BaseModel]]) -> list[str]:
    """`Model.setting` for every setting of `models` without a docstring."""
    return [f"{m.__name__}.{n}" for m in models for n, f in m.model_fields.items() if not f.description]


class GeneratedSection:
    """The generated part of `doc`, between `<!-- BEGIN GENERATED: python -m <module> --write <doc> -->` and
    `<!-- END GENERATED -->`; the rest of the document is written by hand."""

    def __init__(self, module: str, doc: str, render: Callable[[], str]) -> None:
        """`render`: what belongs between the markers."""
        self.begin = f"<!-- BEGIN GENERATED: python -m {module} --write {doc} -->"
        self.end = END
        self.render = render

    def part(self, text: str) -> str | None:
        """The text between the markers of a document (None without markers)."""
        match = re.search(re.escape(self.begin) + r"\n(.*?)" + re.escape(self.end), text, re.S)
        return match.group(1) if match else None

    def main(self, argv: list[str]) -> None:
        """`--write PATH`: replace the generated part of PATH; no arguments: print it."""
        if len(argv) == 2 and argv[0] == "--write":
            path = Path(argv[1])
            text = path.read_text(encoding="utf-8")
            if self.part(text) is None:
                raise SystemExit(f"{path}: no generated-section markers")
            start, end = text.index(self.begin) + len(self.begin) + 1, text.index(self.end)
            path.write_text(text[:start] + self.render() + text[end:], encoding="utf-8")
        else:
            print(self.render())
