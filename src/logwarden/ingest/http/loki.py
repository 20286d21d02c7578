"""POST /loki/api/v1/push and GET /ready: what Promtail, Grafana Alloy, Fluent Bit and Vector send to Loki.

Protobuf bodies (application/x-protobuf, or no Content-Type, as in Loki) are snappy block-compressed
logproto.PushRequest messages; JSON bodies may also be gzip/zstd-encoded (Content-Encoding). The answer
is 204 No Content, as from Loki, once the entries are durable.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from logwarden.ingest.http.common import admitted_body, batch_context, extra_budget, store_batch
from logwarden.ingest.http.context import context_of
from logwarden.ingest.http.loki_decode import declared_snappy_size, decode_json_push, decode_protobuf_push
from logwarden.ingest.http.media import media_type, unsupported_media_type
from logwarden.ingest.ndjson import DecodedBody

SOURCE = "loki"
ROUTE = "/loki/api/v1/push"
READY_ROUTE = "/ready"
_PROTOBUF_TYPES = ("", "application/x-protobuf", "application/protobuf", "application/octet-stream")


async def push(request: Request) -> Response:
    """Store a push request's entries; 204 once durable."""
    kind = media_type(request)
    if kind not in _PROTOBUF_TYPES and "json" not in kind:
        raise unsupported_media_type(request, ROUTE, "application/x-protobuf (snappy-compressed) or application/json")
    if "json" not in kind and request.headers.get("content-encoding", "").strip().lower() == "snappy":
        # Some clients label Loki's snappy framing as a Content-Encoding; it is what we decode anyway.
        headers = [(k, v) for k, v in request.scope["headers"] if k.lower() != b"content-encoding"]
        request = Request({**request.scope, "headers": headers}, request.receive)
    cfg = context_of(request).config.ingest
    ctx = batch_context(request, SOURCE)

    def decode(body: bytes) -> DecodedBody:
        if "json" in kind:
            return decode_json_push(body, cfg.max_line_bytes, cfg.max_json_depth)
        return decode_protobuf_push(body, cfg.max_line_bytes, cfg.max_decompressed_bytes)

    async with admitted_body(request, ROUTE) as body:
        # Snappy inflates inside the decoder: charge its declared size to the in-flight budget first.
        inflated = 0 if "json" in kind else declared_snappy_size(body)
        async with extra_budget(request, ROUTE, inflated):
            result = await store_batch(request, ROUTE, lambda: decode(body), ctx, len(body))
    if result.refused:
        # As Loki answers entries older than its reject_old_samples_max_age: 400 naming them (the other
        # entries are stored; clients log it and do not retry).
        return PlainTextResponse(f"{result.refused_reason}\n", status_code=400)
    return Response(status_code=204)


async def ready(request: Request) -> Response:
    """Loki's readiness probe: 200 "ready" while the store accepts writes."""
    rt = context_of(request)
    if rt.ready and not rt.shutting_down:
        return PlainTextResponse("ready\n")
    return PlainTextResponse("Ingester not ready: " + ("stopping" if rt.shutting_down else "starting") + "\n", 503)
