"""The benchmark's request bodies in each wire protocol logwarden speaks, built from the same records.

native   POST /api/v1/ingest        NDJSON
es_bulk  POST /_bulk                 Elasticsearch bulk (create action + source per line)
loki     POST /loki/api/v1/push      Loki protobuf + snappy (what Promtail sends), streams by labels
otlp     POST /v1/logs               OTLP/HTTP protobuf, one ResourceLogs per service/host
syslog-tcp                           RFC 5424 frames with octet counting (RFC 6587) on a TCP socket
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson

PROTOCOLS = ("native", "es_bulk", "loki", "otlp", "syslog-tcp")
HTTP_PATHS = {
    "native": "/api/v1/ingest",
    "es_bulk": "/_bulk",
    "loki": "/loki/api/v1/push",
    "otlp": "/v1/logs",
}
CONTENT_TYPES = {
    "native": "application/x-ndjson",
    "es_bulk": "application/x-ndjson",
    "loki": "application/x-protobuf",
    "otlp": "application/x-protobuf",
}
_SEVERITY = {"debug": 5, "info": 9, "warn": 13, "warning": 13, "error": 17, "fatal": 21}
_SYSLOG_SEVERITY = {"debug": 7, "info": 6, "warn": 4, "warning": 4, "error": 3, "fatal": 2}


@dataclass(frozen=True, slots=True)
class Encoded:
    path: str | None  # None for syslog
    content_type: str | None
    payload: bytes  # what goes on the wire (HTTP body, or the concatenated syslog frames)


def encode(protocol: str, lines: list[bytes]) -> Encoded:
    """One request (or one burst of syslog frames) carrying `lines` (NDJSON records)."""
    if protocol == "native":
        return Encoded(HTTP_PATHS[protocol], CONTENT_TYPES[protocol], b"\n".join(lines) + b"\n")
    if protocol == "es_bulk":
        action = b'{"create":{"_index":"logs-bench"}}'
        return Encoded(
            HTTP_PATHS[protocol], CONTENT_TYPES[protocol], b"".join(action + b"\n" + ln + b"\n" for ln in lines)
        )
    records = [orjson.loads(ln) for ln in lines]
    if protocol == "loki":
        return Encoded(HTTP_PATHS[protocol], CONTENT_TYPES[protocol], _loki(records))
    if protocol == "otlp":
        return Encoded(HTTP_PATHS[protocol], CONTENT_TYPES[protocol], _otlp(records))
    if protocol == "syslog-tcp":
        return Encoded(None, None, _syslog(records))
    raise ValueError(f"unknown protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")


def _ns(ts: str) -> int:
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1_000_000) * 1000


def _rest(rec: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in rec.items() if k not in ("ts", "level", "msg", "service", "host", "trace_id")}


def _loki(records: list[dict[str, object]]) -> bytes:
    import cramjam

    from logwarden.ingest.http.proto import loki_push_pb2 as pb

    streams: dict[tuple[str, str, str], list[dict[str, object]]] = {}
    for rec in records:
        key = (str(rec.get("service", "")), str(rec.get("host", "")), str(rec.get("level", "")).lower())
        streams.setdefault(key, []).append(rec)
    req = pb.PushRequest()
    for (service, host, level), recs in streams.items():
        stream = req.streams.add()
        stream.labels = f'{{service_name="{service}", host="{host}", level="{level}"}}'
        for rec in recs:
            entry = stream.entries.add()
            ns = _ns(str(rec["ts"]))
            entry.timestamp.seconds, entry.timestamp.nanos = divmod(ns, 1_000_000_000)
            entry.line = orjson.dumps({"msg": rec["msg"], **_rest(rec)}).decode()
            if rec.get("trace_id"):
                meta = entry.structuredMetadata.add()
                meta.name, meta.value = "trace_id", str(rec["trace_id"])
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def _otlp(records: list[dict[str, object]]) -> bytes:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue

    groups: dict[tuple[str, str], list[dict[str, object]]] = {}
    for rec in records:
        groups.setdefault((str(rec.get("service", "")), str(rec.get("host", ""))), []).append(rec)
    req = ExportLogsServiceRequest()
    for (service, host), recs in groups.items():
        rl = req.resource_logs.add()
        for key, value in (("service.name", service), ("host.name", host)):
            rl.resource.attributes.append(KeyValue(key=key))
            rl.resource.attributes[-1].value.string_value = value
        scope = rl.scope_logs.add()
        scope.scope.name = "bench"
        for rec in recs:
            lr = scope.log_records.add()
            lr.time_unix_nano = _ns(str(rec["ts"]))
            level = str(rec.get("level", "info")).lower()
            lr.severity_text = level.upper()
            lr.severity_number = _SEVERITY.get(level, 9)  # type: ignore[assignment]
            lr.body.string_value = str(rec["msg"])
            if rec.get("trace_id"):
                lr.trace_id = bytes.fromhex(str(rec["trace_id"]))
            for key, value in _rest(rec).items():
                kv = lr.attributes.add()
                kv.key = key
                if isinstance(value, bool):
                    kv.value.bool_value = value
                elif isinstance(value, int):
                    kv.value.int_value = value
                elif isinstance(value, float):
                    kv.value.double_value = value
                else:
                    kv.value.string_value = value if isinstance(value, str) else orjson.dumps(value).decode()
    return bytes(req.SerializeToString())


def _syslog(records: list[dict[str, object]]) -> bytes:
    frames = []
    for rec in records:
        severity = _SYSLOG_SEVERITY.get(str(rec.get("level", "info")).lower(), 6)
        pri = 16 * 8 + severity  # facility local0
        sd = "-"
        if rec.get("trace_id"):
            sd = f'[trace@32473 id="{rec["trace_id"]}"]'
        msg = f"<{pri}>1 {rec['ts']} {rec.get('host', '-')} {rec.get('service', '-')} - - {sd} {rec['msg']}".encode()
        frames.append(b"%d %b" % (len(msg), msg))
    return b"".join(frames)
