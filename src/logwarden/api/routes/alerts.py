"""Alerts of the rules, per tenant, read from the metadata database (any server of a cluster answers the same):
GET /api/v1/alerts (pending and firing, with evidence, acknowledgement and what mutes them, as of the engine's last
commit) and GET /api/v1/alerts/history (state changes — firing, resolved, acknowledged, unacknowledged — and
notification delivery attempts, newest first, filtered).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from logwarden.alerting.model import AlertMessage
from logwarden.alerting.notify.queue import NotificationQueue
from logwarden.alerting.store import RouterStore
from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import int_param, json_response
from logwarden.api.runtime import Runtime, runtime_of
from logwarden.query.timerange import TimeRangeError, parse_time
from logwarden.rules.statestore import HistoryFilter, SqlStateStore

MAX_HISTORY = 1000
STATUSES = ("firing", "resolved", "acknowledged", "unacknowledged")
OUTCOMES = ("delivered", "retriable", "rejected", "expired")
KINDS = ("all", "transitions", "deliveries")
_ALERT_PARAMS = frozenset({"rule"})
_TRANSITION_PARAMS = frozenset({"rule", "status", "fingerprint"})
_DELIVERY_PARAMS = frozenset({"receiver", "channel", "outcome"})
_HISTORY_PARAMS = frozenset({"limit", "since", "until", "kind"}) | _TRANSITION_PARAMS | _DELIVERY_PARAMS


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
    alerting = rt.alerting
    if alerting is not None and found:
        acks = await rt.meta.run(RouterStore(rt.meta.engine).acks)
        now = datetime.now(UTC)
        for alert in found:
            alert["acked"] = acks.get(alert.get("fingerprint", ""))
            labels = dict(AlertMessage.from_logged(alert).labels)  # with alertname and severity, as routed
            alert["muted_by"] = alerting.muted_by(labels, now)
    return json_response({"alerts": found, "rules": names})


async def history(request: Request) -> Response:
    """The tenant's alert history, newest first: `transitions` (state changes: `rule`, `status` — firing,
    resolved, acknowledged, unacknowledged —, `fingerprint`) and `deliveries` (every notification attempt:
    `receiver`, `channel` — the integration kind, e.g. webhook —, `outcome` — delivered, retriable, rejected,
    expired). `kind` picks one list (`transitions`, `deliveries`; default both — or only the one a filter belongs
    to); `limit` 1-1000 (default 100) per list; `since` (at or after) and `until` (before): RFC 3339, epoch or
    now-1h."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    params = request.query_params
    _known_params(request, _HISTORY_PARAMS)
    limit = int_param(request, "limit", 100, 1, MAX_HISTORY)
    kind = params.get("kind") or "all"
    if kind not in KINDS:
        raise ApiError(400, f"invalid kind {kind!r}: use {', '.join(KINDS)}")
    given = {name for name in params if params.get(name)}
    if kind == "all" and given & _TRANSITION_PARAMS and given & _DELIVERY_PARAMS:
        raise ApiError(400, "filters of transitions (rule, status, fingerprint) and of deliveries (receiver, "
                       "channel, outcome) cannot be combined")  # fmt: skip
    if kind == "all":
        kind = "transitions" if given & _TRANSITION_PARAMS else "deliveries" if given & _DELIVERY_PARAMS else "all"
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(400, f"invalid status {status!r}: use {', '.join(STATUSES)}")
    outcome = params.get("outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        raise ApiError(400, f"invalid outcome {outcome!r}: use {', '.join(OUTCOMES)}")
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
    out: dict[str, Any] = {}
    if kind in ("all", "transitions"):
        out["transitions"] = await rt.meta.run(store.history, tenant, which)
    if kind in ("all", "deliveries"):
        queue = NotificationQueue(rt.meta.engine)
        out["deliveries"] = await rt.meta.run(
            functools.partial(
                queue.attempts,
                tenant,
                receiver=params.get("receiver") or None,
                channel=params.get("channel") or None,
                outcome=outcome,
                since=since,
                until=until,
                limit=limit,
            )
        )
    return json_response(out)


def _time(value: str | None, now: datetime, name: str) -> datetime | None:
    if value is None or value.strip() == "":
        return None
    try:
        return parse_time(value, now, default=now, name=name)
    except TimeRangeError as exc:
        raise ApiError(400, str(exc)) from None
