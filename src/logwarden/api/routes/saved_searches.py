"""Saved searches CRUD: /api/v1/saved-searches and /api/v1/saved-searches/{id}, per tenant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import json_response
from logwarden.api.runtime import Runtime, runtime_of
from logwarden.meta.saved_searches import SavedSearchFields, SavedSearchNameTakenError, SavedSearchRepository
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.parser import parse
from logwarden.query.timerange import TimeRangeError, parse_range, parse_time

MAX_NAME = 200
MAX_QUERY = 10_000
_FIELDS = frozenset({"name", "query", "start", "end"})


def validate_fields(body: Any) -> SavedSearchFields:
    """A saved search from a JSON body; ApiError 400 saying which field is wrong and why."""
    if not isinstance(body, dict):
        raise ApiError(400, 'request body must be a JSON object like {"name": "errors", "query": "level:error"}')
    unknown = sorted(set(body) - _FIELDS - {"id", "created", "updated"})
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0]!r}: a saved search has name, query, start and end")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "'name' is required: a non-empty string")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise ApiError(400, f"'name' is too long ({len(name)} characters; at most {MAX_NAME})")
    query = body.get("query")
    if not isinstance(query, str):
        raise ApiError(400, "'query' is required: a string in the search language (may be empty)")
    if len(query) > MAX_QUERY:
        raise ApiError(400, f"'query' is too long ({len(query)} characters; at most {MAX_QUERY})")
    _check_query(query)
    now = datetime.now(UTC)
    times: dict[str, str | None] = {}
    for key in ("start", "end"):
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ApiError(400, f"'{key}' must be a time string (now-1h, 2h, RFC 3339) or null")
        if value is not None:
            try:
                parse_time(value, now, default=now, name=key)
            except TimeRangeError as exc:
                raise ApiError(400, str(exc)) from None
        times[key] = value.strip() if isinstance(value, str) else None
    if times["start"] is not None and times["end"] is not None:
        try:
            parse_range(times["start"], times["end"], now)
        except TimeRangeError as exc:
            raise ApiError(400, str(exc)) from None
    return SavedSearchFields(name, query, times["start"], times["end"])


def _check_query(query: str) -> None:
    try:
        parse(query)
    except QuerySyntaxError as exc:
        raise ApiError(400, f"invalid 'query': {exc}") from None


def _repo(rt: Runtime) -> SavedSearchRepository:
    if rt.meta is None:
        raise ApiError(503, "logwarden is starting or stopping; retry shortly", {"Retry-After": "1"})
    return SavedSearchRepository(rt.meta.engine)


async def _body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None


async def list_or_create(request: Request) -> Response:
    """GET: the tenant's saved searches by name; POST: create one (201, or 409 when the name is taken)."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    repo = _repo(rt)
    assert rt.meta is not None
    if request.method == "GET":
        searches = await rt.meta.run(repo.list, tenant)
        return json_response({"saved_searches": [s.to_json() for s in searches]})
    fields = validate_fields(await _body(request))
    try:
        created = await rt.meta.run(repo.create, tenant, fields)
    except SavedSearchNameTakenError:
        raise ApiError(409, f"a saved search named {fields.name!r} already exists") from None
    return json_response(created.to_json(), status=201)


async def item(request: Request) -> Response:
    """GET, PUT (replace name, query, start, end) or DELETE one saved search; 404 when it does not exist."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    repo = _repo(rt)
    assert rt.meta is not None
    search_id = request.path_params["search_id"]
    missing = ApiError(404, f"no saved search with id {search_id!r}")
    if request.method == "GET":
        found = await rt.meta.run(repo.get, tenant, search_id)
        if found is None:
            raise missing
        return json_response(found.to_json())
    if request.method == "DELETE":
        if not await rt.meta.run(repo.delete, tenant, search_id):
            raise missing
        return Response(status_code=204)
    fields = validate_fields(await _body(request))
    try:
        updated = await rt.meta.run(repo.update, tenant, search_id, fields)
    except SavedSearchNameTakenError:
        raise ApiError(409, f"a saved search named {fields.name!r} already exists") from None
    if updated is None:
        raise missing
    return json_response(updated.to_json())
