"""The row filter every plan carries: field references and boolean tests, frozen and compared by value.

Produced by the query language's parser (query/parser.py), read by every backend compiler and by the
stream filter. A field reference is resolved at parse time: a core column name means the column,
anything else (or `attrs.<key>`) is an attribute key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from logwarden.model.schema import CORE_COLUMNS
from logwarden.plan.words import fold

# Core columns a query may name; `attrs` itself is the JSON text and not a field.
QUERY_CORE = frozenset(c for c in CORE_COLUMNS if c != "attrs")
NUMERIC_CORE = frozenset({"severity"})
TIME_CORE = frozenset({"ts", "observed_ts"})

CompareOp = Literal[">", ">=", "<", "<="]


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A core column (`core=True`, name is the column) or an attribute (name is its dotted key)."""

    name: str
    core: bool

    @staticmethod
    def parse(text: str) -> FieldRef:
        """`attrs.<key>` is always an attribute; a core column name is the column; anything else an attribute."""
        if text.startswith("attrs.") and len(text) > 6:
            return FieldRef(text[6:], False)
        if text in QUERY_CORE:
            return FieldRef(text, True)
        return FieldRef(text, False)

    def __str__(self) -> str:
        if self.core or self.name in QUERY_CORE:
            return self.name if self.core else f"attrs.{self.name}"
        return self.name


# --- row filter ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatchAll:
    """Every row (an empty query, or `*`)."""


@dataclass(frozen=True, slots=True)
class Term:
    """Text the message contains, case-insensitive; with `wildcard`, `*` and `?` in it match any text."""

    text: str
    wildcard: bool = False


@dataclass(frozen=True, slots=True)
class Equals:
    """A field equal to a value, compared as text (level values are normalized: `warning` → WARN)."""

    field: FieldRef
    value: str


@dataclass(frozen=True, slots=True)
class Wildcard:
    """A field matching a glob (`*` any text, `?` one character), case-sensitive except for level."""

    field: FieldRef
    pattern: str


@dataclass(frozen=True, slots=True)
class EqualsNoCase:
    """`field:i(value)`: the field equals the value ignoring case; with `glob`, `*` and `?` in it match any text."""

    field: FieldRef
    value: str
    glob: bool = False


@dataclass(frozen=True, slots=True)
class Compare:
    """`field:>=500`: numeric when the value is a number, else a text comparison."""

    field: FieldRef
    op: CompareOp
    value: str


@dataclass(frozen=True, slots=True)
class Range:
    """`field:[low TO high]` (`[]` inclusive, `{}` exclusive); None is an open end (`*`)."""

    field: FieldRef
    low: str | None
    high: str | None
    include_low: bool = True
    include_high: bool = True


@dataclass(frozen=True, slots=True)
class Cidr:
    """An IP address field inside a network (`10.0.0.0/8`, `2001:db8::/32`); `network` is normalized."""

    field: FieldRef
    network: str


@dataclass(frozen=True, slots=True)
class Exists:
    """`_exists_:field`: the row has a (non-null) value for the field."""

    field: FieldRef


@dataclass(frozen=True, slots=True)
class Regex:
    """`field:/re/`: RE2 regex search (unanchored) in the field's text."""

    field: FieldRef
    pattern: str


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


Node = MatchAll | Term | Equals | EqualsNoCase | Wildcard | Compare | Range | Cidr | Exists | Regex | And | Or | Not


def terms_filter(terms: tuple[str, ...], equals: dict[str, tuple[str, ...]]) -> Node:
    """Every term in the message (literal, case-insensitive) and each core column one of its values."""
    items: list[Node] = [Term(fold(t)) for t in terms]
    for column, values in equals.items():
        ref = FieldRef(column, True)
        alternatives = [Equals(ref, v) for v in values]
        items.append(alternatives[0] if len(alternatives) == 1 else Or(tuple(alternatives)))
    if not items:
        return MatchAll()
    return items[0] if len(items) == 1 else And(tuple(items))
