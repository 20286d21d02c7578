"""Run queries on the DuckDB store: hits or tables, histogram buckets for the search bar, field summaries.

Every statement runs inside one `store.read` snapshot, over `WITH logs AS (<the store's union of hot
partitions, archive files and in-memory batches>)`; the planner's WHERE (tenant, time, filter) applies
on top and DuckDB pushes it into each branch of the union.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import duckdb
import orjson
import pyarrow as pa
from sqlglot import exp

from logwarden.model.schema import CORE_COLUMNS
from logwarden.query import ast
from logwarden.query.compiler import StoreFields
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.parser import parse
from logwarden.query.planner import (
    MAX_TABLE_ROWS,
    Plan,
    base_where,
    bind_sql,
    bucket_expr,
    bucket_key,
    pick_span,
    plan,
    required_tokens,
    resolve_range,
)
from logwarden.store.duckdb.store import DuckDBStore

FIELDS_SAMPLE = 10_000
FIELDS_TOP = 5
MAX_SERIES = 20
# Buckets are multiples of their width since the Unix epoch (planner.bucket_key), in SQL and here alike.
_BUCKET_ORIGIN = datetime(1970, 1, 1, tzinfo=UTC)
# Data errors a query can hit on user data (a text compared with a number in `| where`): the user's to fix.
_DATA_ERRORS = (duckdb.ConversionException, duckdb.OutOfRangeException)


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


def _run(cur: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pa.Table:
    try:
        return cur.sql(sql, params=params).to_arrow_table()
    except _DATA_ERRORS as exc:
        reason = str(exc).splitlines()[0]
        raise QuerySyntaxError(f"the query cannot be evaluated on this data: {reason}", 1) from None


async def run_query(
    store: DuckDBStore,
    text: str,
    *,
    tenant: str,
    start: datetime,
    end: datetime,
    limit: int = 100,
    now: datetime | None = None,
) -> QueryResult:
    """Parse, plan and run a query for one tenant over [start, end)."""
    began = time.perf_counter()
    the_plan = plan(parse(text), tenant=tenant, start=start, end=end, limit=limit, now=now)
    result = await execute(store, the_plan)
    result.took_ms = round((time.perf_counter() - began) * 1000, 2)
    return result


async def execute(store: DuckDBStore, the_plan: Plan) -> QueryResult:
    """Run a plan in one snapshot of the store."""

    def run(cur: duckdb.DuckDBPyConnection, src: str | None, params: dict[str, Any]) -> QueryResult:
        result = QueryResult(the_plan.kind, the_plan.start, the_plan.end)
        if the_plan.kind == "table":
            if src is None:
                result.columns = [{"name": c, "type": "null"} for c in the_plan.columns]
                return result
            table = _run(cur, bind_sql(src, the_plan.select), params)
            result.columns = [{"name": f.name, "type": arrow_type_name(f.type)} for f in table.schema]
            columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
            result.rows = [list(row) for row in zip(*columns, strict=True)] if columns else []
            if the_plan.fill is not None:
                result.rows = fill_timechart(result.rows, the_plan)
            result.total = len(result.rows)
            return result
        if src is None or the_plan.start >= the_plan.end:
            return result
        assert the_plan.count is not None
        table = _run(cur, bind_sql(src, the_plan.select), params)
        # Fewer hits than the limit: they are all the matches, so the count scan is not needed.
        if table.num_rows < the_plan.limit:
            result.total = table.num_rows
        else:
            result.total = int(_run(cur, bind_sql(src, the_plan.count), params).column(0)[0].as_py())
        result.hits = _hits(table, the_plan)
        return result

    return await store.read(
        the_plan.tenant, the_plan.start, max(the_plan.end, the_plan.start), run, tokens=the_plan.tokens
    )


def bucket_count(start: datetime, end: datetime, span: float) -> int:
    """How many aligned `span`-second buckets [start, end) touches."""
    if start >= end:
        return 0
    return int(((end - bucket_start(start, span)).total_seconds() + span - 1e-6) // span)


def bucket_starts(start: datetime, end: datetime, span: float) -> list[datetime]:
    """The starts of the aligned buckets [start, end) touches, oldest first."""
    first = bucket_start(start, span)
    return [first + timedelta(seconds=span * i) for i in range(bucket_count(start, end, span))]


def fill_timechart(rows: list[list[Any]], the_plan: Plan) -> list[list[Any]]:
    """Every bucket of the range for every group, empty ones with 0 counts (other aggregates null).

    Left as is when the full grid would pass MAX_TABLE_ROWS (many groups over many buckets).
    """
    fill = the_plan.fill
    assert fill is not None
    starts = bucket_starts(the_plan.start, the_plan.end, fill.span)
    width = 1 + fill.groups
    groups = list(dict.fromkeys(tuple(row[1:width]) for row in rows)) if fill.groups else [()]
    if not groups or len(starts) * len(groups) > MAX_TABLE_ROWS:
        return rows
    found = {(row[0], tuple(row[1:width])): row for row in rows}
    complete = []
    for start in starts:
        for group in groups:
            row = found.get((start, group))
            complete.append(row if row is not None else [start, *group, *fill.defaults])
    return complete


def _hits(table: pa.Table, the_plan: Plan) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = table.to_pylist()
    if the_plan.projected:
        decode = [name for name, is_json in the_plan.projected if is_json]
        for hit in hits:
            for name in decode:
                raw = hit.get(name)
                hit[name] = orjson.loads(raw) if raw is not None else None
        return hits
    for hit in hits:
        attrs = hit.get("attrs")
        hit["attrs"] = orjson.loads(attrs) if attrs else {}
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
    """The start of the bucket holding t, aligned as in SQL (planner.bucket_expr)."""
    micros = round(span * 1_000_000)
    offset = (t - _BUCKET_ORIGIN) // timedelta(microseconds=1)
    return _BUCKET_ORIGIN + timedelta(microseconds=(offset // micros) * micros)


async def histogram(
    store: DuckDBStore,
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
    if n > 10_000:
        raise QuerySyntaxError(f"interval {span:g}s makes {n} buckets over this range; use a larger interval", 1)
    starts = bucket_starts(start, end, span)
    where = base_where(query, tenant, start, end)
    ref = ast.FieldRef.parse(by) if by else None
    projection = [exp.alias_(bucket_expr(span), "bucket", quoted=True)]
    if ref is not None:
        value = exp.column(ref.name, quoted=True) if ref.core else StoreFields().text(ref)
        projection.append(exp.alias_(exp.cast(value, exp.DataType.build("VARCHAR")), "value", quoted=True))
    projection.append(exp.alias_(exp.Count(this=exp.Star()), "count", quoted=True))
    groups: list[exp.Expr] = [bucket_key(span), *(exp.Literal.number(i + 1) for i in range(1, len(projection) - 1))]
    select = exp.select(*projection).from_(exp.to_table("logs")).where(where).group_by(*groups)

    def run(cur: duckdb.DuckDBPyConnection, src: str | None, params: dict[str, Any]) -> list[dict[str, Any]]:
        if src is None or not starts:
            return []
        rows: list[dict[str, Any]] = _run(cur, bind_sql(src, select), params).to_pylist()
        return rows

    rows = await store.read(tenant, start, max(end, start), run, tokens=required_tokens(query.filter))
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

_CORE_SUMMARY = tuple(c for c in CORE_COLUMNS if c not in ("attrs", "tenant", "ts", "observed_ts", "log_id"))
_CORE_TYPES = {"severity": "integer"}
_JSON_TYPES = {
    "UBIGINT": "integer",
    "BIGINT": "integer",
    "DOUBLE": "number",
    "VARCHAR": "string",
    "BOOLEAN": "boolean",
    "ARRAY": "array",
    "OBJECT": "object",
    "NULL": "null",
}
_ATTR_FIELDS_SQL = """
WITH kv AS (
  SELECT e.key AS name, e.value AS value
  FROM (SELECT unnest(map_entries(json_transform(attrs, '"MAP(VARCHAR, JSON)"'))) AS e
        FROM _sample WHERE attrs IS NOT NULL)
), counted AS (
  SELECT name, json_extract_string(value, '$') AS v, json_type(value) AS t, count(*) AS c FROM kv GROUP BY ALL
)
SELECT name, CAST(sum(c) AS BIGINT) AS count, arg_max(t, c) AS type, count(DISTINCT v) AS distinct_values,
       list({'value': v, 'count': c} ORDER BY c DESC, v) AS top
