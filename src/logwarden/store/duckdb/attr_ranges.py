"""Numeric ranges a query's filter implies for attributes, tested on the typed columns that hold them.

`status:>=500` reads the attribute's number (`CAST("a$status" AS DOUBLE)` on a table with a BIGINT column,
store/duckdb/typed.py) and tests it with a BETWEEN over doubles: DuckDB evaluates that cast on every row and
cannot use the column's zone maps. Every line the filter keeps has the number in [500, +max], so a hot table
with a BIGINT or DOUBLE column for the key also gets `"a$status" BETWEEN 500 AND …` in its own branch of the
read: an integer test that zone maps prune by, run before the query's own test (which still decides: the
range is only ever implied by the filter, never a replacement for it).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from logwarden.plan import filter as ast
from logwarden.plan.duckdb_filter import as_number
from logwarden.plan.nodes import AggregatePlan, CountPlan, FieldsPlan, HistogramPlan, Plan, SearchPlan
from logwarden.store.duckdb.partitions import quote_ident
from logwarden.store.duckdb.typed import TypedColumn

_MAX = sys.float_info.max  # the query compiler's numeric tests use finite bounds (NaN and ±inf never match)
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_EXACT = 2.0**53  # every integer of smaller magnitude is a double
_SLACK = 2**11
_BEYOND = 2.0**63


@dataclass(frozen=True, slots=True)
class AttrRange:
    """Every line a filter keeps has the attribute `key`, as a number, in [low, high] (finite bounds)."""

    key: str
    low: float
    high: float


def plan_ranges(plan: Plan) -> tuple[AttrRange, ...]:
    """The attribute ranges implied by a plan's row filter (none for plans without one)."""
    if isinstance(plan, SearchPlan | AggregatePlan | CountPlan | HistogramPlan | FieldsPlan):
        return required_ranges(plan.filter)
    return ()


def required_ranges(node: ast.Node) -> tuple[AttrRange, ...]:
    """Ranges every line matching `node` satisfies: numeric comparisons, ranges and number-valued equality
    tests of attributes joined by AND (OR, NOT and everything else imply none)."""
    if isinstance(node, ast.And):
        out: list[AttrRange] = []
        for item in node.items:
            out.extend(required_ranges(item))
        return tuple(out)
    if isinstance(node, ast.Compare | ast.Range | ast.Equals) and node.field.core:
        return ()  # core columns have no typed column (and level compares by rank)
    if isinstance(node, ast.Compare):
        bound = as_number(node.value)
        if bound is None:
            return ()
        low = {">": math.nextafter(bound, math.inf), ">=": bound}.get(node.op, -_MAX)
        high = {"<": math.nextafter(bound, -math.inf), "<=": bound}.get(node.op, _MAX)
        return (AttrRange(node.field.name, low, high),)
    if isinstance(node, ast.Range):
        low_n, high_n = as_number(node.low), as_number(node.high)
        if (node.low is not None and low_n is None) or (node.high is not None and high_n is None):
            return ()  # a text range
        lo = -_MAX if low_n is None else low_n if node.include_low else math.nextafter(low_n, math.inf)
        hi = _MAX if high_n is None else high_n if node.include_high else math.nextafter(high_n, -math.inf)
        return (AttrRange(node.field.name, lo, hi),)
    if isinstance(node, ast.Equals):
        # Compared as text: a line whose text equals a number's spelling has that number (typed.py's invariant).
        number = as_number(node.value)
        return () if number is None else (AttrRange(node.field.name, number, number),)
    return ()


def _predicate(column: TypedColumn, ranges: Iterable[AttrRange]) -> str | None:
    """The test of one typed column against the ranges of its key (None for a text column)."""
    low, high = -_MAX, _MAX
    for r in ranges:
        low, high = max(low, r.low), min(high, r.high)
    ident = quote_ident(column.column)
    if column.type == "BIGINT":
        if low > _BEYOND or high < -_BEYOND:
            return "false"  # no BIGINT's DOUBLE lies beyond ±2^63
        lo, hi = _int_bound(low, up=True), _int_bound(high, up=False)
        return "false" if lo > hi else f"{ident} BETWEEN {lo} AND {hi}"
    if column.type == "DOUBLE":
        return "false" if low > high else f"{ident} BETWEEN {low!r} AND {high!r}"
    return None


def _int_bound(bound: float, *, up: bool) -> int:
    """The integer bound of a BIGINT column that keeps every value whose DOUBLE is within `bound`.

    Exact below 2^53; beyond, a BIGINT's DOUBLE is rounded (2^53 + 3 becomes 2^53 + 4), so the bound is widened
    by more than half a unit in the last place of any double up to 2^63 (2^10).
    """
    if abs(bound) < _EXACT:
        return math.ceil(bound) if up else math.floor(bound)
    if bound > 0:
        return min(math.floor(bound) - _SLACK, _INT_MAX) if up else _INT_MAX
    return _INT_MIN if up else max(math.ceil(bound) + _SLACK, _INT_MIN)


def range_filters(tables: dict[str, dict[str, TypedColumn]], ranges: Sequence[AttrRange]) -> dict[str, str]:
    """For each hot table with a numeric typed column for a ranged key, the predicate its branch adds."""
    if not ranges:
        return {}
    by_key: dict[str, list[AttrRange]] = {}
    for r in ranges:
        by_key.setdefault(r.key, []).append(r)
    out: dict[str, str] = {}
    for table, columns in tables.items():
        tests = [p for key, rs in by_key.items() if key in columns and (p := _predicate(columns[key], rs)) is not None]
        if tests:
            out[table] = " AND ".join(tests)
    return out
