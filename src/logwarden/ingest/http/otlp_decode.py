"""Decode OTLP logs (ExportLogsServiceRequest, protobuf or OTLP/JSON) into record tables.

Mapping: resource `service.name` → service, `host.name` → host, other resource attributes → attrs
`resource.<key>`; scope name/version/attributes → attrs `scope.*`; `time_unix_nano` (else
`observed_time_unix_nano`) → ts; severity number → severity, severity text → level (the number decides
when the text is missing, unknown or says the same; the other value stays in attrs when they differ);
trace and span ids → lowercase hex; body → message (strings as they are, other values as JSON); record
attributes and `event_name` → attrs. Nested key/value lists flatten to dotted keys, as everywhere.

Protobuf bodies are parsed by protobuf (upb) and walked message by message. OTLP/JSON differs from
proto3 JSON (hex ids) and json_format.ParseDict costs ~50 µs a record, so JSON bodies are walked as
the dicts orjson returns, accepting both lowerCamelCase and snake_case keys and enums as numbers or
names. A record that cannot be stored as sent (an id of the wrong length or not hex, a value of the
wrong type) is rejected: dead-letter stream, and counted in partial_success. A body that is not a
request at all is a 400.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, SeverityNumber

from logwarden.ingest.http.columns import RecordColumns, check_line_lengths, json_text
from logwarden.ingest.http.errors import RequestRefused
from logwarden.ingest.json_depth import DEFAULT_MAX_JSON_DEPTH, depth_reason, too_deep
from logwarden.ingest.ndjson import DecodedBody
from logwarden.model.flatten import flatten_record
from logwarden.model.levels import level_from_otel_severity, normalize_level_text

_TRACE_ID_BYTES = 16
_SPAN_ID_BYTES = 8
_NO_TRACE = bytes(_TRACE_ID_BYTES)
_NO_SPAN = bytes(_SPAN_ID_BYTES)
# LogRecord.event_name arrived with OTLP 1.5; older opentelemetry-proto packages lack the field.
_HAS_EVENT_NAME = "event_name" in LogRecord.DESCRIPTOR.fields_by_name


@dataclass(slots=True)
class DecodedLogs:
    """Records and dead letters, plus the first rejection reason for the partial_success message."""

    body: DecodedBody
    first_error: str | None = None


class _BadRecordError(ValueError):
    """A record that cannot be stored as sent; the message says why."""


class _LogColumns:
    """Column lists for the records of one request, plus the rejected ones."""

    def __init__(self) -> None:
        self.columns = RecordColumns()
        self.numbers: list[int | None] = []
        self.texts: list[str | None] = []
        self.rejected: list[tuple[str, str]] = []

    def result(self, max_line_bytes: int) -> DecodedLogs:
        table = self.columns.table(_severity_columns(self.numbers, self.texts) if self.numbers else None)
        check_line_lengths(table, max_line_bytes)
        first = self.rejected[0][1] if self.rejected else None
        return DecodedLogs(DecodedBody(table, self.rejected), first)


def _merge_objects(base: str | None, extra: dict[str, Any]) -> str | None:
    """One JSON object text from a ready-made one and a dict (textual merge: no re-encoding of `base`)."""
    if not extra:
        return base
    text = json_text(extra)
    return text if base is None else base[:-1] + "," + text[1:]


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json_text(value)


def _scope_base(resource: dict[str, Any], name: Any, version: Any, scope_attrs: dict[str, Any]) -> dict[str, Any]:
    base = {"resource." + k: v for k, v in resource.items()}
    if name:
        base["scope.name"] = name
    if version:
        base["scope.version"] = version
    base.update({"scope." + k: v for k, v in scope_attrs.items()})
    return base


# Protobuf.


def any_value(value: AnyValue) -> Any:
    """An AnyValue as a Python value (bytes as base64 text, as in OTLP/JSON)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def attributes(kvs: Iterable[KeyValue]) -> dict[str, Any]:
    """Key/values as a flat dict (nested key/value lists joined with dots), empty values left out."""
    out: dict[str, Any] = {}
    for kv in kvs:
        value = kv.value
        out[kv.key] = value.string_value if value.WhichOneof("value") == "string_value" else any_value(value)
    return flatten_record(out)


