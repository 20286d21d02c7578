"""Table pipes a plan carries: the aggregation (stats, top, rare, timechart) and the pipes after it.

Frozen dataclasses compared by value; `column` is the 1-based position in the query text, for errors.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from logwarden.plan.errors import QuerySyntaxError
from logwarden.plan.evaluate import Eval
from logwarden.plan.filter import FieldRef

MESSAGE = FieldRef("message", True)
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
    """The most frequent values of a field (or combinations with the fields in `more`), with count and percent."""

    n: int
    field: FieldRef
    column: int = dataclasses.field(default=0, compare=False)
    more: tuple[FieldRef, ...] = ()

    @property
    def fields(self) -> tuple[FieldRef, ...]:
        return (self.field, *self.more)


PATTERN_ID = FieldRef("pattern_id", True)


@dataclass(frozen=True, slots=True)
class Patterns(Top):
    """`| patterns`: the most frequent log patterns of the matching lines (a `top` of `pattern_id`, which every
    backend runs as such); the query engine adds each pattern's template text from the pattern store."""

    @classmethod
    def of(cls, n: int, column: int = 0) -> Patterns:
        """The `n` most frequent patterns."""
        return cls(n, PATTERN_ID, column)


@dataclass(frozen=True, slots=True)
class Rare:
    """The least frequent values of a field (or combinations with the fields in `more`), with count and percent."""

    n: int
    field: FieldRef
    column: int = dataclasses.field(default=0, compare=False)
    more: tuple[FieldRef, ...] = ()

    @property
    def fields(self) -> tuple[FieldRef, ...]:
        return (self.field, *self.more)


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


@dataclass(frozen=True, slots=True)
class Extract:
    """`| extract "re"` (or `| extract pattern "<_> from <ip>"`): each named group of the RE2 `regex`
    becomes a field; `groups` holds the capture-group number of each of `names`."""

    regex: str
    names: tuple[str, ...]
    groups: tuple[int, ...]
    source: FieldRef = MESSAGE
    column: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Unpack:
    """`| json` / `| logfmt`: every key of the JSON object or `key=value` text in `source` is a field."""

    format: Literal["json", "logfmt"]
    source: FieldRef = MESSAGE
    column: int = dataclasses.field(default=0, compare=False)


RowPipe = Extract | Unpack | Eval | Where
Pipe = Stats | Top | Rare | Timechart | Sort | Limit | Fields | Where | Extract | Unpack | Eval
AGGREGATING = (Stats, Top, Rare, Timechart)
# Pipes that add fields to each line; they (and `where` before an aggregation) come before the other pipes.
EXTRACTING = (Extract, Unpack, Eval)


def check_pipe_order(pipes: tuple[Pipe, ...]) -> None:
    """Line pipes (extract, json, logfmt, eval, where on lines) first; at most one aggregation; then the rest.

    QuerySyntaxError at the misplaced pipe otherwise."""
    aggregated = False
    shaped = False  # a sort / limit / fields on hits came already
    for pipe in pipes:
        if isinstance(pipe, AGGREGATING):
            if aggregated:
                raise QuerySyntaxError("only one of stats, top, rare, timechart per query", pipe.column)
            if shaped:
                raise QuerySyntaxError("stats, top, rare and timechart come before sort, limit and fields", pipe.column)
            aggregated = True
        elif isinstance(pipe, (*EXTRACTING, Where)):
            if isinstance(pipe, Where) and aggregated:
                continue  # filters the aggregation's output
            if aggregated:
                raise QuerySyntaxError(
                    "extract, json, logfmt and eval come before stats, top, rare and timechart", pipe.column
                )
            if shaped:
                raise QuerySyntaxError(
                    "extract, json, logfmt, eval and where come before sort, limit and fields", pipe.column
                )
        elif not aggregated:
            shaped = True
