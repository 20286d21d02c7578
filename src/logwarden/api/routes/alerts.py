"""Alerts of the rules, per tenant, read from the metadata database (any server of a cluster answers the same):
GET /api/v1/alerts (pending and firing, with evidence, as of the engine's last commit) and
GET /api/v1/alerts/history (committed transitions, newest first, filtered by rule, status, fingerprint, time).

Until alert routing and notifications land, this is where alerts are seen (and in /metrics).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import int_param, json_response
from logwarden.api.runtime import Runtime, runtime_of
from logwarden.query.timerange import TimeRangeError, parse_time
from logwarden.rules.statestore import HistoryFilter, SqlStateStore

MAX_HISTORY = 1000
STATUSES = ("firing", "resolved")
_ALERT_PARAMS = frozenset({"rule"})
_HISTORY_PARAMS = frozenset({"limit", "rule", "status", "fingerprint", "since", "until"})


def _store(rt: Runtime) -> SqlStateStore:
    if rt.meta is None:
        raise ApiError(503, "logwarden is starting or stopping; retry shortly", {"Retry-After": "1"})
    return SqlStateStore(rt.meta.engine)


def _known_params(request: Request, known: frozenset[str]) -> None:
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise ApiError(400, f"unknown parameter {unknown[0]!r}: use {', '.join(sorted(known))}")


async def alerts(request: Request) -> Response:
    """The tenant's pending and firing alerts (`rule`: of one rule), firing first, then by rule and labels."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    _known_params(request, _ALERT_PARAMS)
    store = _store(rt)
    assert rt.meta is not None
    found: list[dict[str, Any]] = await rt.meta.run(store.current, tenant, request.query_params.get("rule"))
    found.sort(key=lambda a: (a["status"] != "firing", a["rule"], sorted(a["labels"].items())))
    service = rt.rule_service
    names = service.visible_names(tenant) if service is not None else []
    return json_response({"alerts": found, "rules": names})


async def history(request: Request) -> Response:
    """The tenant's newest alert transitions: `limit` 1-1000 (default 100); `rule`, `status` (firing or
    resolved), `fingerprint`; `since` (at or after) and `until` (before): RFC 3339, epoch or now-1h."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    params = request.query_params
    _known_params(request, _HISTORY_PARAMS)
    limit = int_param(request, "limit", 100, 1, MAX_HISTORY)
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(400, f"invalid status {status!r}: use firing or resolved")
    now = datetime.now(UTC)
    since, until = _time(params.get("since"), now, "since"), _time(params.get("until"), now, "until")
    if since is not None and until is not None and since >= until:
        raise ApiError(400, "'since' must be before 'until'")
    which = HistoryFilter(
        rule=params.get("rule") or None,
        status=status,
        fingerprint=params.get("fingerprint") or None,
        since=since,
        until=until,
        limit=limit,
    )
    store = _store(rt)
    assert rt.meta is not None
    return json_response({"transitions": await rt.meta.run(store.history, tenant, which)})


def _time(value: str | None, now: datetime, name: str) -> datetime | None:
    if value is None or value.strip() == "":
        return None
    try:
        return parse_time(value, now, default=now, name=name)
    except TimeRangeError as exc:
        raise ApiError(400, str(exc)) from None
