"""GET /api/v1/context/{log_id}: the lines around one line, from the same host and service, in stored order.

Stored order is (ts, seq, log_id): `seq` grows with arrival, so lines that share a timestamp keep it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import int_param, json_response, line_json, retained_range
from logwarden.api.row_caps import capped_rows
from logwarden.api.runtime import runtime_of
from logwarden.plan.nodes import META_ANCHOR, ContextPlan, meta_int

MAX_CONTEXT = 1000


async def context(request: Request) -> Response:
    """The `before` lines before and `after` lines after a line, from the same host and service."""
    rt = runtime_of(request)
    store = rt.require_store()
    tenant = rt.tenant(request)
    log_id = request.path_params["log_id"]
    before = int_param(request, "before", 20, 0, MAX_CONTEXT)
    after = int_param(request, "after", 20, 0, MAX_CONTEXT)
    before = capped_rows(request, before, explicit=request.query_params.get("before", "") != "", name="before")
    after = capped_rows(request, after, explicit=request.query_params.get("after", "") != "", name="after")
    start, end = retained_range(rt, tenant, request.query_params.get("start"), request.query_params.get("end"))

    table = await store.execute(ContextPlan(tenant, start, end, log_id, before, after))
    if table.num_rows == 0:
        raise ApiError(404, f"no line with log_id {log_id!r} between {start.isoformat()} and {end.isoformat()}")
    lines: list[dict[str, Any]] = table.to_pylist()
    index = meta_int(table, META_ANCHOR)
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
