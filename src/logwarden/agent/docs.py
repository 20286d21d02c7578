"""Render the agent's configuration reference (the generated part of docs/agent.md) from the field docstrings.

`python -m logwarden.agent.docs --write` refreshes docs/agent.md between its BEGIN/END markers; a test
fails when that part is out of date.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from logwarden.agent.config import AgentConfig
from logwarden.config.docs import _default, _human_size, _is_size

BEGIN = "<!-- BEGIN GENERATED REFERENCE (python -m logwarden.agent.docs --write) -->"
END = "<!-- END GENERATED REFERENCE -->"


def _models_in(annotation: Any) -> tuple[list[type[BaseModel]], bool]:
    """The models inside an annotation (through Optional, unions, Annotated) and whether it is a sequence."""
    models: list[type[BaseModel]] = []
    sequence = False

    def walk(a: Any) -> None:
        nonlocal sequence
        origin = typing.get_origin(a)
        if isinstance(a, type) and issubclass(a, BaseModel):
            models.append(a)
        elif origin in (tuple, list):
            sequence = True
            for arg in typing.get_args(a):
                walk(arg)
        elif origin in (typing.Union, types.UnionType, typing.Annotated):
            for arg in typing.get_args(a):
                walk(arg)

    walk(annotation)
    return models, sequence


def _section(model: type[BaseModel], prefix: str, out: list[str]) -> None:
    rows: list[str] = []
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        models, sequence = _models_in(field.annotation)
        if len(models) == 1:
            nested.append((f"{name}[]" if sequence else name, models[0]))
            if not field.description:
                continue
        doc = (field.description or "").replace("\n", " ").replace("|", "\\|")
        if field.is_required():
            shown = "required"
        else:
            default = field.get_default(call_default_factory=True)
            if isinstance(default, BaseModel) and "type" in type(default).model_fields:
                shown = str(default.model_dump()["type"])  # a tagged union member: its tag
            elif _is_size(field) and isinstance(default, int):
                shown = _human_size(default)
            else:
                shown = _default(default)
            shown = f"`{shown}`" if shown else ""
        rows.append(f"| `{prefix}{name}` | {shown} | {doc} |")
    if rows:
        title = prefix.rstrip(".") or "top level"
        out.append(f"\n### {title}\n")
        if model.__doc__ and prefix:
            out.append(" ".join(model.__doc__.split()) + "\n")
        out.append("| setting | default | meaning |\n|---|---|---|")
        out.extend(rows)
    for name, sub in nested:
        _section(sub, f"{prefix}{name}.", out)


def render() -> str:
    """The generated reference, markers included."""
    out = [BEGIN]
    _section(AgentConfig, "", out)
    out.append(END)
    return "\n".join(out) + "\n"


def current_section(text: str) -> str:
    start = text.index(BEGIN)
    end = text.index(END) + len(END)
    return text[start:end] + "\n"


def write(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(current_section(text), render()), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write(Path(__file__).resolve().parents[3] / "docs" / "agent.md")
    else:
        print(render(), end="")
