"""Acknowledging alerts, and what the router holds: POST/DELETE /api/v1/alerts/{fingerprint}/ack,
GET /api/v1/alerts/groups (aggregation groups) and GET /api/v1/receivers (integrations and their queues)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from logwarden.alerting.service import integration_names
from logwarden.alerting.store import AckError, RouterStore
from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import json_response
from logwarden.api.runtime import Runtime, runtime_of
from logwarden.auth.audit import audit

MAX_TEXT = 2000


def _meta(rt: Runtime) -> Any:
    if rt.meta is None:
        raise ApiError(503, "logwarden is starting or stopping; retry shortly", {"Retry-After": "1"})
    return rt.meta


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str, *, required: bool) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise ApiError(400, f"{name}: required (a non-empty string)")
        return ""
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ApiError(400, f"{name}: must be a string of at most {MAX_TEXT} characters")
    return value


async def ack(request: Request) -> Response:
    """Acknowledge a firing alert: `{"by": "alice", "comment": "looking into it"}`. Stops repeat notifications
    about it until it resolves (a new alert in its group still notifies); recorded in the history."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    meta = _meta(rt)
    fingerprint = request.path_params["fingerprint"]
    body = await _body(request)
    by = _text(body, "by", required=True)
    comment = _text(body, "comment", required=False)
    store = RouterStore(meta.engine)
    try:
        done = await meta.run(store.ack, tenant, fingerprint, by, comment, datetime.now(UTC))
    except AckError:
        raise ApiError(404, f"no firing alert {fingerprint!r}") from None
    if rt.alerting is not None:
        rt.alerting.wake()
    await audit(request, "alert.ack", fingerprint, tenant=tenant, by=by)
    return json_response({"fingerprint": fingerprint, "acked": done})


async def unack(request: Request) -> Response:
    """Withdraw an acknowledgement (`?by=alice` says who): repeat notifications resume."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    meta = _meta(rt)
    fingerprint = request.path_params["fingerprint"]
    by = request.query_params.get("by") or ""
    store = RouterStore(meta.engine)
    try:
        await meta.run(store.unack, tenant, fingerprint, by, datetime.now(UTC))
    except AckError:
        raise ApiError(404, f"alert {fingerprint!r} is not acknowledged") from None
    if rt.alerting is not None:
        rt.alerting.wake()
    await audit(request, "alert.unack", fingerprint, tenant=tenant, by=by)
    return json_response({"fingerprint": fingerprint, "acked": None})


async def groups(request: Request) -> Response:
    """The aggregation groups the router holds for the tenant: route, receiver, group labels, alerts, next flush."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    router = rt.alerting.router if rt.alerting is not None else None
    views = [g.to_json() for g in router.core.groups()] if router is not None else []
    return json_response({"groups": [g for g in views if g["group_labels"].get("tenant") == tenant]})


async def receivers(request: Request) -> Response:
    """The configured receivers and their integrations (where they send, no secrets), with queued counts."""
    rt = runtime_of(request)
    config = rt.config.alerting
    counts: dict[tuple[str, str, str], int] = {}
    if rt.alerting is not None and rt.meta is not None:
        counts = await rt.meta.run(rt.alerting.queue.counts)
    out = []
    receiver: Any
    for receiver in config.receivers:
        items = []
        for name, kind, _settings in integration_names(receiver):
            notifier = rt.alerting.notifiers.get((receiver.name, name)) if rt.alerting is not None else None
            items.append(
                {
                    "integration": name,
                    "channel": kind,
                    "target": notifier.describe() if notifier is not None else kind,
                    "queued": counts.get((receiver.name, name, "queued"), 0),
                    "delivered": counts.get((receiver.name, name, "delivered"), 0),
                    "rejected": counts.get((receiver.name, name, "rejected"), 0),
                    "expired": counts.get((receiver.name, name, "expired"), 0),
                }
            )
        out.append({"name": receiver.name, "integrations": items})
    return json_response({"receivers": out})
