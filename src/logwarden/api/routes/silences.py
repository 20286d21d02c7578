"""Silences: GET/POST /api/v1/silences and GET/PUT/DELETE /api/v1/silences/{silence_id}, per tenant.

A silence is sent as `{"matchers": ['service="api"', 'severity="warning"'], "duration": "2h", "created_by": "ana",
"comment": "deploying"}`; `matchers` may also be one text (`{service="api", severity="warning"}`) or objects
(`{"name", "type", "value"}`, or Alertmanager's `{"name", "value", "isRegex", "isEqual"}`); `starts_at` defaults
to now, the end is `ends_at` or `duration`. A change applies to the router at once. DELETE expires the silence (it
stays listed, `expired`, for `alerting.silence_retention`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from logwarden.alerting.matchers import Matcher, MatchType, parse_matchers
from logwarden.alerting.mute.silence import (
    STATES,
    SilenceError,
    SilenceExpiredError,
    SilenceState,
    SilenceStore,
)
from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import json_response
from logwarden.api.routes.tenant_crud import json_body
from logwarden.api.runtime import Runtime, runtime_of
from logwarden.auth.audit import audit
from logwarden.model.units import parse_duration
from logwarden.query.timerange import TimeRangeError, parse_time

_FIELDS = frozenset({"matchers", "starts_at", "ends_at", "duration", "created_by", "comment"})
_TYPES = tuple(t.value for t in MatchType)
_IGNORED = frozenset({"id", "state", "status", "created", "updated"})  # a silence read from the API, sent back


@dataclass(frozen=True, slots=True)
class SilenceInput:
    """The fields of a request body (None: not given)."""

    matchers: list[Matcher] | None
    starts_at: datetime | None
    ends_at: datetime | None
    created_by: str | None
    comment: str | None


def _matcher_objects(value: Any) -> Any:
    # Alertmanager's API form: {"name", "value", "isRegex", "isEqual"} → ours.
    if isinstance(value, list):
        return [_matcher_objects(v) for v in value]
    if isinstance(value, dict) and "type" not in value and {"name", "value"} <= set(value):
        regex, equal = bool(value.get("isRegex", False)), value.get("isEqual", True) is not False
        kind = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}[(regex, equal)]
        return {"name": value["name"], "type": kind, "value": value["value"]}
    return value


def parse_matchers_field(value: Any) -> list[Matcher]:
    """`matchers` from a body: texts, one text, or objects; ApiError 400 saying what is wrong."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str | dict) for v in value):
        raise ApiError(
            400, 'matchers: give a list like ["service=\\"api\\""], one text like {service="api"}, or objects'
        )
    for item in value:
        if isinstance(item, dict) and {"name", "type", "value"} - set(item) and {"name", "value"} - set(item):
            raise ApiError(400, f"matchers: {orjson.dumps(item).decode()} needs name, type and value")
        if isinstance(item, dict) and "type" in item and item["type"] not in _TYPES:
            raise ApiError(400, f"matchers: type {item['type']!r} is not one of {', '.join(_TYPES)}")
    try:
        matchers = parse_matchers(_matcher_objects(value))
    except ValueError as exc:
        raise ApiError(400, f"matchers: {exc}") from None
    if any(not m.name for m in matchers):
        raise ApiError(400, "matchers: every matcher needs a label name")
    return matchers


def _time(body: dict[str, Any], key: str, now: datetime) -> datetime | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{key}: give a time as text (RFC 3339 like 2026-03-02T18:00:00Z, or now+2h)")
    try:
        return parse_time(value, now, default=now, name=key)
    except TimeRangeError as exc:
        raise ApiError(400, str(exc)) from None


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"{key}: give a string")
    return value


