"""What the HTTP ingest endpoints need from the running server, as a protocol.

`api.runtime.Runtime` satisfies it structurally, so `ingest.http` never imports `api` (the app factory
imports `ingest`, not the reverse). The helpers below answer 503 while the server starts or stops and
resolve the request's tenant, raising `RequestRefused`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

from starlette.requests import Request

from logwarden.auth.tenants import TENANT_HEADER, TenantRefusedError
from logwarden.auth.tenants import request_tenant as tenant_of_request
from logwarden.config.model import Config
from logwarden.ingest.backpressure import InflightBudget
from logwarden.ingest.http.errors import RequestRefused
from logwarden.ingest.sink import IngestSink

__all__ = ["TENANT_HEADER", "IngestHttpContext", "context_of", "request_tenant", "require_sink"]

_NOT_READY = "logwarden is starting or stopping; retry shortly"


class HttpIngestMetricsView(Protocol):
    """The metrics the endpoints count into (prometheus_client metrics)."""

    @property
    def throttled_requests(self) -> Any: ...
    @property
    def refused_requests(self) -> Any: ...
    @property
    def inflight_bytes(self) -> Any: ...


@runtime_checkable
class IngestHttpContext(Protocol):
    """The server state an ingest request uses (read-only here)."""

    @property
    def config(self) -> Config: ...
    @property
    def metrics(self) -> HttpIngestMetricsView: ...
    @property
    def budget(self) -> InflightBudget: ...
    @property
    def decode_pool(self) -> ThreadPoolExecutor: ...
    @property
    def sink(self) -> IngestSink | None: ...
    @property
    def ready(self) -> bool: ...
    @property
    def shutting_down(self) -> bool: ...


def context_of(request: Request) -> IngestHttpContext:
    """The running server's state, as the app factory stored it in `app.state.runtime`."""
    ctx = request.app.state.runtime
    assert isinstance(ctx, IngestHttpContext)
    return ctx


def require_sink(ctx: IngestHttpContext) -> IngestSink:
    """The sink; 503 with Retry-After while the server starts or stops."""
    sink = ctx.sink
    if sink is None or not ctx.ready:
        raise RequestRefused(503, _NOT_READY, {"Retry-After": "1"})
    return sink


def request_tenant(ctx: IngestHttpContext, request: Request) -> str:
    """The request's tenant: its credential's (a trusted shipper's or an admin's may be named in X-Scope-OrgID;
    auth/tenants.py); 400 when invalid, 403 when the credential may not write there."""
    try:
        return tenant_of_request(request, ctx.config)
    except TenantRefusedError as exc:
        raise RequestRefused(exc.status, exc.message) from None