def decode_protobuf_logs(body: bytes, max_line_bytes: int) -> DecodedLogs:
    """A binary ExportLogsServiceRequest → records."""
    try:
        request = ExportLogsServiceRequest.FromString(body)
    except DecodeError as exc:
        raise RequestRefused(400, f"body is not a valid OTLP ExportLogsServiceRequest (truncated?): {exc}") from None
    out = _LogColumns()
    cols = out.columns
    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        service = _text(resource.pop("service.name", None))
        host = _text(resource.pop("host.name", None))
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope
            context = _scope_base(resource, scope.name, scope.version, attributes(scope.attributes))
            base = json_text(context) if context else None
            for record in scope_logs.log_records:
                trace_id = record.trace_id
                span_id = record.span_id
                if (trace_id and len(trace_id) != _TRACE_ID_BYTES) or (span_id and len(span_id) != _SPAN_ID_BYTES):
                    out.rejected.append(_rejected_protobuf(record, service, host, context))
                    continue
                nanos = record.time_unix_nano or record.observed_time_unix_nano
                cols.ts_us.append(nanos // 1000 if nanos else None)
                body_value = record.body
                kind = body_value.WhichOneof("value")
                if kind == "string_value":
                    cols.message.append(body_value.string_value)
                else:
                    cols.message.append(None if kind is None else json_text(any_value(body_value)))
                cols.service.append(service)
                cols.host.append(host)
                cols.trace_id.append(trace_id.hex() if trace_id and trace_id != _NO_TRACE else None)
                cols.span_id.append(span_id.hex() if span_id and span_id != _NO_SPAN else None)
                extra = attributes(record.attributes)
                if _HAS_EVENT_NAME and record.event_name:
                    extra["event_name"] = record.event_name
                cols.attrs.append(_merge_objects(base, extra))
                out.numbers.append(record.severity_number or None)
                out.texts.append(record.severity_text or None)
    return out.result(max_line_bytes)


def _rejected_protobuf(
    record: LogRecord, service: str | None, host: str | None, context: dict[str, Any]
) -> tuple[str, str]:
    parts = []
    if record.trace_id and len(record.trace_id) != _TRACE_ID_BYTES:
        parts.append(f"trace_id must be {_TRACE_ID_BYTES} bytes, got {len(record.trace_id)}")
    if record.span_id and len(record.span_id) != _SPAN_ID_BYTES:
        parts.append(f"span_id must be {_SPAN_ID_BYTES} bytes, got {len(record.span_id)}")
    raw = {"service.name": service, "host.name": host, **context, "logRecord": json_format.MessageToDict(record)}
    return json_text(raw), "; ".join(parts)


# OTLP/JSON.


def _field(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _list(obj: Any, camel: str, snake: str, where: str) -> list[Any]:
    if not isinstance(obj, dict):
        raise RequestRefused(400, f"{where} must be an object")
    value = _field(obj, camel, snake)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RequestRefused(400, f"{where}.{camel} must be a list")
    return value


def json_any_value(value: Any) -> Any:
    """An OTLP/JSON AnyValue (`{"stringValue": ...}`, `{"intValue": "5"}`, ...) as a Python value."""
    if not isinstance(value, dict):
        raise _BadRecordError(f"an AnyValue must be an object, got {str(value)[:60]!r}")
    if not value:
        return None
    key, inner = next(iter(value.items()))
    if key in ("stringValue", "string_value") and isinstance(inner, str):
        return inner
    if key in ("intValue", "int_value") and isinstance(inner, str | int) and not isinstance(inner, bool):
        try:
            return int(inner)
        except ValueError:
            raise _BadRecordError(f"intValue {inner!r} is not an integer") from None
    if key in ("doubleValue", "double_value") and isinstance(inner, int | float | str) and not isinstance(inner, bool):
        try:
            return float(inner)
        except ValueError:
            raise _BadRecordError(f"doubleValue {inner!r} is not a number") from None
    if key in ("boolValue", "bool_value") and isinstance(inner, bool):
        return inner
    if key in ("bytesValue", "bytes_value") and isinstance(inner, str):
        return inner
    if key in ("arrayValue", "array_value") and isinstance(inner, dict):
        values = inner.get("values") or []
        if isinstance(values, list):
            return [json_any_value(v) for v in values]
    if key in ("kvlistValue", "kvlist_value") and isinstance(inner, dict):
        values = inner.get("values") or []
        if isinstance(values, list):
            return {_key(kv): json_any_value(kv.get("value") or {}) for kv in values}
    raise _BadRecordError(f"unsupported AnyValue {json_text(value)[:80]}")


def _key(kv: Any) -> str:
    if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
        raise _BadRecordError(f"an attribute must be {{'key': ..., 'value': ...}}, got {str(kv)[:60]!r}")
    key: str = kv["key"]
    return key


def json_attributes(kvs: Any) -> dict[str, Any]:
    """OTLP/JSON key/values as a flat dict, like `attributes`."""
    if kvs is None:
        return {}
    if not isinstance(kvs, list):
        raise _BadRecordError("attributes must be a list")
    return flatten_record({_key(kv): json_any_value(kv.get("value") or {}) for kv in kvs})


def _nanos(record: dict[str, Any], camel: str, snake: str) -> int:
    value = _field(record, camel, snake)
    if value is None:
        return 0
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64:
        return value  # a fixed64, as in the protobuf encoding
    raise _BadRecordError(f"{camel} {str(value)[:40]!r} is not unix epoch nanoseconds (an unsigned 64-bit number)")


def _hex_id(record: dict[str, Any], camel: str, snake: str, size: int) -> str | None:
    value = _field(record, camel, snake)
    if value is None or value == "":
        return None
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None:
        raise _BadRecordError(f"{camel} {str(value)[:64]!r} is not a hex string")
    if len(raw) != size:
        raise _BadRecordError(f"{camel} must be {size} bytes ({size * 2} hex digits), got {len(raw)}")
    return None if raw == bytes(size) else raw.hex()


def _severity_number(record: dict[str, Any]) -> int | None:
    value = _field(record, "severityNumber", "severity_number")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value or None
    if isinstance(value, str):
        try:
            return SeverityNumber.Value(value) or None
        except ValueError:
            pass
    raise _BadRecordError(f"severityNumber {str(value)[:40]!r} is not a SeverityNumber")


def decode_json_logs(body: bytes, max_line_bytes: int, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> DecodedLogs:
    """An OTLP/JSON ExportLogsServiceRequest (hex ids, camelCase or snake_case keys) → records."""
    if too_deep(body, max_depth):  # the envelope included: a log body nests about 4 levels per map
        raise RequestRefused(400, f"body is {depth_reason(max_depth)}")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestRefused(400, f"body is not valid JSON: {exc}") from None
    out = _LogColumns()
    for r, resource_logs in enumerate(_list(data, "resourceLogs", "resource_logs", "body")):
        where = f"resourceLogs[{r}]"
        resource_obj = resource_logs.get("resource") if isinstance(resource_logs, dict) else None
        if resource_obj is not None and not isinstance(resource_obj, dict):
            raise RequestRefused(400, f"{where}.resource must be an object")
        try:
            resource = json_attributes(resource_obj.get("attributes") if resource_obj else None)
        except _BadRecordError as exc:
            raise RequestRefused(400, f"{where}.resource: {exc}") from None
        service = _text(resource.pop("service.name", None))
        host = _text(resource.pop("host.name", None))
        for s, scope_logs in enumerate(_list(resource_logs, "scopeLogs", "scope_logs", where)):
            scope_where = f"{where}.scopeLogs[{s}]"
            records = _list(scope_logs, "logRecords", "log_records", scope_where)
            scope = _field(scope_logs, "scope", "scope") or {}
            if not isinstance(scope, dict):
                raise RequestRefused(400, f"{scope_where}.scope must be an object")
            try:
                scope_attrs = json_attributes(scope.get("attributes"))
            except _BadRecordError as exc:
                raise RequestRefused(400, f"{scope_where}.scope: {exc}") from None
            context = _scope_base(resource, scope.get("name"), scope.get("version"), scope_attrs)
            base = json_text(context) if context else None
            for record in records:
                try:
                    _json_record(out, record, service, host, base)
                except _BadRecordError as exc:
                    raw = {"service.name": service, "host.name": host, **context, "logRecord": record}
                    out.rejected.append((json_text(raw), str(exc)))
    return out.result(max_line_bytes)


def _json_record(out: _LogColumns, record: Any, service: str | None, host: str | None, base: str | None) -> None:
    """Append one OTLP/JSON log record; _BadRecordError (nothing appended) when it cannot be stored."""
    if not isinstance(record, dict):
        raise _BadRecordError("a log record must be an object")
    nanos = _nanos(record, "timeUnixNano", "time_unix_nano") or _nanos(
        record, "observedTimeUnixNano", "observed_time_unix_nano"
    )
    trace_id = _hex_id(record, "traceId", "trace_id", _TRACE_ID_BYTES)
    span_id = _hex_id(record, "spanId", "span_id", _SPAN_ID_BYTES)
    number = _severity_number(record)
    text = _field(record, "severityText", "severity_text")
    if text is not None and not isinstance(text, str):
        raise _BadRecordError("severityText must be a string")
    body = record.get("body")
    message = None if body is None else json_any_value(body)
    extra = json_attributes(record.get("attributes"))
    event_name = _field(record, "eventName", "event_name")
    if event_name:
        extra["event_name"] = event_name
    cols = out.columns
    cols.ts_us.append(nanos // 1000 if nanos else None)
    cols.message.append(message if message is None or isinstance(message, str) else json_text(message))
    cols.service.append(service)
    cols.host.append(host)
    cols.trace_id.append(trace_id)
    cols.span_id.append(span_id)
    cols.attrs.append(_merge_objects(base, extra))
    out.numbers.append(number)
    out.texts.append(text or None)


# Severity, column-wise.


def _severity_columns(numbers: list[int | None], texts: list[str | None]) -> dict[str, pa.Array]:
    """`level` (a severity number as text, or the severity text) and what it leaves out, column-wise."""
    nums = pa.array(numbers, pa.int64())
    text = pa.array(texts, pa.string())
    by_number = level_from_otel_severity(nums)
    by_text = normalize_level_text(text)
    agree = pc.fill_null(pc.equal(by_text, by_number), False)
    use_number = pc.fill_null(pc.and_(pc.is_valid(by_number), pc.or_(pc.is_null(by_text), agree)), False)
    columns = {"level": pc.if_else(use_number, pc.cast(nums, pa.string()), text)}
    # The text when the number decided and the text says more than the level name ("Information").
    differs = pc.fill_null(pc.not_equal(pc.utf8_upper(pc.utf8_trim_whitespace(text)), by_number), False)
    kept_text = pc.if_else(pc.and_(use_number, differs), text, pa.scalar(None, pa.string()))
    if kept_text.null_count < len(kept_text):
        columns["severity_text"] = kept_text
    # The number when the text decided (or the number is out of range).
    kept_number = pc.if_else(pc.invert(use_number), nums, pa.scalar(None, pa.int64()))
    if kept_number.null_count < len(kept_number):
        columns["severity_number"] = kept_number
    return columns
