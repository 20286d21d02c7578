"""POST /api/v1/ingest: NDJSON or a JSON array, acknowledged only once durable."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pyarrow as pa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from logwarden.api.errors import ApiError
from logwarden.api.runtime import runtime_of
from logwarden.ingest.http.body import decompress, longest_line, read_limited
from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, dead_letter, normalize
from logwarden.store.duckdb.store import StoreBusyError

SOURCE = "http"
ROUTE = "/api/v1/ingest"
# JSON flavours, plain text, and what curl --data-binary sends by default (form-urlencoded).
_ACCEPTED_TYPES = ("", "text/plain", "application/octet-stream", "application/x-www-form-urlencoded")


def decode_and_normalize(body: bytes, ctx: BatchContext) -> tuple[pa.Table, int, int]:
    """Body → one core-schema table (good records + dead letters), accepted count, rejected count."""
    decoded = decode_json_body(body)
    tables = []
    accepted = 0
    if decoded.records is not None and decoded.records.num_rows:
        good = normalize(decoded.records, ctx)
        accepted = good.num_rows
        tables.append(good)
    if decoded.rejected:
        tables.append(dead_letter(decoded.rejected, ctx))
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables) if tables else None
    if table is None:
        table = normalize(pa.table({}), ctx)
    return table, accepted, len(decoded.rejected)


async def ingest(request: Request) -> Response:
    rt = runtime_of(request)
    store = rt.require_store()
    cfg = rt.config.ingest
    tenant = rt.tenant(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _ACCEPTED_TYPES and "json" not in content_type:
        raise ApiError(415, f"unsupported Content-Type {content_type!r}: send NDJSON or a JSON array")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "invalid Content-Length")
        if int(declared) > cfg.max_body_bytes:
            raise ApiError(413, f"request body exceeds the limit of {cfg.max_body_bytes} bytes (ingest.max_body_bytes)")
    held = int(declared) if declared else 0
    if not rt.budget.try_acquire(held):
        rt.metrics.throttled_requests.labels(ROUTE).inc()
        raise _throttled(cfg.retry_after_seconds)
    try:
        raw = await read_limited(request.stream(), cfg.max_body_bytes)
        body = decompress(raw, request.headers.get("content-encoding", ""), cfg.max_decompressed_bytes)
        # Hold the decompressed size (the decoded tables are of the same order) instead of the wire size.
        extra = len(body) - held
        if extra > 0:
            if not rt.budget.try_acquire(extra):
                rt.metrics.throttled_requests.labels(ROUTE).inc()
                raise _throttled(cfg.retry_after_seconds)
            held += extra
        rt.metrics.inflight_bytes.set(rt.budget.used)
        if len(body) > cfg.max_line_bytes and not body.lstrip().startswith(b"["):
            longest = longest_line(body)
            if longest > cfg.max_line_bytes:
                raise ApiError(
                    413,
                    f"a line of {longest} bytes exceeds the limit of {cfg.max_line_bytes} (ingest.max_line_bytes)",
                )
        ctx = BatchContext(
            tenant=tenant,
            source=SOURCE,
            received=datetime.now(UTC),
            default_service=request.query_params.get("service") or None,
            default_host=request.query_params.get("host") or None,
        )
        loop = asyncio.get_running_loop()
        table, accepted, rejected = await loop.run_in_executor(rt.decode_pool, decode_and_normalize, body, ctx)
        if table.num_rows:
            try:
                await store.append(table)
            except StoreBusyError as exc:
                rt.metrics.throttled_requests.labels(ROUTE).inc()
                raise ApiError(429, str(exc), {"Retry-After": str(cfg.retry_after_seconds)}) from None
            except (RuntimeError, OSError) as exc:
                # Closed store, disk full, I/O error: nothing was acknowledged; the client may retry.
                raise ApiError(
                    503, f"store unavailable: {exc}", {"Retry-After": str(cfg.retry_after_seconds)}
                ) from None
    except ApiError as exc:
        if exc.status != 429:
            rt.metrics.refused_requests.labels(ROUTE, str(exc.status)).inc()
        raise
    finally:
        rt.budget.release(held)
        rt.metrics.inflight_bytes.set(rt.budget.used)
    rt.metrics.ingested_lines.labels(SOURCE, tenant).inc(accepted)
    rt.metrics.ingested_bytes.labels(SOURCE, tenant).inc(len(body))
    if rejected:
        rt.metrics.rejected_lines.labels(SOURCE, tenant).inc(rejected)
    return JSONResponse({"accepted": accepted, "rejected": rejected})


def _throttled(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "too many bytes in flight (ingest.max_inflight_bytes); retry after the Retry-After delay",
        {"Retry-After": str(retry_after)},
    )
