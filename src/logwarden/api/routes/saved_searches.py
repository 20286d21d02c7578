"""Saved searches CRUD: /api/v1/saved-searches and /api/v1/saved-searches/{id}, per tenant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from logwarden.api.errors import ApiError
from logwarden.api.routes.tenant_crud import TenantCollection
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


SAVED_SEARCHES = TenantCollection[SavedSearchFields](
    noun="saved search",
    list_key="saved_searches",
    path_param="search_id",
    repository=SavedSearchRepository,
    validate=validate_fields,
    name_taken=SavedSearchNameTakenError,
    name_of=lambda fields: fields.name,
)
list_or_create = SAVED_SEARCHES.list_or_create
item = SAVED_SEARCHES.item
