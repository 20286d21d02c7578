"""Query + request → a logical plan (logwarden.plan.nodes): the tenant, the time range, the filter, the pipes.

The `_time` clause is intersected with the request's start/end so that the store reads only the
partitions the query can touch; a timechart's bucket width is chosen here. The backend compiles the
plan (store/duckdb/plan_sql.py for DuckDB) and puts the tenant filter in every statement it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from logwarden.plan.errors import QuerySyntaxError
from logwarden.plan.nodes import AggregatePlan, SearchPlan
from logwarden.query import ast
from logwarden.query.timerange import MIN_TIME, TimeRangeError, parse_time

MAX_TABLE_ROWS = 10_000
# A timechart or histogram may ask for this many buckets (OpenSearch allows 65,535); a timechart's
# table may then hold this many rows however small MAX_TABLE_ROWS is.
MAX_BUCKETS = 65_536
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Bucket keys are epoch microseconds // span in BIGINT: wider spans are never useful (years 1..9999).
_MAX_SPAN_MICROS = 10_000 * 366 * 86_400 * 1_000_000
# Bucket sizes a timechart or histogram picks from (seconds): round numbers people read easily.
NICE_SPANS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


@dataclass(frozen=True, slots=True)
class TimechartFill:
    """How to complete a timechart's table: bucket width, group columns after `_time`, empty values."""

    span: float
    groups: int
    defaults: tuple[int | None, ...]


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """A planned query: the store's plan, and what the engine does with its answer."""

    plan: SearchPlan | AggregatePlan
    # Hits with `| fields`: names as written → True when the value is attrs JSON text to decode.
    projected: tuple[tuple[str, bool], ...] = ()
    # A timechart's empty buckets to add to the table (None for other tables).
    fill: TimechartFill | None = None

    @property
    def kind(self) -> Literal["hits", "table"]:
        return "hits" if isinstance(self.plan, SearchPlan) else "table"

    @property
    def start(self) -> datetime:
        return self.plan.start

    @property
    def end(self) -> datetime:
        return self.plan.end


def resolve_range(query: ast.Query, start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The request's [start, end) intersected with the query's `_time` clause."""
    if query.time is not None:
        try:
            if query.time.start is not None:
                t_start = parse_time(query.time.start, now, default=start, name="_time start")
                if not query.time.include_start:
                    # Times are stored to the microsecond: "after A" starts one microsecond later.
                    t_start += timedelta(microseconds=1)
                start = max(start, t_start)
            if query.time.end is not None:
                t_end = parse_time(query.time.end, now, default=end, name="_time end")
                if query.time.include_end:
                    t_end += timedelta(microseconds=1)
                end = min(end, t_end)
        except TimeRangeError as exc:
            raise QuerySyntaxError(str(exc), 1, "_time") from None
    return start, end


def plan(
    query: ast.Query,
    *,
    tenant: str,
    start: datetime,
    end: datetime,
    limit: int = 100,
    now: datetime | None = None,
) -> QueryPlan:
    """Plan a parsed query for one tenant and time range (`limit` caps hits)."""
    now = now or datetime.now(UTC)
    start, end = resolve_range(query, start, end, now)
    agg = query.aggregation
    if agg is None:
        return _search_plan(query, tenant, start, end, limit)
    rows = query.rows
    after = query.pipes[len(rows) + 1 :]  # checked by the backend's compiler (unknown columns)
    span = None
    fill = None
    max_rows = MAX_TABLE_ROWS
    if isinstance(agg, ast.Timechart):
        span = agg.span or pick_span(start, end, 60)
        check_span(start, end, span, agg.column)
        max_rows = max(MAX_TABLE_ROWS, MAX_BUCKETS)
        if not after:
            # A chart wants every bucket: the engine adds the empty ones (not after further pipes).
            fill = TimechartFill(
                span=span,
                groups=1 if agg.by else 0,
                defaults=tuple(0 if a.func in ("count", "count_distinct") else None for a in agg.aggs),
            )
    the_plan = AggregatePlan(
        tenant, start, end, agg, query.filter, pipes=after, span=span, max_rows=max_rows, rows=rows
    )
    return QueryPlan(the_plan, fill=fill)


def _search_plan(query: ast.Query, tenant: str, start: datetime, end: datetime, limit: int) -> QueryPlan:
    sort: tuple[ast.SortKey, ...] = ()
    fields: tuple[str, ...] = ()
    rows = query.rows
    for pipe in query.pipes[len(rows) :]:
        if isinstance(pipe, ast.Limit):
            limit = min(limit, pipe.n)
        elif isinstance(pipe, ast.Sort):
            sort = pipe.keys
        elif isinstance(pipe, ast.Fields):
            fields = pipe.names
    projected = tuple((name, not ast.FieldRef.parse(name).core) for name in fields)
    # Without `fields`, hits carry the stored columns plus every name an extract pipe defines.
    extracted = () if fields else tuple(dict.fromkeys(n for p in rows for n in defined_fields(p)))
    search = SearchPlan(
        tenant, start, end, query.filter, limit=limit, sort=sort, fields=fields, rows=rows, extracted=extracted
    )
    return QueryPlan(search, projected=projected)


def defined_fields(pipe: ast.RowPipe) -> tuple[str, ...]:
    """The field names a row pipe defines whatever the line holds (json and logfmt keys are not known)."""
    if isinstance(pipe, ast.Extract):
        return pipe.names
    if isinstance(pipe, ast.Eval):
        return (ast.FieldRef.parse(pipe.name).name,)
    return ()


def pick_span(start: datetime, end: datetime, buckets: int) -> float:
    """The smallest nice bucket size that covers [start, end) in at most `buckets` buckets."""
    seconds = (end - start).total_seconds()
    for span in NICE_SPANS:
        if seconds / span <= buckets:
            return float(span)
    return float(max(NICE_SPANS) * (int(seconds / buckets / max(NICE_SPANS)) + 1))


def check_span(start: datetime, end: datetime, span: float, column: int = 1, name: str = "span") -> None:
    """Refuse a bucket width that makes too many buckets, or aligns the first bucket before year 1."""
    if (end - start).total_seconds() / span > MAX_BUCKETS:
        raise QuerySyntaxError(
            f"{name}={span:g}s makes more than {MAX_BUCKETS} buckets over this range; use a larger {name}"
            " (or leave it out for an automatic one)",
            column,
        )
    micros = round(span * 1_000_000)
    if micros > _MAX_SPAN_MICROS:
        raise QuerySyntaxError(f"{name}={span:g}s is wider than 10000 years; use a smaller {name}", column)
    # Buckets align to multiples of the span since 1970 (bucket_key), so a wide one can start before year 1.
    first = (start - _EPOCH) // timedelta(microseconds=1) // micros * micros
    if first < (MIN_TIME - _EPOCH) // timedelta(microseconds=1):
        raise QuerySyntaxError(
            f"{name}={span:g}s aligns the first bucket before year 1; use a smaller {name} or a later start", column
        )
