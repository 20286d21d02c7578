"""GET /api/v1/context/{log_id}: the lines around one line, from the same host and service, in stored order.

Stored order is (ts, seq, log_id): `seq` grows with arrival (store/arrival.py); rows stored before it
existed have none and sort first among lines of the same ts, then by log_id.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import duckdb
from starlette.requests import Request
from starlette.responses import Response

from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import int_param, json_response, line_json, read_snapshot, retained_range
from logwarden.api.runtime import runtime_of
from logwarden.store.duckdb.search import SELECT_COLUMNS

MAX_CONTEXT = 1000
# Neighbours are looked for this close to the anchor first; almost always enough, and far cheaper.
NEAR = timedelta(hours=1)
# host and service may be null; a line's neighbours are those with the same (possibly null) values.
_SAME_SOURCE = "host IS NOT DISTINCT FROM $c_host AND service IS NOT DISTINCT FROM $c_service"
_IN_RANGE = "ts >= $c_start AND ts < $c_end"
# seq is never negative: -1 puts rows without one first, as NULLS FIRST would, in a comparable form.
_SEQ = "coalesce(seq, -1)"


def context_lines(
    cur: duckdb.DuckDBPyConnection, src: str, params: dict[str, Any], log_id: str, before: int, after: int
) -> tuple[list[dict[str, Any]], int] | None:
    """(lines in time order, index of the anchor) or None when no line has this id; params bind start/end."""
    params = {**params, "c_log_id": log_id}
    anchor = (
        cur.sql(
            f"SELECT {SELECT_COLUMNS} FROM {src} WHERE log_id = $c_log_id AND {_IN_RANGE} ORDER BY ts LIMIT 1",
            params=params,
        )
        .to_arrow_table()
        .to_pylist()
    )
    if not anchor:
        return None
    line = anchor[0]
    params.update(c_host=line["host"], c_service=line["service"], c_ts=line["ts"], c_seq=line["seq"])
    earlier = _neighbours(cur, src, params, before, before=True)
    later = _neighbours(cur, src, params, after, before=False)
    earlier.reverse()
    return [*earlier, line, *later], len(earlier)


def _neighbours(
    cur: duckdb.DuckDBPyConnection, src: str, params: dict[str, Any], count: int, *, before: bool
) -> list[dict[str, Any]]:
    """`count` lines of the same host and service on one side of the anchor, nearest first: looked for
    within NEAR of it (zone maps skip the rest of the store), then in the whole range if that was short."""
    if count == 0:
        return []
    op, order = ("<", "DESC") if before else (">", "ASC")
    near = params["c_ts"] - NEAR if before else params["c_ts"] + NEAR
    inside = near > params["c_start"] if before else near < params["c_end"]

    def fetch(window: str, extra: dict[str, Any]) -> list[dict[str, Any]]:
        sql = (
            f"SELECT {SELECT_COLUMNS} FROM {src} WHERE {_SAME_SOURCE} AND {_IN_RANGE}{window} "
            f"AND (ts {op} $c_ts OR (ts = $c_ts AND ({_SEQ}, log_id) {op} (coalesce($c_seq, -1), $c_log_id))) "
            f"ORDER BY ts {order}, {_SEQ} {order}, log_id {order} LIMIT $c_count"
        )
        rows: list[dict[str, Any]] = (
            cur.sql(sql, params={**params, **extra, "c_count": count}).to_arrow_table().to_pylist()
        )
        return rows

    if inside:
        rows = fetch(" AND ts >= $c_near" if before else " AND ts < $c_near", {"c_near": near})
        if len(rows) == count:
            return rows
    return fetch("", {})


async def context(request: Request) -> Response:
    """The `before` lines before and `after` lines after a line, from the same host and service."""
    rt = runtime_of(request)
    store = rt.require_store()
    tenant = rt.tenant(request)
    log_id = request.path_params["log_id"]
    before = int_param(request, "before", 20, 0, MAX_CONTEXT)
    after = int_param(request, "after", 20, 0, MAX_CONTEXT)
    start, end = retained_range(rt, tenant, request.query_params.get("start"), request.query_params.get("end"))

    def run(
        cur: duckdb.DuckDBPyConnection, src: str | None, params: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], int] | None:
        if src is None:
            return None
        return context_lines(cur, src, {**params, "c_start": start, "c_end": end}, log_id, before, after)

    found = await read_snapshot(store, tenant, start, end, run)
    if found is None:
        raise ApiError(404, f"no line with log_id {log_id!r} between {start.isoformat()} and {end.isoformat()}")
    lines, index = found
    for i, line in enumerate(lines):
        line_json(line)
        line["anchor"] = i == index
    anchor = lines[index]
    return json_response(
        {
            "log_id": log_id,
            "host": anchor["host"],
            "service": anchor["service"],
            "anchor_index": index,
            "before": index,
            "after": len(lines) - index - 1,
            "lines": lines,
        }
    )