def silence_input(body: Any, now: datetime) -> SilenceInput:
    """The fields of a POST or PUT body; ApiError 400 naming the field."""
    if not isinstance(body, dict):
        raise ApiError(
            400,
            'request body must be a JSON object like {"matchers": ["service=\\"api\\""], "duration": "2h", '
            '"created_by": "ana", "comment": "deploying"}',
        )
    unknown = sorted(set(body) - _FIELDS - _IGNORED)
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0]!r}: a silence has {', '.join(sorted(_FIELDS))}")
    matchers = parse_matchers_field(body["matchers"]) if body.get("matchers") is not None else None
    starts_at = _time(body, "starts_at", now)
    ends_at = _time(body, "ends_at", now)
    duration = body.get("duration")
    if duration is not None:
        if ends_at is not None:
            raise ApiError(400, "duration: give ends_at or duration, not both")
        try:
            span = parse_duration(duration)
        except OverflowError:
            raise ApiError(400, f"duration: {duration!r} is too long") from None
        except ValueError as exc:
            raise ApiError(400, f"duration: {exc}") from None
        if span <= timedelta(0):
            raise ApiError(400, f"duration: must be positive (got {duration!r})")
        try:
            ends_at = (starts_at or now) + span
        except OverflowError:
            raise ApiError(400, f"duration: {duration!r} is too long") from None
    return SilenceInput(matchers, starts_at, ends_at, _text(body, "created_by"), _text(body, "comment"))


def _store(rt: Runtime) -> SilenceStore:
    if rt.meta is None:
        raise ApiError(503, "logwarden is starting or stopping; retry shortly", {"Retry-After": "1"})
    return SilenceStore(rt.meta.engine)


def _changed(rt: Runtime) -> None:
    # The router's silencer reloads before its next decision: a new silence mutes at once.
    silencer = getattr(rt, "silencer", None)
    if silencer is not None:
        silencer.invalidate()


def _state(request: Request) -> SilenceState | None:
    value = request.query_params.get("state")
    if value is None or value == "":
        return None
    for state in STATES:
        if value == state:
            return state
    raise ApiError(400, f"state: {value!r} is not one of {', '.join(STATES)}")


async def list_or_create(request: Request) -> Response:
    """GET: the tenant's silences (`state`: active, pending or expired), active first; POST: make one (201)."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    store = _store(rt)
    assert rt.meta is not None
    now = datetime.now(UTC)
    if request.method == "GET":
        found = await rt.meta.run(store.list, tenant, _state(request), now)
        return json_response({"silences": [s.to_json(now) for s in found]})
    given = silence_input(await json_body(request), now)
    if given.matchers is None:
        raise ApiError(400, 'matchers: required, like ["service=\\"api\\""]')
    if given.ends_at is None:
        raise ApiError(400, 'ends_at or duration is required (like "duration": "2h")')
    if given.created_by is None:
        raise ApiError(400, "created_by: required (who makes the silence)")
    if given.comment is None:
        raise ApiError(400, "comment: required (why the alerts are silenced)")
    starts_at = given.starts_at or now
    try:
        made = await rt.meta.run(
            store.create, tenant, given.matchers, starts_at, given.ends_at, given.created_by, given.comment, now
        )
    except SilenceError as exc:
        raise ApiError(400, str(exc)) from None
    _changed(rt)
    await audit(request, "silence.create", made.id, tenant=tenant, comment=given.comment)
    return json_response(made.to_json(now), status=201)


async def item(request: Request) -> Response:
    """GET one silence; PUT changes the fields given (an active silence whose matchers or start change is expired
    and replaced: the answer has the new id; 409 for an expired one); DELETE expires it (200 with the silence).
    404 when the tenant has no such silence."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    store = _store(rt)
    assert rt.meta is not None
    silence_id = request.path_params["silence_id"]
    missing = ApiError(404, f"no silence with id {silence_id!r}")
    now = datetime.now(UTC)
    if request.method == "GET":
        found = await rt.meta.run(store.get, tenant, silence_id)
        if found is None:
            raise missing
        return json_response(found.to_json(now))
    if request.method == "DELETE":
        expired = await rt.meta.run(store.expire, tenant, silence_id, now)
        if expired is None:
            raise missing
        _changed(rt)
        await audit(request, "silence.expire", silence_id, tenant=tenant)
        return json_response(expired.to_json(now))
    given = silence_input(await json_body(request), now)
    try:
        changed = await rt.meta.run(
            lambda: store.update(
                tenant,
                silence_id,
                matchers=given.matchers,
                starts_at=given.starts_at,
                ends_at=given.ends_at,
                created_by=given.created_by,
                comment=given.comment,
                now=now,
            )
        )
    except SilenceError as exc:
        raise ApiError(400, str(exc)) from None
    except SilenceExpiredError as exc:
        raise ApiError(409, str(exc)) from None
    if changed is None:
        raise missing
    _changed(rt)
    await audit(request, "silence.update", silence_id, tenant=tenant, new_id=changed.id)
    return json_response(changed.to_json(now))
