"""Acknowledging alerts, and what the router holds: POST/DELETE /api/v1/alerts/{fingerprint}/ack,
GET /api/v1/alerts/groups (aggregation groups), GET /api/v1/receivers (the tenant's integrations and their queues)
the tenant's own alerting config: GET/PUT/DELETE /api/v1/alerting/config (alerting/tenant_config.py), and
POST /api/v1/receivers/{name}/test (a sample notification through a receiver now)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response

from logwarden.alerting.model import sample_notification
from logwarden.alerting.service import integration_names, send_sample
from logwarden.alerting.store import AckError, RouterStore
from logwarden.alerting.tenant_config import (
    TenantConfigError,
    TenantConfigStore,
    keep_secrets,
    parse_body,
    receiver_changes,
    redacted,
    validate_tenant_config,
)
from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import json_response
from logwarden.api.runtime import Runtime, runtime_of
from logwarden.auth.audit import audit
from logwarden.auth.principal import principal_of

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
    """The tenant's effective receivers (its own, or the config file's when it has none) and their integrations
    (where they send, no secrets), with the tenant's notifications by state."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    config, _fallback = rt.alerting.effective(tenant) if rt.alerting is not None else (rt.config.alerting, True)
    notifiers = rt.alerting.notifiers_for(tenant) if rt.alerting is not None else {}
    counts: dict[tuple[str, str, str], int] = {}
    if rt.alerting is not None and rt.meta is not None:
        counts = await rt.meta.run(rt.alerting.queue.counts, tenant)
    out = []
    receiver: Any
    for receiver in config.receivers:
        items = []
        for name, kind, _settings in integration_names(receiver):
            notifier = notifiers.get((receiver.name, name))
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


def _alerting(rt: Runtime) -> Any:
    if rt.alerting is None:
        raise ApiError(503, "logwarden is starting or stopping; retry shortly", {"Retry-After": "1"})
    return rt.alerting


async def get_config(request: Request) -> Response:
    """The tenant's effective alerting config (route, receivers, inhibit_rules, time_intervals; secrets shown as
    `**********`), whether it is the config file's (`fallback`), and who set it last."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    meta, service = _meta(rt), _alerting(rt)
    stored = await meta.run(TenantConfigStore(meta.engine).get, tenant, service.config)
    config = stored.config if stored is not None else service.config
    body: dict[str, Any] = {"tenant": tenant, "fallback": stored is None, "config": redacted(config)}
    if stored is not None:
        body |= {
            "version": stored.version,
            "updated_by": stored.updated_by,
            "updated_at": stored.updated_at.isoformat().replace("+00:00", "Z"),
        }
    return json_response(body)


async def put_config(request: Request) -> Response:
    """Set the tenant's own alerting config (YAML or JSON: route, receivers, inhibit_rules, time_intervals),
    validated like the config file's section (400 naming the field), applied at once, audited. A `**********`
    sent back keeps the stored secret at that place (same receiver, channel, position and key) as long as the
    integration's destination did not change."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    meta, service = _meta(rt), _alerting(rt)
    store = TenantConfigStore(meta.engine)
    try:
        before = await meta.run(store.get, tenant, service.config)
    except TenantConfigError:  # the stored one no longer loads (a server-wide change): this PUT replaces it
        before = None
    try:
        raw = parse_body(await request.body())
        # `**********` sent back (a GET's answer) keeps the stored secret at that place.
        raw = keep_secrets(raw, before.raw if before is not None else None)
        config = validate_tenant_config(raw, service.config)
    except TenantConfigError as exc:
        raise ApiError(400, f"alerting config: {exc}") from None
    principal = principal_of(request)
    by = principal.identity if principal is not None else "anonymous"
    version = await meta.run(store.put, tenant, raw, by, datetime.now(UTC))
    await meta.run(service.set_tenant, tenant, config, version)
    changes = receiver_changes(before.config if before is not None else service.config, config)
    await audit(request, "alerting.config.update", tenant, tenant=tenant, version=version, **changes)
    return json_response({"tenant": tenant, "fallback": False, "version": version, **changes})


async def delete_config(request: Request) -> Response:
    """Remove the tenant's own alerting config: its alerts go by the config file's section again. 404 when it has
    none."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    meta, service = _meta(rt), _alerting(rt)
    store = TenantConfigStore(meta.engine)
    before = await meta.run(store.get, tenant, service.config)
    if before is None or not await meta.run(store.delete, tenant):
        raise ApiError(404, f"tenant {tenant!r} has no alerting config of its own (it uses the config file's)")
    await meta.run(service.set_tenant, tenant, None)
    changes = receiver_changes(before.config, service.config)
    await audit(request, "alerting.config.delete", tenant, tenant=tenant, version=before.version, **changes)
    return json_response({"tenant": tenant, "fallback": True, **changes})


async def test_receiver(request: Request) -> Response:
    """Send a sample alert through every integration of one of the tenant's effective receivers now (not
    queued, not retried), with what each channel answered; audited as `receiver.test`."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    service = _alerting(rt)
    name = request.path_params["name"]
    config, fallback = service.effective(tenant)
    if name not in {r.name for r in config.receivers}:
        raise ApiError(404, f"tenant {tenant!r} has no receiver named {name!r}")
    external = config.external_url or str(request.base_url).rstrip("/")
    http = None if fallback else service.tenant_client()  # a tenant's own receivers go through the guard
    results = await asyncio.get_running_loop().run_in_executor(None, _send_sample, config, name, tenant, external, http)
    await audit(request, "receiver.test", name, tenant=tenant, outcomes=[r["outcome"] for r in results])
    return json_response({"receiver": name, "results": results})


def _send_sample(
    config: Any, receiver: str, tenant: str, external_url: str, http: httpx.Client | None
) -> list[dict[str, Any]]:
    sample = sample_notification(receiver, external_url=external_url)
    alerts = tuple(dataclasses.replace(a, labels={**a.labels, "tenant": tenant}) for a in sample.alerts)
    sample = dataclasses.replace(sample, alerts=alerts)
    return send_sample(config, receiver, sample, http, answer_chars=MAX_TEXT)
