"""The syntax tree of a query: frozen dataclasses, compared by value (golden tests compare them).

A query is a row filter (`Node`), an optional `_time` range and a list of pipes. The filter and pipe
node types live in `logwarden.plan` (a backend compiles them without importing the query language);
they are re-exported here so the parser and its tests name them as part of the tree.
"""

from __future__ import annotations

from dataclasses import dataclass

from logwarden.plan.evaluate import (
    Eval,
    EvalBinary,
    EvalCall,
    EvalExpr,
    EvalField,
    EvalNumber,
    EvalText,
    EvalUnary,
)
from logwarden.plan.filter import (
    NUMERIC_CORE,
    QUERY_CORE,
    TIME_CORE,
    And,
    Cidr,
    Compare,
    CompareOp,
    Equals,
    EqualsNoCase,
    Exists,
    FieldRef,
    MatchAll,
    Node,
    Not,
    Or,
    Range,
    Regex,
    Term,
    Wildcard,
)
from logwarden.plan.table import (
    AGG_FUNCS,
    AGGREGATING,
    EXTRACTING,
    MESSAGE,
    Agg,
    Extract,
    Fields,
    Limit,
    Patterns,
    Pipe,
    Rare,
    RowPipe,
    Sort,
    SortKey,
    Stats,
    Timechart,
    Top,
    Unpack,
    Where,
    WhereAnd,
    WhereCompare,
    WhereExpr,
    WhereNot,
    WhereOr,
)

__all__ = [
    "AGGREGATING",
    "AGG_FUNCS",
    "EXTRACTING",
    "MESSAGE",
    "NUMERIC_CORE",
    "QUERY_CORE",
    "TIME_CORE",
    "Agg",
    "And",
    "Cidr",
    "Compare",
    "CompareOp",
    "Equals",
    "EqualsNoCase",
    "Eval",
    "EvalBinary",
    "EvalCall",
    "EvalExpr",
    "EvalField",
    "EvalNumber",
    "EvalText",
    "EvalUnary",
    "Exists",
    "Extract",
    "FieldRef",
    "Fields",
    "Limit",
    "MatchAll",
    "Node",
    "Not",
    "Or",
    "Patterns",
    "Pipe",
    "Query",
    "Range",
    "Rare",
    "Regex",
    "RowPipe",
    "Sort",
    "SortKey",
    "Stats",
    "Term",
    "TimeRange",
    "Timechart",
    "Top",
    "Unpack",
    "Where",
    "WhereAnd",
    "WhereCompare",
    "WhereExpr",
    "WhereNot",
    "WhereOr",
    "Wildcard",
]


@dataclass(frozen=True, slots=True)
class TimeRange:
    """`_time:[start TO end]` as written (`now-1h`, RFC 3339, epoch); resolved by the planner.

    `{` / `>` make the start exclusive, `}` / `<` the end."""

    start: str | None
    end: str | None
    include_end: bool = True
    include_start: bool = True


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: the row filter, the `_time` range written in it, and the pipes in order."""

    filter: Node
    time: TimeRange | None = None
    pipes: tuple[Pipe, ...] = ()

    @property
    def rows(self) -> tuple[RowPipe, ...]:
        """The leading row pipes (extract, json, logfmt, where on lines)."""
        out: list[RowPipe] = []
        for pipe in self.pipes:
            if not isinstance(pipe, (*EXTRACTING, Where)):
                break
            out.append(pipe)
        return tuple(out)

    @property
    def aggregation(self) -> Stats | Top | Rare | Timechart | None:
        for pipe in self.pipes:
            if isinstance(pipe, AGGREGATING):
                return pipe
        return None
