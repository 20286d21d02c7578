"""Run a plan node in one store snapshot: compile it (plan_sql.py), then answer with an Arrow table.

`prepare` compiles on the caller's thread, so a query the user has to fix fails before any read;
the returned function runs on a store read thread with the snapshot's cursor and its `logs` source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from logwarden.model.schema import CORE_COLUMNS
from logwarden.plan.duckdb_filter import AttrColumns, AttrRequest
from logwarden.plan.errors import QuerySyntaxError
from logwarden.plan.filter import QUERY_CORE
from logwarden.plan.nodes import (
    META_SAMPLED,
    META_TOTAL,
    AggregatePlan,
    ContextPlan,
    CountPlan,
    FieldsPlan,
    HistogramPlan,
    Plan,
    SearchPlan,
    TracePlan,
    TraceSummaryPlan,
)
from logwarden.store.duckdb import lines, plan_sql
from logwarden.store.duckdb.arrow_read import fetch_arrow
from logwarden.store.duckdb.plan_sql import bind_sql
from logwarden.store.duckdb.tokens import field_key

# Data errors a query can hit on user data (a text compared with a number in `| where`): the user's to fix.
_DATA_ERRORS = (duckdb.ConversionException, duckdb.OutOfRangeException)

Runner = Callable[[duckdb.DuckDBPyConnection, str | None, dict[str, Any]], pa.Table]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A compiled plan: the words the token index may prune by, the function that answers it, and the
    attribute values it reads as columns the store's source adds (typed attributes: store/duckdb/typed.py)."""

    tokens: tuple[str, ...]
    run: Runner
    attrs: tuple[AttrRequest, ...] = ()
    pushed: str = ""  # tests of `message` alone implied by the row filter, which each day table's branch applies


