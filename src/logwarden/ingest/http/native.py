"""POST /api/v1/ingest: NDJSON or a JSON array, acknowledged only once durable."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from logwarden.ingest.http.body import longest_line
from logwarden.ingest.http.common import admitted_body, batch_context, store_batch
from logwarden.ingest.http.context import context_of
from logwarden.ingest.http.errors import RequestRefused
from logwarden.ingest.ndjson import decode_json_body

SOURCE = "http"
ROUTE = "/api/v1/ingest"
# JSON flavours, plain text, and what curl --data-binary sends by default (form-urlencoded).
_ACCEPTED_TYPES = ("", "text/plain", "application/octet-stream", "application/x-www-form-urlencoded")


async def ingest(request: Request) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _ACCEPTED_TYPES and "json" not in content_type:
        context_of(request).metrics.refused_requests.labels(ROUTE, "415").inc()
        raise RequestRefused(415, f"unsupported Content-Type {content_type!r}: send NDJSON or a JSON array")
    ctx = batch_context(
        request,
        SOURCE,
        default_service=request.query_params.get("service") or None,
        default_host=request.query_params.get("host") or None,
    )
    async with admitted_body(request, ROUTE) as body:
        cfg = context_of(request).config.ingest
        max_line = cfg.max_line_bytes
        if len(body) > max_line and not body.lstrip().startswith(b"["):
            longest = longest_line(body)
            if longest > max_line:
                raise RequestRefused(
                    413, f"a line of {longest} bytes exceeds the limit of {max_line} (ingest.max_line_bytes)"
                )
        result = await store_batch(
            request, ROUTE, lambda: decode_json_body(body, cfg.max_json_depth, max_line), ctx, len(body)
        )
    answer: dict[str, int | str] = {"accepted": result.accepted, "rejected": result.rejected}
    if result.rejected_reason:
        answer["rejected_reason"] = result.rejected_reason  # a limit sent lines to the dead-letter stream
    if result.duplicates:
        answer["duplicates"] = result.duplicates
    if result.refused:
        answer["refused"] = result.refused
        answer["refused_reason"] = result.refused_reason or ""
    return JSONResponse(answer)
