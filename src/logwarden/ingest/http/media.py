"""The media type of an ingest request, and the 415 answer when an endpoint does not speak it."""

from __future__ import annotations

from starlette.requests import Request

from logwarden.ingest.http.context import context_of
from logwarden.ingest.http.errors import RequestRefused


def media_type(request: Request) -> str:
    """The Content-Type without parameters, lower-cased ('' when absent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def unsupported_media_type(request: Request, route: str, expected: str) -> RequestRefused:
    """A 415 naming what the endpoint accepts, counted as a refusal of `route`."""
    context_of(request).metrics.refused_requests.labels(route, "415").inc()
    return RequestRefused(415, f"unsupported Content-Type {media_type(request)!r}: send {expected}")
