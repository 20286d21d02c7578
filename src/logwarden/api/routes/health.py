"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from logwarden.api.runtime import runtime_of


async def healthz(request: Request) -> Response:
    """The process is up and serving HTTP: answered on the event loop, touching nothing else."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The store is open and accepting writes; 503 while starting or shutting down. Lines set aside in
    quarantine (the store went on without them) are reported, without making the server unready."""
    rt = runtime_of(request)
    if not rt.ready or rt.shutting_down:
        return JSONResponse({"status": "stopping" if rt.shutting_down else "starting"}, status_code=503)
    body: dict[str, Any] = {"status": "ready"}
    if rt.store is not None:
        # Asked on a worker thread: the store may wait for a lock or a disk, and the loop serves ingest meanwhile.
        quarantined = await asyncio.get_running_loop().run_in_executor(None, rt.store.quarantine_status)
        if quarantined.lines:
            body["quarantined"] = {"lines": quarantined.lines, "last": quarantined.last}
    return JSONResponse(body)


async def metrics(request: Request) -> Response:
    """Prometheus exposition. Collected on a worker thread: the catalog query and the walk of the archive's
    files for its size can take a while on a large store, and the event loop serves ingest meanwhile."""
    rt = runtime_of(request)

    def collect() -> bytes:
        if rt.store is not None and rt.ready:
            hot, archived = rt.store.partitions()
            rt.metrics.partitions.labels("hot").set(len(hot))
            rt.metrics.partitions.labels("archive").set(len(archived))
            rt.metrics.store_size.set(rt.store.size_bytes())
            rt.metrics.unapplied_bytes.set(rt.store.unapplied_bytes)
            rt.metrics.quarantined_lines.set(rt.store.quarantine_status().lines)
        rt.metrics.inflight_bytes.set(rt.budget.used)
        return rt.metrics.render()

    body = await asyncio.get_running_loop().run_in_executor(None, collect)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