FROM (SELECT name, v, any_value(t) AS t, CAST(sum(c) AS BIGINT) AS c FROM counted GROUP BY name, v)
GROUP BY name ORDER BY count DESC, name LIMIT 500
"""


async def field_summary(
    store: DuckDBStore,
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
    where = base_where(query, tenant, start, end)
    select = (
        exp.select(exp.Star())
        .from_(exp.to_table("logs"))
        .where(where)
        .order_by(
            exp.Ordered(this=exp.column("ts", quoted=True), desc=True),
            exp.Ordered(this=exp.column("seq", quoted=True), desc=True, nulls_first=False),
        )
        .limit(sample)
    )

    def run(cur: duckdb.DuckDBPyConnection, src: str | None, params: dict[str, Any]) -> list[dict[str, Any]]:
        if src is None or start >= end:
            return []
        rows = _run(cur, bind_sql(src, select), params)
        if rows.num_rows == 0:
            return []
        cur.register("_sample", rows)
        try:
            fields = _core_fields(cur)
            for row in cur.sql(_ATTR_FIELDS_SQL).to_arrow_table().to_pylist():
                fields.append(
                    {
                        "name": row["name"] if row["name"] not in ast.QUERY_CORE else f"attrs.{row['name']}",
                        "core": False,
                        "type": _JSON_TYPES.get(row["type"], str(row["type"]).lower()),
                        "count": int(row["count"]),
                        "distinct": int(row["distinct_values"]),
                        "top": [t for t in row["top"] if t["value"] is not None][:FIELDS_TOP],
                    }
                )
            return [{"sampled": rows.num_rows}, *fields]
        finally:
            cur.unregister("_sample")

    out = await store.read(tenant, start, max(end, start), run)
    sampled = int(out[0]["sampled"]) if out else 0
    return {
        "sampled": sampled,
        "sample_limit": sample,
        "fields": out[1:],
        "took_ms": round((time.perf_counter() - began) * 1000, 2),
    }


def _core_fields(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    fields: list[dict[str, Any]] = []
    for name in _CORE_SUMMARY:
        # Column names come from our schema, never from the request.
        col = f'"{name}"'
        row = cur.sql(f"SELECT count({col}), count(DISTINCT {col}) FROM _sample").fetchall()[0]
        if not row[0]:
            continue
        top: list[dict[str, Any]] = []
        if name != "message":
            top = [
                {"value": v, "count": int(c)}
                for v, c in cur.sql(
                    f"SELECT {col}, count(*) AS c FROM _sample WHERE {col} IS NOT NULL "
                    f"GROUP BY 1 ORDER BY c DESC, 1 LIMIT {FIELDS_TOP}"
                ).fetchall()
            ]
        fields.append(
            {
                "name": name,
                "core": True,
                "type": _CORE_TYPES.get(name, "string"),
                "count": int(row[0]),
                "distinct": int(row[1]),
                "top": top,
            }
        )
    return fields
