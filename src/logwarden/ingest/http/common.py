"""What every HTTP ingest endpoint does around its own decoding: admission, limits, errors, metrics.

    async with admitted_body(request, ROUTE) as body:
        result = await store_batch(request, ROUTE, lambda: decode(body), batch_context(request, "loki"), len(body))

`admitted_body` enforces ingest.max_body_bytes and max_decompressed_bytes (413), the in-flight byte
budget (429 + Retry-After), and Content-Encoding gzip/zstd (415 otherwise). `store_batch` sends the
decoded batch through the shared sink and maps store errors to 429/503. Refusals are counted per
route and status in /metrics.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from starlette.requests import Request

from logwarden.api.errors import ApiError
from logwarden.api.runtime import runtime_of
from logwarden.ingest.http.body import decompress, read_limited
from logwarden.ingest.ndjson import DecodedBody
from logwarden.ingest.sink import IngestResult
from logwarden.model.normalize import BatchContext
from logwarden.store.duckdb.store import StoreBusyError


def batch_context(
    request: Request, source: str, *, default_service: str | None = None, default_host: str | None = None
) -> BatchContext:
    """The request's tenant (X-Scope-OrgID), the source name, the receive time and batch defaults."""
    rt = runtime_of(request)
    return BatchContext(
        tenant=rt.tenant(request),
        source=source,
        received=datetime.now(UTC),
        default_service=default_service,
        default_host=default_host,
    )


@contextlib.asynccontextmanager
async def admitted_body(request: Request, route: str) -> AsyncIterator[bytes]:
    """The decompressed body, within the limits and the in-flight budget, held until the block ends."""
    rt = runtime_of(request)
    rt.require_store()
    cfg = rt.config.ingest
    held = 0
    try:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise ApiError(400, "invalid Content-Length")
            if int(declared) > cfg.max_body_bytes:
                raise ApiError(
                    413, f"request body exceeds the limit of {cfg.max_body_bytes} bytes (ingest.max_body_bytes)"
                )
        wanted = int(declared) if declared else 0
        if not rt.budget.try_acquire(wanted):
            rt.metrics.throttled_requests.labels(route).inc()
            raise _throttled(cfg.retry_after_seconds)
        held = wanted
        raw = await read_limited(request.stream(), cfg.max_body_bytes)
        body = decompress(raw, request.headers.get("content-encoding", ""), cfg.max_decompressed_bytes)
        # Hold the decompressed size (the decoded tables are of the same order) instead of the wire size.
        extra = len(body) - held
        if extra > 0:
            if not rt.budget.try_acquire(extra):
                rt.metrics.throttled_requests.labels(route).inc()
                raise _throttled(cfg.retry_after_seconds)
            held += extra
        rt.metrics.inflight_bytes.set(rt.budget.used)
        yield body
    except ApiError as exc:
        if exc.status != 429:
            rt.metrics.refused_requests.labels(route, str(exc.status)).inc()
        raise
    finally:
        rt.budget.release(held)
        rt.metrics.inflight_bytes.set(rt.budget.used)


@contextlib.asynccontextmanager
async def extra_budget(request: Request, route: str, nbytes: int) -> AsyncIterator[None]:
    """Hold `nbytes` more of the in-flight budget (a body that inflates while decoding, e.g. snappy)."""
    rt = runtime_of(request)
    if nbytes <= 0:
        yield
        return
    if not rt.budget.try_acquire(nbytes):
        rt.metrics.throttled_requests.labels(route).inc()
        raise _throttled(rt.config.ingest.retry_after_seconds)
    try:
        rt.metrics.inflight_bytes.set(rt.budget.used)
        yield
    finally:
        rt.budget.release(nbytes)
        rt.metrics.inflight_bytes.set(rt.budget.used)


async def store_batch(
    request: Request, route: str, decode: Callable[[], DecodedBody], ctx: BatchContext, raw_bytes: int
) -> IngestResult:
    """Decode (in the pool), normalize and store durably; 429 when the store is behind, 503 when it fails."""
    rt = runtime_of(request)
    retry_after = {"Retry-After": str(rt.config.ingest.retry_after_seconds)}
    try:
        return await rt.require_sink().ingest(decode, ctx, raw_bytes)
    except StoreBusyError as exc:
        rt.metrics.throttled_requests.labels(route).inc()
        raise ApiError(429, str(exc), retry_after) from None
    except (RuntimeError, OSError) as exc:
        # Closed store, disk full, I/O error: nothing was acknowledged; the client may retry.
        raise ApiError(503, f"store unavailable: {exc}", retry_after) from None


def _throttled(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "too many bytes in flight (ingest.max_inflight_bytes); retry after the Retry-After delay",
        {"Retry-After": str(retry_after)},
    )
