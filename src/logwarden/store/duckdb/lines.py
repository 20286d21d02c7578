"""Lines around one line (context) and the lines of one trace, read inside one store snapshot.

Stored order is (ts, seq, log_id): `seq` grows with arrival (store/arrival.py); rows stored before it
existed have none and sort first among lines of the same ts, then by log_id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from logwarden.plan.nodes import META_ANCHOR, META_SPANS, META_TRUNCATED, ContextPlan, TracePlan, TraceSummaryPlan
from logwarden.store.duckdb.arrow_read import fetch_arrow
from logwarden.store.duckdb.search import SELECT_COLUMNS

# Neighbours are looked for this close to the anchor first; almost always enough, and far cheaper.
NEAR = timedelta(hours=1)
# host and service may be null; a line's neighbours are those with the same (possibly null) values.
_SAME_SOURCE = "host IS NOT DISTINCT FROM $c_host AND service IS NOT DISTINCT FROM $c_service"
_IN_RANGE = "ts >= $c_start AND ts < $c_end"
# seq is never negative: -1 puts rows without one first, as NULLS FIRST would, in a comparable form.
_SEQ = "coalesce(seq, -1)"
_MATCH = "trace_id = $t_trace_id AND ts >= $t_start AND ts < $t_end"
_ERROR = "level IN ('ERROR', 'FATAL')"


def _with_meta(table: pa.Table, key: bytes, value: int) -> pa.Table:
    return table.replace_schema_metadata({**(table.schema.metadata or {}), key: str(value).encode()})


def empty_lines() -> pa.Table:
    """A table of no lines (no partition overlaps the range)."""
    return pa.table({name: pa.array([], pa.null()) for name in SELECT_COLUMNS.split(", ")})


def anchor_line(cur: duckdb.DuckDBPyConnection, src: str | None, params: dict[str, Any], plan: ContextPlan) -> pa.Table:
    """The line with the plan's log_id (the first in ts order), or no rows."""
    if src is None:
        return empty_lines()
    params = {**params, "c_log_id": plan.log_id, "c_start": plan.start, "c_end": plan.end}
    return fetch_arrow(
        cur, f"SELECT {SELECT_COLUMNS} FROM {src} WHERE log_id = $c_log_id AND {_IN_RANGE} ORDER BY ts LIMIT 1", params
    )


def lines_around(
    cur: duckdb.DuckDBPyConnection, src: str | None, params: dict[str, Any], plan: ContextPlan, anchor: pa.Table
) -> pa.Table:
    """`anchor` (a line found by `anchor_line`) with its neighbours in stored order, META_ANCHOR its index."""
    if src is None:
        return _with_meta(anchor, META_ANCHOR, 0)
    params = {**params, "c_log_id": plan.log_id, "c_start": plan.start, "c_end": plan.end}
    line = anchor.select(["host", "service", "ts", "seq"]).to_pylist()[0]
    params.update(c_host=line["host"], c_service=line["service"], c_ts=line["ts"], c_seq=line["seq"])
    none = anchor.slice(0, 0)
    earlier = _neighbours(cur, src, params, plan.before, before=True) if plan.before else none
    later = _neighbours(cur, src, params, plan.after, before=False) if plan.after else none
    parts = [
        t
        for t in (earlier.take(pa.array(range(earlier.num_rows - 1, -1, -1), pa.int64())), anchor, later)
        if t.num_rows
    ]
    lines = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    return _with_meta(lines, META_ANCHOR, earlier.num_rows)


def _neighbours(
    cur: duckdb.DuckDBPyConnection, src: str, params: dict[str, Any], count: int, *, before: bool
) -> pa.Table:
    """`count` lines of the same host and service on one side of the anchor, nearest first: looked for
    within NEAR of it (zone maps skip the rest of the store), then in the whole range if that was short."""
    op, order = ("<", "DESC") if before else (">", "ASC")
    near: datetime = params["c_ts"] - NEAR if before else params["c_ts"] + NEAR
    inside = near > params["c_start"] if before else near < params["c_end"]

    def fetch(window: str, extra: dict[str, Any]) -> pa.Table:
        sql = (
            f"SELECT {SELECT_COLUMNS} FROM {src} WHERE {_SAME_SOURCE} AND {_IN_RANGE}{window} "
            f"AND (ts {op} $c_ts OR (ts = $c_ts AND ({_SEQ}, log_id) {op} (coalesce($c_seq, -1), $c_log_id))) "
            f"ORDER BY ts {order}, {_SEQ} {order}, log_id {order} LIMIT $c_count"
        )
        return fetch_arrow(cur, sql, {**params, **extra, "c_count": count})

    if inside:
        rows = fetch(" AND ts >= $c_near" if before else " AND ts < $c_near", {"c_near": near})
        if rows.num_rows == count:
            return rows
    return fetch("", {})


def trace_lines(cur: duckdb.DuckDBPyConnection, src: str | None, params: dict[str, Any], plan: TracePlan) -> pa.Table:
    """The first `limit` lines of the trace in stored order; META_TRUNCATED "1" when there are more."""
    if src is None:
        return _with_meta(empty_lines(), META_TRUNCATED, 0)
    bound = {**params, "t_trace_id": plan.trace_id, "t_start": plan.start, "t_end": plan.end, "t_limit": plan.limit + 1}
    sql = f"SELECT {SELECT_COLUMNS} FROM {src} WHERE {_MATCH} ORDER BY ts, seq NULLS FIRST, log_id LIMIT $t_limit"
    lines = fetch_arrow(cur, sql, bound)
    truncated = lines.num_rows > plan.limit
    return _with_meta(lines.slice(0, plan.limit), META_TRUNCATED, int(truncated))


def trace_summary(
    cur: duckdb.DuckDBPyConnection, src: str | None, params: dict[str, Any], plan: TraceSummaryPlan
) -> pa.Table:
    """Per service of the trace: lines, errors, spans, first and last ts; META_SPANS over the whole trace."""
    if src is None:
        empty = pa.table(
            {c: pa.array([], pa.null()) for c in ("service", "lines", "errors", "spans", "first_ts", "last_ts")}
        )
        return _with_meta(empty, META_SPANS, 0)
    bound = {**params, "t_trace_id": plan.trace_id, "t_start": plan.start, "t_end": plan.end}
    per_service = fetch_arrow(
        cur,
        f"SELECT service, count(*) AS lines, count(*) FILTER (WHERE {_ERROR}) AS errors, "
        "count(DISTINCT span_id) AS spans, min(ts) AS first_ts, max(ts) AS last_ts "
        f"FROM {src} WHERE {_MATCH} GROUP BY service ORDER BY first_ts, service NULLS LAST",
        bound,
    )
    spans = cur.execute(f"SELECT count(DISTINCT span_id) FROM {src} WHERE {_MATCH}", bound).fetchall()[0][0]
    return _with_meta(per_service, META_SPANS, int(spans))
