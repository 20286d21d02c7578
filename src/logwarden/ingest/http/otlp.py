"""POST /v1/logs: OTLP/HTTP logs from OpenTelemetry SDKs and collectors (protobuf or JSON).

Answers follow the OTLP/HTTP specification: 200 with an ExportLogsServiceResponse in the request's
encoding (partial_success when some records were rejected), and errors as a google.rpc.Status in that
encoding, with Retry-After on 429/503 so exporters back off and retry.
"""

from __future__ import annotations

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceResponse,
)
from starlette.requests import Request
from starlette.responses import Response

from logwarden.ingest.http.columns import json_text
from logwarden.ingest.http.common import admitted_body, batch_context, store_batch
from logwarden.ingest.http.context import context_of
from logwarden.ingest.http.errors import RequestRefused
from logwarden.ingest.http.media import media_type, unsupported_media_type
from logwarden.ingest.http.otlp_decode import DecodedLogs, decode_json_logs, decode_protobuf_logs
from logwarden.ingest.ndjson import DecodedBody

SOURCE = "otlp"
ROUTE = "/v1/logs"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_PROTOBUF_TYPES = (PROTOBUF, "application/protobuf")
# google.rpc.Code by HTTP status: INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE; UNKNOWN otherwise.
_RPC_CODES = {400: 3, 413: 3, 415: 3, 429: 8, 503: 14}


def status_message(code: int, message: str) -> bytes:
    """A google.rpc.Status (code = field 1, message = field 2) in protobuf wire format."""
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _error_response(exc: RequestRefused, as_json: bool) -> Response:
    code = _RPC_CODES.get(exc.status, 2)
    if as_json:
        content = json_text({"code": code, "message": exc.message}).encode()
    else:
        content = status_message(code, exc.message)
    return Response(content, exc.status, headers=exc.headers, media_type=JSON if as_json else PROTOBUF)


async def export_logs(request: Request) -> Response:
    """Store the records of an ExportLogsServiceRequest; answer an ExportLogsServiceResponse."""
    kind = media_type(request)
    if kind in _PROTOBUF_TYPES:
        as_json = False
    elif "json" in kind:
        as_json = True
    else:
        return _error_response(unsupported_media_type(request, ROUTE, f"{PROTOBUF} or {JSON}"), as_json=True)
    cfg = context_of(request).config.ingest
    max_line = cfg.max_line_bytes
    decoded: list[DecodedLogs] = []

    def decode(body: bytes) -> DecodedBody:
        result = (
            decode_json_logs(body, max_line, cfg.max_json_depth) if as_json else decode_protobuf_logs(body, max_line)
        )
        decoded.append(result)
        return result.body

    try:
        ctx = batch_context(request, SOURCE)
        async with admitted_body(request, ROUTE) as body:
            stored = await store_batch(request, ROUTE, lambda: decode(body), ctx, len(body))
    except RequestRefused as exc:
        return _error_response(exc, as_json)
    answer = ExportLogsServiceResponse()
    if stored.rejected or stored.refused:
        first = decoded[0].first_error if decoded else None
        messages = []
        if stored.rejected:
            why = (
                f": {stored.rejected_reason or first}"
                if stored.rejected_reason or first
                else " (see attrs.error there)"
            )
            messages.append(f"{stored.rejected} log record(s) rejected (kept in the dead-letter stream){why}")
        if stored.refused:
            messages.append(stored.refused_reason or f"{stored.refused} log record(s) refused")
        answer.partial_success.CopyFrom(
            ExportLogsPartialSuccess(
                rejected_log_records=stored.rejected + stored.refused, error_message="; ".join(messages)
            )
        )
    if as_json:
        return Response(json_format.MessageToJson(answer, indent=None), media_type=JSON)
    return Response(answer.SerializeToString(), media_type=PROTOBUF)
