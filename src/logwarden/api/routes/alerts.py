"""Alerts of the streaming rules: GET /api/v1/alerts (pending and firing, with evidence) and
GET /api/v1/alerts/history (committed transitions, newest first), per tenant.

Until alert routing and notifications land, this is where alerts are seen (and in /metrics).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import json_response
from logwarden.api.runtime import runtime_of

MAX_HISTORY = 1000


async def alerts(request: Request) -> Response:
    """The tenant's pending and firing alerts, firing first, then by rule and labels."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    engine = rt.rules
    if engine is None:
        return json_response({"alerts": [], "rules": []})
    found = [a for a in await asyncio.get_running_loop().run_in_executor(None, engine.alerts) if _of(a.labels, tenant)]
    found.sort(key=lambda a: (a.status != "firing", a.rule, sorted(a.labels.items())))
    return json_response({"alerts": [a.to_json() for a in found], "rules": engine.rule_names})


async def history(request: Request) -> Response:
    """The tenant's newest alert transitions (firing, resolved); `limit` 1-1000 (default 100)."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_HISTORY:
        raise ApiError(400, f"'limit' must be a whole number from 1 to {MAX_HISTORY}")
    engine = rt.rules
    if engine is None:
        return json_response({"transitions": []})
    limit = int(raw)
    # Filtered after reading: read generously so a busy other tenant does not crowd this one out.
    rows = await asyncio.get_running_loop().run_in_executor(None, engine.history, MAX_HISTORY * 10)
    mine = [r for r in rows if _of(r["alert"]["labels"], tenant)][:limit]
    return json_response({"transitions": mine})


def _of(labels: dict[str, str], tenant: str) -> bool:
    return labels.get("tenant") == tenant