def run_sql(cur: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pa.Table:
    """Run one compiled statement; a data error on the user's data becomes a QuerySyntaxError."""
    try:
        return fetch_arrow(cur, sql, params)
    except _DATA_ERRORS as exc:
        reason = str(exc).splitlines()[0]
        raise QuerySyntaxError(f"the query cannot be evaluated on this data: {reason}", 1) from None


def run_scalar(cur: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> Any:
    """The single value of a one-row, one-column statement (a count), data errors as in `run_sql`.

    `execute` + `fetchall`: a relation (`cur.sql`) binds the statement once to describe it and again to run it, and
    binding compiles the statement's regexes (a term's word-boundary regex costs milliseconds per compile).
    """
    try:
        return cur.execute(sql, params).fetchall()[0][0]
    except _DATA_ERRORS as exc:
        reason = str(exc).splitlines()[0]
        raise QuerySyntaxError(f"the query cannot be evaluated on this data: {reason}", 1) from None


# Newest-first windows tried before the whole range, as fractions of it: a top-N over 10M lines costs the
# rows it reads (DuckDB scans oldest first, so its dynamic ts filter prunes little); the newest blocks rarely do.
_NEWEST_WINDOWS = (1 / 256, 1 / 16)


def newest_first(
    cur: duckdb.DuckDBPyConnection,
    src: str,
    params: dict[str, Any],
    select: exp.Select,
    window: tuple[datetime, datetime],
    want: int,
) -> pa.Table:
    """A `ts DESC` top-N (`select`) run on growing windows ending at the range's end, then on the whole range.

    Exact: once a window [since, end) answers `want` rows, no line outside it (all older than `since`) could
    have been among them. Each try reads only the blocks its window overlaps (ts zone maps).
    """
    start, end = window
    for fraction in _NEWEST_WINDOWS:
        since = end - (end - start) * fraction
        table = run_sql(cur, bind_sql(src, plan_sql.since(select, since)), params)
        if table.num_rows >= want:
            return table
    return run_sql(cur, bind_sql(src, select), params)


def with_meta(table: pa.Table, key: bytes, value: int) -> pa.Table:
    """`table` with one integer figure added to its schema metadata."""
    return table.replace_schema_metadata({**(table.schema.metadata or {}), key: str(value).encode()})


def empty(columns: tuple[str, ...]) -> pa.Table:
    """No rows, the given columns typed null (no partition overlaps the range)."""
    return pa.table({name: pa.array([], pa.null()) for name in columns})


def prepare(plan: Plan) -> Prepared:
    """Compile `plan` (raising QuerySyntaxError for a query the user has to fix) into a snapshot runner."""
    attrs = AttrColumns()
    if isinstance(plan, SearchPlan):
        return _search(plan, attrs)
    if isinstance(plan, AggregatePlan):
        table = plan_sql.compile_aggregate(plan, attrs)
        return Prepared(table.tokens, lambda cur, src, params: _table(cur, src, params, table), attrs.requests)
    if isinstance(plan, CountPlan):
        return _count(plan, attrs)
    if isinstance(plan, HistogramPlan):
        hist = plan_sql.compile_histogram(plan, attrs)
        return Prepared(hist.tokens, lambda cur, src, params: _histogram(cur, src, params, plan, hist), attrs.requests)
    if isinstance(plan, FieldsPlan):
        sample = plan_sql.compile_fields_sample(plan, attrs)
        return Prepared(sample.tokens, lambda cur, src, params: _fields(cur, src, params, plan, sample), attrs.requests)
    if isinstance(plan, ContextPlan):  # two reads (DuckDBStore._context): its anchor's narrows the day tables
        raise TypeError("a ContextPlan is answered by DuckDBStore.execute, not by one prepared read")
    if isinstance(plan, TracePlan):
        return Prepared(_trace_keys(plan.trace_id), lambda cur, src, params: lines.trace_lines(cur, src, params, plan))
    if isinstance(plan, TraceSummaryPlan):
        return Prepared(
            _trace_keys(plan.trace_id), lambda cur, src, params: lines.trace_summary(cur, src, params, plan)
        )
    raise TypeError(f"unknown plan {plan!r}")


def _trace_keys(trace_id: str) -> tuple[str, ...]:
    """Every line of a trace has `trace_id` equal to it: the id index narrows the read to its blocks."""
    return (field_key("trace_id", trace_id),)


def _search(plan: SearchPlan, attrs: AttrColumns) -> Prepared:
    compiled = plan_sql.compile_search(plan, attrs)

    def run(cur: duckdb.DuckDBPyConnection, src: str | None, params: dict[str, Any]) -> pa.Table:
        if src is None or plan.start >= plan.end:
            return with_meta(lines.empty_lines(), META_TOTAL, 0)
        select = compiled.select
        if compiled.counted is not None:
            total, page = plan_sql.counted_page(run_sql(cur, bind_sql(src, compiled.counted), params))
            if page is None:  # no match (the page's columns, typed), or lines without a seq: the page statement
                page = run_sql(cur, bind_sql(src, select if total else select.limit(0)), params)
            return with_meta(page, META_TOTAL, total)
        if compiled.keys is not None and compiled.fetch is not None:
            keys = newest_first(cur, src, params, compiled.keys, (plan.start, plan.end), plan.limit)
            if keys.num_rows == 0:
                return with_meta(run_sql(cur, bind_sql(src, select.limit(0)), params), META_TOTAL, 0)
            if keys.column("seq").null_count == 0:  # archive files of the old layout have no seq: one statement
                select = plan_sql.page_by_keys(compiled.fetch, keys)
        table = run_sql(cur, bind_sql(src, select), params)
        # Fewer hits than the limit: they are all the matches, so the count scan is not needed.
        if table.num_rows < plan.limit:
            total = table.num_rows
        else:
            total = int(run_scalar(cur, bind_sql(src, compiled.count), params))
        return with_meta(table, META_TOTAL, total)

    # A needle's hits: its message tests in each branch spare computing every column (the virtual log_id too) of the
    # candidate blocks' rows (bench/query.py needle: -20% CPU). Not for common words, whose many matches would be
    # tested twice, nor for aggregations, which read only the columns they use.
    pushed = plan_sql.message_tests(compiled.select) if plan_sql.likely_narrow(plan.filter) else ""
    return Prepared(compiled.tokens, run, attrs.requests, pushed)


def _table(
    cur: duckdb.DuckDBPyConnection, src: str | None, params: dict[str, Any], compiled: plan_sql.CompiledTable
) -> pa.Table:
    if src is None:
        return empty(compiled.columns)
    return run_sql(cur, bind_sql(src, compiled.select), params)


def _count(plan: CountPlan, attrs: AttrColumns) -> Prepared:
    compiled = plan_sql.compile_count(plan, attrs)

    def run(cur: duckdb.DuckDBPyConnection, src: str | None, params: dict[str, Any]) -> pa.Table:
        if src is None:
            return with_meta(empty(compiled.columns), META_TOTAL, 0)
        table = run_sql(cur, bind_sql(src, compiled.select), params)
        total = int(table.column("_total")[0].as_py() or 0) if table.num_rows else 0
        table = table.drop_columns(["_total"])
        # No group at all (count(*) over no rows) is one row with count 0: not a group.
        table = table.filter(pc.greater(table.column("count"), 0))
        return with_meta(table, META_TOTAL, total)

    return Prepared(compiled.tokens, run, attrs.requests)


def _histogram(
    cur: duckdb.DuckDBPyConnection,
    src: str | None,
    params: dict[str, Any],
    plan: HistogramPlan,
    compiled: plan_sql.CompiledTable,
) -> pa.Table:
    if src is None or plan.start >= plan.end:
        return empty(compiled.columns)
    return run_sql(cur, bind_sql(src, compiled.select), params)


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
_TOP = pa.list_(pa.struct([("value", pa.string()), ("count", pa.int64())]))
FIELDS_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("core", pa.bool_()),
        ("type", pa.string()),
        ("count", pa.int64()),
        ("distinct", pa.int64()),
        ("top", _TOP),
    ]
)


