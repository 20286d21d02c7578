"""Responses the way Elasticsearch clients expect them: the product header, ES-shaped error bodies.

The official clients (Python, Go, Java) refuse a server whose 2xx answers lack `X-Elastic-Product:
Elasticsearch`; Beats and Logstash read `error.type` and `error.reason`. Every Elasticsearch-compatible
endpoint is wrapped in `elastic_api`, which adds the header and turns an RequestRefused into such a body.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from logwarden.ingest.http.errors import RequestRefused

PRODUCT_HEADERS = {"X-Elastic-Product": "Elasticsearch"}
_JSON = "application/json"

# ES error types by status, for errors raised by the shared HTTP machinery (limits, encodings).
_ERROR_TYPES = {
    400: "illegal_argument_exception",
    404: "resource_not_found_exception",
    413: "content_too_long_exception",
    415: "media_type_header_exception",
    429: "es_rejected_execution_exception",
    503: "unavailable_shards_exception",
}

Handler = Callable[[Request], Awaitable[Response]]


def elastic_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response with the Elasticsearch product header."""
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(content, status_code=status, media_type=_JSON, headers={**PRODUCT_HEADERS, **(headers or {})})


def elastic_error(
    status: int, reason: str, error_type: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """`{"error": {"root_cause": [...], "type", "reason"}, "status"}` as Elasticsearch answers errors."""
    kind = error_type or _ERROR_TYPES.get(status, "exception")
    cause = {"type": kind, "reason": reason}
    return elastic_json({"error": {"root_cause": [cause], **cause}, "status": status}, status, headers)


def elastic_api(handler: Handler) -> Handler:
    """Wrap an endpoint: product header on every answer, RequestRefused → Elasticsearch error body."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            response = await handler(request)
        except RequestRefused as exc:
            return elastic_error(exc.status, exc.message, headers=dict(exc.headers or {}))
        response.headers.update(PRODUCT_HEADERS)
        return response

    return wrapped
