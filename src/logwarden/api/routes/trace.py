"""GET /api/v1/trace/{trace_id}: every line of a trace across services in time order, with a summary."""

from __future__ import annotations

from typing import Any

import duckdb
from starlette.requests import Request
from starlette.responses import Response

from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import int_param, json_response, line_json, read_snapshot, retained_range
from logwarden.api.runtime import runtime_of
from logwarden.store.duckdb.search import SELECT_COLUMNS

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
_MATCH = "trace_id = $t_trace_id AND ts >= $t_start AND ts < $t_end"
_ERROR = "level IN ('ERROR', 'FATAL')"


def trace_lines(
    cur: duckdb.DuckDBPyConnection, src: str, params: dict[str, Any], limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(first `limit` lines in stored order, (ts, seq, log_id), summary over all the trace's lines); params bind
    the trace."""
    lines = (
        cur.sql(
            f"SELECT {SELECT_COLUMNS} FROM {src} WHERE {_MATCH} ORDER BY ts, seq NULLS FIRST, log_id LIMIT $t_limit",
            params={**params, "t_limit": limit + 1},
        )
        .to_arrow_table()
        .to_pylist()
    )
    if len(lines) <= limit:
        # The whole trace is in hand (the usual case): summarize it here instead of scanning again.
        return lines, _summarize(lines)
    lines = lines[:limit]
    per_service = (
        cur.sql(
            f"SELECT service, count(*) AS lines, count(*) FILTER (WHERE {_ERROR}) AS errors, "
            "count(DISTINCT span_id) AS spans, min(ts) AS first_ts, max(ts) AS last_ts "
            f"FROM {src} WHERE {_MATCH} GROUP BY service ORDER BY first_ts, service NULLS LAST",
            params=params,
        )
        .to_arrow_table()
        .to_pylist()
    )
    spans = cur.sql(f"SELECT count(DISTINCT span_id) FROM {src} WHERE {_MATCH}", params=params).fetchall()[0][0]
    summary: dict[str, Any] = {"lines": 0, "services": per_service}
    if per_service:
        first = min(s["first_ts"] for s in per_service)
        last = max(s["last_ts"] for s in per_service)
        summary.update(
            lines=sum(s["lines"] for s in per_service),
            errors=sum(s["errors"] for s in per_service),
            spans=int(spans),
            first_ts=first,
            last_ts=last,
            duration_ms=(last - first).total_seconds() * 1000,
        )
    return lines, summary


def _summarize(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The same summary as the SQL one, from all of a trace's lines (in stored order)."""
    if not lines:
        return {"lines": 0, "services": []}
    services: dict[str | None, dict[str, Any]] = {}
    for line in lines:
        s = services.setdefault(
            line["service"],
            {"service": line["service"], "lines": 0, "errors": 0, "spans": set(), "first_ts": line["ts"]},
        )
        s["lines"] += 1
        s["errors"] += line["level"] in ("ERROR", "FATAL")
        if line["span_id"] is not None:
            s["spans"].add(line["span_id"])
        s["last_ts"] = max(s.get("last_ts", line["ts"]), line["ts"])
    per_service = sorted(services.values(), key=lambda s: (s["first_ts"], s["service"] is None, s["service"] or ""))
    spans = {span for s in per_service for span in s["spans"]}
    for s in per_service:
        s["spans"] = len(s["spans"])
    first, last = lines[0]["ts"], max(line["ts"] for line in lines)
    return {
        "lines": len(lines),
        "services": per_service,
        "errors": sum(s["errors"] for s in per_service),
        "spans": len(spans),
        "first_ts": first,
        "last_ts": last,
        "duration_ms": (last - first).total_seconds() * 1000,
    }


async def trace(request: Request) -> Response:
    """All lines with this trace_id (across services), oldest first, and a summary of the trace."""
    rt = runtime_of(request)
    store = rt.require_store()
    tenant = rt.tenant(request)
    trace_id = request.path_params["trace_id"]
    limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    start, end = retained_range(rt, tenant, request.query_params.get("start"), request.query_params.get("end"))

    def run(
        cur: duckdb.DuckDBPyConnection, src: str | None, params: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        if src is None:
            return [], {"lines": 0}
        bound = {**params, "t_trace_id": trace_id, "t_start": start, "t_end": end}
        return trace_lines(cur, src, bound, limit)

    lines, summary = await read_snapshot(store, tenant, start, end, run)
    if not summary["lines"]:
        raise ApiError(404, f"no lines with trace_id {trace_id!r} between {start.isoformat()} and {end.isoformat()}")
    return json_response(
        {
            "trace_id": trace_id,
            "summary": summary,
            "truncated": summary["lines"] > len(lines),
            "lines": [line_json(line) for line in lines],
        }
    )
