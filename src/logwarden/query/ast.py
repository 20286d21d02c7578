"""The syntax tree of a query: frozen dataclasses, compared by value (golden tests compare them).

A query is a row filter (`Node`), an optional `_time` range and a list of pipes. Field references are
resolved at parse time: a core column name means the column, anything else (or `attrs.<key>`) is an
attribute key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from logwarden.model.schema import CORE_COLUMNS

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


Node = MatchAll | Term | Equals | Wildcard | Compare | Range | Cidr | Exists | Regex | And | Or | Not


@dataclass(frozen=True, slots=True)
class TimeRange:
    """`_time:[start TO end]` as written (`now-1h`, RFC 3339, epoch); resolved by the planner."""

    start: str | None
    end: str | None
    include_end: bool = True


# --- pipes --------------------------------------------------------------------------------

AGG_FUNCS = frozenset({"count", "avg", "sum", "min", "max", "p50", "p90", "p95", "p99", "count_distinct"})


@dataclass(frozen=True, slots=True)
class Agg:
    """One aggregate: `func(field) as alias`; only `count` may omit the field."""

    func: str
    field: FieldRef | None
    alias: str


@dataclass(frozen=True, slots=True)
class Stats:
    aggs: tuple[Agg, ...]
    by: tuple[FieldRef, ...] = ()
    column: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Top:
    """The most frequent values of a field, with count and percent."""

    n: int
    field: FieldRef
    column: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Rare:
    """The least frequent values of a field, with count and percent."""

    n: int
    field: FieldRef
    column: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Timechart:
    """Aggregates per time bucket (`span` seconds; None picks ~60 buckets over the range) and group."""

    span: float | None
    aggs: tuple[Agg, ...]
    by: FieldRef | None = None
    column: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class SortKey:
    name: str
    descending: bool


@dataclass(frozen=True, slots=True)
class Sort:
    keys: tuple[SortKey, ...]
    column: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Limit:
    n: int
    column: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Fields:
    names: tuple[str, ...]
    column: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class WhereCompare:
    """`name op value` on an output column; value is a number, a quoted text, or another column name."""

    name: str
    op: Literal["=", "!=", ">", ">=", "<", "<="]
    value: float | str
    value_is_column: bool = False


@dataclass(frozen=True, slots=True)
class WhereAnd:
    items: tuple[WhereExpr, ...]


@dataclass(frozen=True, slots=True)
class WhereOr:
    items: tuple[WhereExpr, ...]


@dataclass(frozen=True, slots=True)
class WhereNot:
    item: WhereExpr


WhereExpr = WhereCompare | WhereAnd | WhereOr | WhereNot


@dataclass(frozen=True, slots=True)
class Where:
    expr: WhereExpr
    column: int = dataclasses.field(default=0, compare=False)


Pipe = Stats | Top | Rare | Timechart | Sort | Limit | Fields | Where
AGGREGATING = (Stats, Top, Rare, Timechart)


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: the row filter, the `_time` range written in it, and the pipes in order."""

    filter: Node
    time: TimeRange | None = None
    pipes: tuple[Pipe, ...] = ()

    @property
    def aggregation(self) -> Stats | Top | Rare | Timechart | None:
        for pipe in self.pipes:
            if isinstance(pipe, AGGREGATING):
                return pipe
        return None
