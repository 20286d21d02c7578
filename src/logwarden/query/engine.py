"""Run queries on a store: hits or tables, histogram buckets for the search bar, field summaries.

Each function parses and plans (query/planner.py), asks the store to execute the plan (one snapshot,
answered as Arrow), and shapes the answer for the API: attrs decoded, timecharts and histograms
zero-filled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import orjson
import pyarrow as pa

from logwarden.plan.nodes import (
    META_SAMPLED,
    META_TOTAL,
    AggregatePlan,
    FieldsPlan,
    HistogramPlan,
    SearchPlan,
    meta_int,
)
from logwarden.query import ast
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.parser import parse
from logwarden.query.planner import MAX_BUCKETS, MAX_TABLE_ROWS, QueryPlan, pick_span, plan, resolve_range

if TYPE_CHECKING:  # only named in annotations: the query language needs no part of the store at run time
    from logwarden.store.base import Store

FIELDS_SAMPLE = 10_000
FIELDS_TOP = 5
MAX_SERIES = 20
# (tenant, pattern ids) → their template texts (the pattern store's; blocking: run off the event loop).
TemplateLookup = Callable[[str, list[str]], dict[str, str]]
# Buckets are multiples of their width since the Unix epoch, in the store and here alike.
_BUCKET_ORIGIN = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class QueryResult:
    """Hits (newest first unless sorted) or a table, with the time range actually searched."""

    kind: Literal["hits", "table"]
    start: datetime
    end: datetime
    total: int = 0
    hits: list[dict[str, Any]] = field(default_factory=list)
    columns: list[dict[str, str]] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    took_ms: float = 0.0


def arrow_type_name(t: pa.DataType) -> str:
    """A JSON-friendly name for a column type."""
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "timestamp"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return "string"
    return str(t)


async def run_query(
    store: Store,
    text: str,
    *,
    tenant: str,
    start: datetime,
    end: datetime,
    limit: int = 100,
    now: datetime | None = None,
    templates: TemplateLookup | None = None,
) -> QueryResult:
    """Parse, plan and run a query for one tenant over [start, end); `templates` names the patterns of a
    `| patterns` table."""
    began = time.perf_counter()
    the_plan = plan(parse(text), tenant=tenant, start=start, end=end, limit=limit, now=now)
    result = await execute(store, the_plan)
    if templates is not None:
        await add_templates(result, the_plan, templates)
    result.took_ms = round((time.perf_counter() - began) * 1000, 2)
    return result


async def execute(store: Store, the_plan: QueryPlan) -> QueryResult:
    """Run a planned query on the store and shape its answer."""
    table = await store.execute(the_plan.plan)
    result = QueryResult(the_plan.kind, the_plan.start, the_plan.end)
    if the_plan.kind == "table":
        result.columns = [{"name": f.name, "type": arrow_type_name(f.type)} for f in table.schema]
        if table.num_rows == 0 and all(pa.types.is_null(f.type) for f in table.schema):
            return result  # nothing to read in the range: the columns, no rows
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        result.rows = [list(row) for row in zip(*columns, strict=True)] if columns else []
        if the_plan.fill is not None:
            result.rows = fill_timechart(result.rows, the_plan)
        result.total = len(result.rows)
        return result
    result.total = meta_int(table, META_TOTAL)
    result.hits = _hits(table, the_plan)
    return result


async def add_templates(result: QueryResult, the_plan: QueryPlan, templates: TemplateLookup) -> None:
    """After `| patterns` (and the pipes after it): a `template` column beside `pattern_id`, each pattern's text
    (null for lines stored without a pattern, or a pattern the store does not know)."""
    inner = the_plan.plan
    if not isinstance(inner, AggregatePlan) or not isinstance(inner.aggregation, ast.Patterns):
        return
    names = [c["name"] for c in result.columns]
    if "pattern_id" not in names or "template" in names:
        return  # `| fields` dropped the id, or a pipe made its own `template`
    at = names.index("pattern_id")
    ids = sorted({row[at] for row in result.rows if row[at] is not None})
    texts = await asyncio.to_thread(templates, inner.tenant, ids) if ids else {}
    result.columns.insert(at + 1, {"name": "template", "type": "string"})
    for row in result.rows:
        row.insert(at + 1, texts.get(row[at]) if row[at] is not None else None)


def bucket_count(start: datetime, end: datetime, span: float) -> int:
    """How many aligned `span`-second buckets [start, end) touches."""
    if start >= end:
        return 0
    return int(((end - bucket_start(start, span)).total_seconds() + span - 1e-6) // span)


def bucket_starts(start: datetime, end: datetime, span: float) -> list[datetime]:
    """The starts of the aligned buckets [start, end) touches, oldest first."""
    first = bucket_start(start, span)
    return [first + timedelta(seconds=span * i) for i in range(bucket_count(start, end, span))]


def fill_timechart(rows: list[list[Any]], the_plan: QueryPlan) -> list[list[Any]]:
    """Every bucket of the range for every group, empty ones with 0 counts (other aggregates null).

    Left as is when the full grid would pass MAX_BUCKETS rows (many groups over many buckets).
    """
    fill = the_plan.fill
    assert fill is not None
    starts = bucket_starts(the_plan.start, the_plan.end, fill.span)
    width = 1 + fill.groups
    groups = list(dict.fromkeys(tuple(row[1:width]) for row in rows)) if fill.groups else [()]
    if not groups or len(starts) * len(groups) > max(MAX_TABLE_ROWS, MAX_BUCKETS):
        return rows
    found = {(row[0], tuple(row[1:width])): row for row in rows}
    complete = []
    for start in starts:
        for group in groups:
            row = found.get((start, group))
            complete.append(row if row is not None else [start, *group, *fill.defaults])
    return complete


def _hits(table: pa.Table, the_plan: QueryPlan) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = table.to_pylist()
    if the_plan.projected:
        decode = [name for name, is_json in the_plan.projected if is_json]
        for hit in hits:
            for name in decode:
                raw = hit.get(name)
                hit[name] = orjson.loads(raw) if raw is not None else None
        return hits
    extracted = the_plan.plan.extracted if isinstance(the_plan.plan, SearchPlan) else ()
    for hit in hits:
        attrs = hit.get("attrs")
        hit["attrs"] = orjson.loads(attrs) if attrs else {}
        for name in extracted:  # JSON text of what `| extract` found (null where the line did not match)
            raw = hit.get(name)
            hit[name] = orjson.loads(raw) if raw is not None else None
    return hits


# --- histogram -----------------------------------------------------------------------------


@dataclass(slots=True)
class Histogram:
    """Zero-filled counts per aligned bucket, overall and (with `by`) per value of a field."""

    start: datetime
    end: datetime
    interval: float
    buckets: list[datetime]
    counts: list[int]
    series: dict[str, list[int]]
    total: int
    took_ms: float = 0.0


def bucket_start(t: datetime, span: float) -> datetime:
    """The start of the bucket holding t, aligned as the store aligns them (multiples of span since 1970)."""
    micros = round(span * 1_000_000)
    offset = (t - _BUCKET_ORIGIN) // timedelta(microseconds=1)
    return _BUCKET_ORIGIN + timedelta(microseconds=(offset // micros) * micros)


async def histogram(
    store: Store,
    text: str,
    *,
    tenant: str,
    start: datetime,
    end: datetime,
    buckets: int = 60,
    interval: float | None = None,
    by: str | None = None,
    now: datetime | None = None,
) -> Histogram:
    """Bucket counts of the rows the query's filter matches (its pipes are ignored)."""
    began = time.perf_counter()
    query = parse(text)
    query = ast.Query(query.filter, query.time)
    start, end = resolve_range(query, start, end, now or datetime.now(UTC))
    span = interval or pick_span(start, end, buckets)
    n = bucket_count(start, end, span)
    if n > MAX_BUCKETS:
        raise QuerySyntaxError(f"interval {span:g}s makes {n} buckets over this range; use a larger interval", 1)
    starts = bucket_starts(start, end, span)
    ref = ast.FieldRef.parse(by) if by else None
    if starts:
        table = await store.execute(HistogramPlan(tenant, start, max(end, start), span, query.filter, ref))
        rows: list[dict[str, Any]] = table.to_pylist()
    else:
        rows = []
    index = {b: i for i, b in enumerate(starts)}
    counts = [0] * len(starts)
    per_value: dict[str, list[int]] = {}
    for row in rows:
        i = index.get(row["bucket"].astimezone(UTC))
        if i is None:
            continue
        counts[i] += row["count"]
        if ref is not None:
            key = "null" if row["value"] is None else str(row["value"])
            per_value.setdefault(key, [0] * len(starts))[i] += row["count"]
    # The busiest series, so a high-cardinality field does not flood the search bar.
    top = sorted(per_value, key=lambda k: -sum(per_value[k]))[:MAX_SERIES]
    result = Histogram(start, end, span, starts, counts, {k: per_value[k] for k in top}, sum(counts))
    result.took_ms = round((time.perf_counter() - began) * 1000, 2)
    return result


# --- field summary -------------------------------------------------------------------------


async def field_summary(
    store: Store,
    text: str,
    *,
    tenant: str,
    start: datetime,
    end: datetime,
    sample: int = FIELDS_SAMPLE,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Names, types, counts and top values of core fields and attrs keys in the newest `sample` matching rows."""
    began = time.perf_counter()
    query = parse(text)
    query = ast.Query(query.filter, query.time)
    start, end = resolve_range(query, start, end, now or datetime.now(UTC))
    table = await store.execute(FieldsPlan(tenant, start, max(end, start), query.filter, sample, FIELDS_TOP))
    fields = table.to_pylist()
    for f in fields:
        if f["core"] and f["type"] == "integer":
            # Core numbers come back as text in the top list (one Arrow type for every field).
            f["top"] = [{"value": int(t["value"]), "count": t["count"]} for t in f["top"]]
    return {
        "sampled": meta_int(table, META_SAMPLED),
        "sample_limit": sample,
        "fields": fields,
        "took_ms": round((time.perf_counter() - began) * 1000, 2),
    }
