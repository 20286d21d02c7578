"""Decode Loki push bodies (protobuf + snappy, or JSON) into record tables.

Stream labels name the core fields (see loki_labels); the rest, and each entry's structured metadata,
go to attrs. Labels are handled once per stream; per entry only the timestamp and the line are read.
Entries that cannot be stored as sent (a bad timestamp, a line that is not UTF-8) go to the dead-letter
stream with their labels, so nothing is lost; a body that is not a push request at all is a 400.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import orjson
from google.protobuf.message import DecodeError

from logwarden.ingest.http.columns import RecordColumns, check_line_lengths, json_text
from logwarden.ingest.http.errors import RequestRefused
from logwarden.ingest.http.loki_labels import CoreLabels, LabelSyntaxError, parse_labels
from logwarden.ingest.http.proto import loki_push_pb2, loki_push_raw_pb2
from logwarden.ingest.json_depth import DEFAULT_MAX_JSON_DEPTH, depth_reason, too_deep
from logwarden.ingest.ndjson import DecodedBody
from logwarden.lazy import lazy_module

if TYPE_CHECKING:
    import cramjam
else:
    # ~1.5 MB resident: the first snappy-compressed Loki push imports it.
    cramjam = lazy_module("cramjam")

_PROTO_HINT = "Loki pushes are a logproto.PushRequest, snappy block-compressed"


class _Batch:
    """Columns being filled, and the entries sent to the dead-letter stream."""

    def __init__(self) -> None:
        self.columns = RecordColumns()
        self.rejected: list[tuple[str, str]] = []

    def reject(self, labels: dict[str, str], ts: object, line: str, reason: str) -> None:
        self.rejected.append((json_text({"stream": labels, "ts": ts, "line": line}), reason))

    def close_stream(self, core: CoreLabels, start: int, overrides: list[tuple[int, dict[str, str]]]) -> None:
        """Fill the per-stream columns for the entries appended since `start`."""
        cols = self.columns
        k = len(cols.message) - start
        rest = json_text(core.rest) if core.rest else None
        cols.service.extend([core.service] * k)
        cols.host.extend([core.host] * k)
        cols.level.extend([core.level] * k)
        cols.trace_id.extend([core.trace_id] * k)
        cols.span_id.extend([core.span_id] * k)
        cols.attrs.extend([rest] * k)
        for i, metadata in overrides:
            entry = core.overlaid(metadata)
            cols.service[i] = entry.service
            cols.host[i] = entry.host
            cols.level[i] = entry.level
            cols.trace_id[i] = entry.trace_id
            cols.span_id[i] = entry.span_id
            cols.attrs[i] = json_text(entry.rest) if entry.rest else None

    def result(self, max_line_bytes: int) -> DecodedBody:
        table = self.columns.table()
        check_line_lengths(table, max_line_bytes)
        return DecodedBody(table, self.rejected)


def declared_snappy_size(body: bytes) -> int:
    """The decompressed size a snappy block declares in its header (0 when unreadable: decoding reports it)."""
    if not body:
        return 0
    try:
        return int(cramjam.snappy.decompress_raw_len(body))
    except cramjam.DecompressionError:
        return 0


def unsnappy(body: bytes, max_decompressed_bytes: int) -> bytes:
    """Snappy block decompression, refusing (413) a declared size above the limit before inflating."""
    if not body:
        return body
    try:
        size = cramjam.snappy.decompress_raw_len(body)
    except cramjam.DecompressionError as exc:
        raise RequestRefused(400, f"body is not valid snappy ({_PROTO_HINT}): {exc}") from None
    if size > max_decompressed_bytes:
        raise RequestRefused(
            413,
            f"decompressed body exceeds the limit of {max_decompressed_bytes} bytes (ingest.max_decompressed_bytes)",
        )
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise RequestRefused(400, f"body is not valid snappy ({_PROTO_HINT}): {exc}") from None


def decode_protobuf_push(body: bytes, max_line_bytes: int, max_decompressed_bytes: int) -> DecodedBody:
    """A snappy-compressed logproto.PushRequest → records."""
    raw = unsnappy(body, max_decompressed_bytes)
    try:
        request = loki_push_pb2.PushRequest.FromString(raw)
    except DecodeError:
        return _decode_protobuf_lenient(raw, max_line_bytes)
    batch = _Batch()
    for number, stream in enumerate(request.streams):
        labels = _labels(stream.labels, number)
        core = CoreLabels(labels)
        start = len(batch.columns.message)
        overrides: list[tuple[int, dict[str, str]]] = []
        ts_us = batch.columns.ts_us
        messages = batch.columns.message
        for entry in stream.entries:
            ts = entry.timestamp
            ts_us.append(ts.seconds * 1_000_000 + ts.nanos // 1000 if ts.seconds or ts.nanos else None)
            messages.append(entry.line)
            if entry.structuredMetadata:
                overrides.append((len(messages) - 1, {p.name: p.value for p in entry.structuredMetadata}))
        batch.close_stream(core, start, overrides)
    return batch.result(max_line_bytes)


def _decode_protobuf_lenient(raw: bytes, max_line_bytes: int) -> DecodedBody:
    """The same message read with bytes fields: lines that are not UTF-8 go to the dead-letter stream."""
    try:
        request = loki_push_raw_pb2.PushRequest.FromString(raw)
    except DecodeError as exc:
        raise RequestRefused(400, f"body is not a valid push request ({_PROTO_HINT}; truncated?): {exc}") from None
    batch = _Batch()
    for number, stream in enumerate(request.streams):
        labels = _labels(stream.labels.decode("utf-8", "replace"), number)
        core = CoreLabels(labels)
        start = len(batch.columns.message)
        overrides: list[tuple[int, dict[str, str]]] = []
        for entry in stream.entries:
            ts = entry.timestamp
            us = ts.seconds * 1_000_000 + ts.nanos // 1000 if ts.seconds or ts.nanos else None
            try:
                line = entry.line.decode()
            except UnicodeDecodeError:
                text = entry.line.decode("utf-8", "replace")
                batch.reject(labels, us, text, "line is not valid UTF-8 (invalid bytes shown as U+FFFD)")
                continue
            batch.columns.ts_us.append(us)
            batch.columns.message.append(line)
            if entry.structuredMetadata:
                metadata = {
                    p.name.decode("utf-8", "replace"): p.value.decode("utf-8", "replace")
                    for p in entry.structuredMetadata
                }
                overrides.append((len(batch.columns.message) - 1, metadata))
        batch.close_stream(core, start, overrides)
    return batch.result(max_line_bytes)


def _labels(text: str, number: int) -> dict[str, str]:
    try:
        return dict(parse_labels(text))
    except LabelSyntaxError as exc:
        raise RequestRefused(400, f"streams[{number}].labels: {exc}") from None


def decode_json_push(body: bytes, max_line_bytes: int, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> DecodedBody:
    """`{"streams": [{"stream": {labels}, "values": [["<unix ns>", "line", {metadata}?], ...]}]}` → records."""
    if too_deep(body, max_depth):
        raise RequestRefused(400, f"body is {depth_reason(max_depth)}")
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestRefused(400, f"body is not valid JSON: {exc}") from None
    streams = request.get("streams") if isinstance(request, dict) else None
    if not isinstance(streams, list):
        raise RequestRefused(400, 'body must be {"streams": [{"stream": {labels}, "values": [[ts, line], ...]}]}')
    batch = _Batch()
    for number, stream in enumerate(streams):
        where = f"streams[{number}]"
        if not isinstance(stream, dict):
            raise RequestRefused(400, f"{where} must be an object with 'stream' and 'values'")
        labels = _json_labels(stream.get("stream", {}), where + ".stream")
        values = stream.get("values", [])
        if not isinstance(values, list):
            raise RequestRefused(400, f"{where}.values must be a list of [timestamp, line] pairs")
        core = CoreLabels(labels)
        start = len(batch.columns.message)
        overrides = _json_entries(batch, labels, values, where)
        batch.close_stream(core, start, overrides)
    return batch.result(max_line_bytes)


def _json_labels(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise RequestRefused(400, f"{where} must be an object of label names to values")
    return {str(k): v if isinstance(v, str) else json_text(v) for k, v in value.items()}


def _json_entries(
    batch: _Batch, labels: dict[str, str], values: Iterable[object], where: str
) -> list[tuple[int, dict[str, str]]]:
    overrides: list[tuple[int, dict[str, str]]] = []
    ts_us = batch.columns.ts_us
    messages = batch.columns.message
    for i, value in enumerate(values):
        if not isinstance(value, list) or len(value) not in (2, 3) or not isinstance(value[1], str):
            raise RequestRefused(
                400, f'{where}.values[{i}] must be ["<unix epoch ns>", "<line>"] or with a metadata object'
            )
        ts, line = value[0], value[1]
        us = _ns_to_us(ts)
        if us is None:
            batch.reject(labels, ts, line, f"invalid timestamp {str(ts)[:40]!r}: expected unix epoch nanoseconds")
            continue
        ts_us.append(us)
        messages.append(line)
        if len(value) == 3 and value[2]:
            metadata = _json_labels(value[2], f"{where}.values[{i}][2]")
            overrides.append((len(messages) - 1, metadata))
    return overrides


def _ns_to_us(ts: object) -> int | None:
    if isinstance(ts, str):
        if not (ts.isascii() and ts.isdigit()) or len(ts) > 19:
            return None
        return int(ts) // 1000
    if isinstance(ts, int) and not isinstance(ts, bool) and 0 <= ts < 1 << 63:
        return ts // 1000
    return None
