"""What every HTTP ingest endpoint does around its own decoding: admission, limits, errors, metrics.

    async with admitted_body(request, ROUTE) as body:
        result = await store_batch(request, ROUTE, lambda: decode(body), batch_context(request, "loki"), len(body))

`admitted_body` enforces ingest.max_body_bytes and max_decompressed_bytes (413), the in-flight byte
budget (429 + Retry-After, charged as bytes arrive and inflate), and Content-Encoding gzip/deflate/zstd
(415 otherwise; truncated or trailing bytes 400). `store_batch` sends the
decoded batch through the shared sink and maps store errors to 429/503. Refusals are counted per
route and status in /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from starlette.requests import Request

from logwarden.ingest.backpressure import Reservation
from logwarden.ingest.http.body import decompress, is_encoded, read_limited
from logwarden.ingest.http.context import context_of, request_tenant, require_sink
from logwarden.ingest.http.errors import RequestRefused
from logwarden.ingest.ndjson import DecodedBody, LineTooLongError
from logwarden.ingest.sink import IngestResult
from logwarden.model.normalize import BatchContext
from logwarden.store.base import StorageFailureError, StoreBusyError, StoreClosedError


def batch_context(
    request: Request, source: str, *, default_service: str | None = None, default_host: str | None = None
) -> BatchContext:
    """The request's tenant (X-Scope-OrgID), the source name, the receive time and batch defaults."""
    rt = context_of(request)
    return BatchContext(
        tenant=request_tenant(rt, request),
        source=source,
        received=datetime.now(UTC),
        default_service=default_service,
        default_host=default_host,
    )


@contextlib.asynccontextmanager
async def admitted_body(request: Request, route: str) -> AsyncIterator[bytes]:
    """The decompressed body, within the limits and the in-flight budget, held until the block ends.

    The budget is charged before the bytes exist: the declared Content-Length up front, a chunked body
    chunk by chunk as it streams in, and a compressed body step by step as it inflates (in the decode
    pool, off the event loop). What does not fit is refused with 429 + Retry-After.
    """
    rt = context_of(request)
    require_sink(rt)  # 503 while starting or stopping, before any byte is read
    cfg = rt.config.ingest
    held = Reservation(rt.budget)

    def reserve(total: int) -> None:
        if not held.grow_to(total):
            rt.metrics.throttled_requests.labels(route).inc()
            raise _throttled(cfg.retry_after_seconds)
        rt.metrics.inflight_bytes.set(rt.budget.used)

    try:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise RequestRefused(400, "invalid Content-Length")
            if int(declared) > cfg.max_body_bytes:
                raise RequestRefused(
                    413, f"request body exceeds the limit of {cfg.max_body_bytes} bytes (ingest.max_body_bytes)"
                )
        reserve(int(declared) if declared else 0)
        raw = await read_limited(request.stream(), cfg.max_body_bytes, reserve)
        encoding = request.headers.get("content-encoding", "")
        if is_encoded(encoding) and raw:
            wire = len(raw)

            def inflate() -> bytes:
                # Both the compressed and the inflated bytes are alive while it runs.
                return decompress(raw, encoding, cfg.max_decompressed_bytes, lambda total: reserve(wire + total))

            body = await asyncio.get_running_loop().run_in_executor(rt.decode_pool, inflate)
            del raw
        else:
            body = decompress(raw, encoding, cfg.max_decompressed_bytes)  # identity; 415 for unknown names
        # From here on the body (and the tables decoded from it, of the same order) is what is held.
        held.shrink_to(len(body))
        rt.metrics.inflight_bytes.set(rt.budget.used)
        yield body
    except RequestRefused as exc:
        if exc.status != 429:
            rt.metrics.refused_requests.labels(route, str(exc.status)).inc()
        raise
    finally:
        held.close()
        rt.metrics.inflight_bytes.set(rt.budget.used)


@contextlib.asynccontextmanager
async def extra_budget(request: Request, route: str, nbytes: int) -> AsyncIterator[None]:
    """Hold `nbytes` more of the in-flight budget (a body that inflates while decoding, e.g. snappy)."""
    rt = context_of(request)
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
    rt = context_of(request)
    retry_after = {"Retry-After": str(rt.config.ingest.retry_after_seconds)}
    try:
        return await require_sink(rt).ingest(decode, ctx, raw_bytes)
    except StoreBusyError as exc:
        rt.metrics.throttled_requests.labels(route).inc()
        raise RequestRefused(429, str(exc), retry_after) from None
    except LineTooLongError as exc:
        raise RequestRefused(413, str(exc)) from None
    except RecursionError:
        # Depth limits stop nesting before any recursive code sees it; this is the net under them. A
        # RecursionError is a RuntimeError, which must not read as "store unavailable, retry" (503).
        raise RequestRefused(
            400, "input nested too deeply to decode (ingest.max_json_depth bounds the nesting of a line)"
        ) from None
    except (StoreClosedError, StorageFailureError) as exc:
        # Stopping, disk full, I/O error: nothing was acknowledged; the client may retry. Any other error is
        # a fault of ours (logged, 500), never a "retry later" that would have the sender retry forever.
        raise RequestRefused(503, f"store unavailable: {exc}", retry_after) from None


def _throttled(retry_after: int) -> RequestRefused:
    return RequestRefused(
        429,
        "too many bytes in flight (ingest.max_inflight_bytes); retry after the Retry-After delay",
        {"Retry-After": str(retry_after)},
    )
