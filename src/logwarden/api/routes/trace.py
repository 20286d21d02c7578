"""GET /api/v1/trace/{trace_id}: every line of a trace across services in time order, with a summary."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import int_param, json_response, line_json, retained_range
from logwarden.api.row_caps import capped_rows
from logwarden.api.runtime import runtime_of
from logwarden.plan.nodes import META_SPANS, META_TRUNCATED, TracePlan, TraceSummaryPlan, meta_int
from logwarden.store.base import Store

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


async def _stored_summary(store: Store, plan: TraceSummaryPlan) -> dict[str, Any]:
    """The summary of a trace too long to hold, computed by the store over all its lines."""
    table = await store.execute(plan)
    per_service: list[dict[str, Any]] = table.to_pylist()
    summary: dict[str, Any] = {"lines": 0, "services": per_service}
    if per_service:
        first = min(s["first_ts"] for s in per_service)
        last = max(s["last_ts"] for s in per_service)
        summary.update(
            lines=sum(s["lines"] for s in per_service),
            errors=sum(s["errors"] for s in per_service),
            spans=meta_int(table, META_SPANS),
            first_ts=first,
            last_ts=last,
            duration_ms=(last - first).total_seconds() * 1000,
        )
    return summary


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
    limit = capped_rows(request, limit, explicit=request.query_params.get("limit", "") != "")
    start, end = retained_range(rt, tenant, request.query_params.get("start"), request.query_params.get("end"))

    table = await store.execute(TracePlan(tenant, start, end, trace_id, limit))
    lines: list[dict[str, Any]] = table.to_pylist()
    if meta_int(table, META_TRUNCATED):
        summary = await _stored_summary(store, TraceSummaryPlan(tenant, start, end, trace_id))
    else:
        # The whole trace is in hand (the usual case): summarize it here instead of scanning again.
        summary = _summarize(lines)
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
