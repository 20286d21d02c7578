"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from logwarden.api.runtime import runtime_of


async def healthz(request: Request) -> Response:
    """The process is up and serving HTTP."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The store is open and accepting writes; 503 while starting or shutting down."""
    rt = runtime_of(request)
    if rt.ready and not rt.shutting_down:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "stopping" if rt.shutting_down else "starting"}, status_code=503)


async def metrics(request: Request) -> Response:
    rt = runtime_of(request)
    if rt.store is not None and rt.ready:
        hot, archived = rt.store.partitions()
        rt.metrics.partitions.labels("hot").set(len(hot))
        rt.metrics.partitions.labels("archive").set(len(archived))
        rt.metrics.store_size.set(rt.store.size_bytes())
        rt.metrics.unapplied_bytes.set(rt.store.unapplied_bytes)
    rt.metrics.inflight_bytes.set(rt.budget.used)
    return Response(rt.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