def _fields(
    cur: duckdb.DuckDBPyConnection,
    src: str | None,
    params: dict[str, Any],
    plan: FieldsPlan,
    sample: plan_sql.CompiledFields,
) -> pa.Table:
    if src is None or plan.start >= plan.end:
        return with_meta(FIELDS_SCHEMA.empty_table(), META_SAMPLED, 0)
    select = sample.select
    if sample.cutoff is not None:
        cutoff = newest_first(cur, src, params, sample.cutoff, (plan.start, plan.end), 1)
        if cutoff.num_rows:  # none: fewer matches than the sample, all of them are read
            select = plan_sql.since(select, cutoff.column("ts")[0].as_py())
    rows = run_sql(cur, bind_sql(src, select), params)
    if rows.num_rows == 0:
        return with_meta(FIELDS_SCHEMA.empty_table(), META_SAMPLED, 0)
    cur.register("_sample", rows)
    try:
        fields = _core_fields(cur, plan.top)
        for row in cur.sql(_ATTR_FIELDS_SQL).to_arrow_table().to_pylist():
            fields.append(
                {
                    "name": row["name"] if row["name"] not in QUERY_CORE else f"attrs.{row['name']}",
                    "core": False,
                    "type": _JSON_TYPES.get(row["type"], str(row["type"]).lower()),
                    "count": int(row["count"]),
                    "distinct": int(row["distinct_values"]),
                    "top": [t for t in row["top"] if t["value"] is not None][: plan.top],
                }
            )
    finally:
        cur.unregister("_sample")
    return with_meta(pa.Table.from_pylist(fields, schema=FIELDS_SCHEMA), META_SAMPLED, rows.num_rows)


def _core_fields(cur: duckdb.DuckDBPyConnection, top_n: int) -> list[dict[str, Any]]:
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
                {"value": str(v), "count": int(c)}
                for v, c in cur.sql(
                    f"SELECT {col}, count(*) AS c FROM _sample WHERE {col} IS NOT NULL "
                    f"GROUP BY 1 ORDER BY c DESC, 1 LIMIT {int(top_n)}"
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
