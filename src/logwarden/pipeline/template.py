"""Field templates (`"{org_id}-{region}"`): rendered per batch with one vectorized string join, no eval."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.pipeline import fields

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_FIELD_NAME = re.compile(r"^[A-Za-z_@][A-Za-z0-9_.@-]*$")


@dataclass(frozen=True, slots=True)
class Template:
    """Literal text and field references; `{{` and `}}` are literal braces."""

    parts: tuple[tuple[bool, str], ...]  # (is_field, text or field name)

    @property
    def fields(self) -> list[str]:
        return [text for is_field, text in self.parts if is_field]

    def render(self, batch: pa.Table) -> pa.Array:
        """One string per row; null where a referenced field is missing."""
        n = batch.num_rows
        arrays: list[pa.Array | pa.Scalar] = []
        for is_field, text in self.parts:
            if not is_field:
                arrays.append(pa.scalar(text, pa.string()))
                continue
            values = fields.get_strings(batch, text)
            arrays.append(values if values is not None else pa.nulls(n, pa.string()))
        if not any(isinstance(a, pa.Array) for a in arrays):
            return pa.repeat(pa.scalar("".join(t for _, t in self.parts), pa.string()), n)
        if len(arrays) == 1:
            only = arrays[0]
            assert isinstance(only, pa.Array)
            return only
        return pc.binary_join_element_wise(*arrays, "")


def parse_template(text: str) -> Template:
    """Parse `text`; raises ValueError naming the position of a stray brace or a bad field name."""
    parts: list[tuple[bool, str]] = []
    literal: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        literal.append(text[pos : m.start()])
        pos = m.end()
        token = m.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
        elif token in ("{", "}"):
            raise ValueError(f"unmatched {token!r} at position {m.start() + 1} (write {token * 2} for a literal brace)")
        else:
            name = (m.group(1) or "").strip()
            if not _FIELD_NAME.match(name):
                raise ValueError(f"invalid field name {name!r} at position {m.start() + 1}")
            if literal and "".join(literal):
                parts.append((False, "".join(literal)))
            literal = []
            parts.append((True, name))
    literal.append(text[pos:])
    if "".join(literal):
        parts.append((False, "".join(literal)))
    return Template(tuple(parts))
