"""Render the rule settings reference (the generated part of docs/rules.md) from the models' docstrings.

`python -m logwarden.rules.docs --write docs/rules.md` replaces the text between the markers; a test fails
when it is out of date.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from logwarden.rules.model import Rule, RuleFile, RuleGroup
from logwarden.rules.templates import format_duration
from logwarden.rules.types import RULE_TYPES, type_name

BEGIN = "<!-- BEGIN GENERATED: python -m logwarden.rules.docs --write docs/rules.md -->"
END = "<!-- END GENERATED -->"


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, timedelta):
        return f"`{format_duration(value)}`"
    return f"`{json.dumps(value, default=str)}`"


def _table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        doc = (field.description or "").replace("\n", " ").replace("|", "\\|")
        rows.append(f"| `{field.alias or name}` | {_default(field)} | {doc} |")
    return rows


def render() -> str:
    """The generated reference: file, group, common rule settings, then each rule type's own."""
    out = ["### Rule file", "", *_table(RuleFile), "", "### Group", "", *_table(RuleGroup), ""]
    out += ["### Every rule", "", *_table(Rule), ""]
    for rule_type in sorted(RULE_TYPES, key=type_name):
        out += [f"### `type: {type_name(rule_type)}`", "", inspect.cleandoc(rule_type.__doc__ or ""), ""]
        out += _table(rule_type, skip=tuple(Rule.model_fields))
        out.append("")
    return "\n".join(out)


def generated_part(text: str) -> str | None:
    """The text between the markers of a document (None without markers)."""
    match = re.search(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), text, re.S)
    return match.group(1) if match else None


def undocumented() -> list[str]:
    """Settings without a docstring (a test keeps this empty)."""
    models: list[type[BaseModel]] = [RuleFile, RuleGroup, Rule, *RULE_TYPES]
    return [f"{m.__name__}.{n}" for m in models for n, f in m.model_fields.items() if not f.description]


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "--write":
        path = Path(argv[1])
        text = path.read_text(encoding="utf-8")
        if generated_part(text) is None:
            raise SystemExit(f"{path}: no generated-section markers")
        start, end = text.index(BEGIN) + len(BEGIN) + 1, text.index(END)
        path.write_text(text[:start] + render() + text[end:], encoding="utf-8")
    else:
        print(render())


if __name__ == "__main__":
    main(sys.argv[1:])
