"""Table pipes a plan carries: the aggregation (stats, top, rare, timechart) and the pipes after it.

Frozen dataclasses compared by value; `column` is the 1-based position in the query text, for errors.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from logwarden.plan.filter import FieldRef

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
