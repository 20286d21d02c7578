"""OTLP/HTTP logs in-process: protobuf and JSON encodings, field mapping, partial success, errors."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.ingest.http.otlp import status_message
from tests.conftest import make_config
from tests.unit.ingest.http.searching import by_message, parse_ts, recent, stored

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def ns(ts: datetime) -> int:
    return int(ts.timestamp()) * 1_000_000_000 + ts.microsecond * 1000 + 123


def kv(key: str, value: Any) -> KeyValue:
    return KeyValue(key=key, value=anyv(value))


def anyv(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[anyv(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=[kv(k, v) for k, v in value.items()]))
    return AnyValue(string_value=value)


def request(*records: LogRecord, resource: dict[str, Any] | None = None) -> ExportLogsServiceRequest:
    res = (
        {"service.name": "checkout", "host.name": "web-1", "deployment.environment": "prod"}
        if resource is None
        else resource
    )
    scope = InstrumentationScope(name="app.payments", version="2.1", attributes=[kv("lib", "otel")])
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(attributes=[kv(k, v) for k, v in res.items()]),
                scope_logs=[ScopeLogs(scope=scope, log_records=list(records))],
            )
        ]
    )


def post(client: TestClient, req: ExportLogsServiceRequest, **headers: str) -> ExportLogsServiceResponse:
    resp = client.post("/v1/logs", content=req.SerializeToString(), headers={**PROTOBUF, **headers})
    assert resp.status_code == 200, resp.content
    assert resp.headers["content-type"] == "application/x-protobuf"
    return ExportLogsServiceResponse.FromString(resp.content)


def test_protobuf_records_map_onto_core_fields(client: TestClient) -> None:
    ts = recent()
    record = LogRecord(
        time_unix_nano=ns(ts),
        observed_time_unix_nano=ns(recent(1)),
        severity_number=SeverityNumber.SEVERITY_NUMBER_ERROR2,
        severity_text="ERROR",
        body=anyv("card declined"),
        attributes=[
            kv("http.status_code", 402),
            kv("retry", True),
            kv("amount", 12.5),
            kv("tags", ["a", "b"]),
            kv("user", {"id": "u1", "plan": {"tier": "gold"}}),
            kv("raw", b"\x00\x01"),
        ],
        trace_id=bytes.fromhex(TRACE),
        span_id=bytes.fromhex(SPAN),
        event_name="payment.declined",
    )
    answer = post(client, request(record))
    assert not answer.HasField("partial_success")
    (hit,) = stored(client)
    assert parse_ts(hit["ts"]) == ts
    assert hit["message"] == "card declined"
    assert (hit["service"], hit["host"]) == ("checkout", "web-1")
    assert (hit["level"], hit["severity"]) == ("ERROR", 18)
    assert (hit["trace_id"], hit["span_id"]) == (TRACE, SPAN)
    assert hit["source"] == "otlp"
    assert hit["attrs"] == {
        "resource.deployment.environment": "prod",
        "scope.name": "app.payments",
        "scope.version": "2.1",
        "scope.lib": "otel",
        "http.status_code": 402,
        "retry": True,
        "amount": 12.5,
        "tags": ["a", "b"],
        "user.id": "u1",
        "user.plan.tier": "gold",
        "raw": "AAE=",
        "event_name": "payment.declined",
    }


def test_structured_body_is_json_text(client: TestClient) -> None:
    post(client, request(LogRecord(time_unix_nano=ns(recent()), body=anyv({"event": "login", "ok": True}))))
    (hit,) = stored(client)
    assert orjson.loads(hit["message"]) == {"event": "login", "ok": True}


def test_observed_time_when_no_event_time_and_receive_time_when_neither(client: TestClient) -> None:
    observed = recent(2)
    post(
        client,
        request(LogRecord(observed_time_unix_nano=ns(observed), body=anyv("observed")), LogRecord(body=anyv("none"))),
    )
    hits = by_message(stored(client))
    assert parse_ts(hits["observed"]["ts"]) == observed
    assert hits["none"]["ts"] == hits["none"]["observed_ts"]


@pytest.mark.parametrize(
    ("number", "text", "level", "severity", "extra"),
    [
        (SeverityNumber.SEVERITY_NUMBER_WARN3, "", "WARN", 15, {}),
        (0, "warning", "WARN", 13, {}),
        (SeverityNumber.SEVERITY_NUMBER_INFO, "INFO", "INFO", 9, {}),
        (SeverityNumber.SEVERITY_NUMBER_INFO, "Information", "INFO", 9, {"severity_text": "Information"}),
        (SeverityNumber.SEVERITY_NUMBER_DEBUG, "error", "ERROR", 17, {"severity_number": 5}),
        (SeverityNumber.SEVERITY_NUMBER_FATAL, "shout", "FATAL", 21, {"severity_text": "shout"}),
        (0, "shout", None, None, {"level": "shout"}),
        (0, "", None, None, {}),
    ],
)
def test_severity_number_and_text(
    client: TestClient, number: int, text: str, level: str | None, severity: int | None, extra: dict[str, Any]
) -> None:
    record = LogRecord(time_unix_nano=ns(recent()), severity_number=number, severity_text=text, body=anyv("sev"))  # type: ignore[arg-type]
    post(client, request(record, resource={"service.name": "s"}))
    (hit,) = stored(client)
    assert (hit["level"], hit["severity"]) == (level, severity)
    assert {k: v for k, v in hit["attrs"].items() if not k.startswith("scope.")} == extra


def test_bad_ids_are_rejected_as_partial_success(client: TestClient) -> None:
    good = LogRecord(time_unix_nano=ns(recent()), body=anyv("good"), trace_id=bytes.fromhex(TRACE))
    bad = LogRecord(
        time_unix_nano=ns(recent()), body=anyv("bad"), trace_id=b"\x01\x02\x03", span_id=bytes.fromhex(SPAN)
    )
    answer = post(client, request(good, bad))
    assert answer.partial_success.rejected_log_records == 1
    assert "trace_id must be 16 bytes, got 3" in answer.partial_success.error_message
    assert [h["message"] for h in stored(client, source="otlp")] == ["good"]
    (dead,) = stored(client, source="dead_letter")
    raw = orjson.loads(dead["message"])
    assert raw["service.name"] == "checkout"
    assert raw["logRecord"]["body"] == {"stringValue": "bad"}
    assert dead["attrs"]["original_source"] == "otlp"


def test_zero_ids_mean_no_trace(client: TestClient) -> None:
    post(client, request(LogRecord(body=anyv("z"), trace_id=bytes(16), span_id=bytes(8))))
    (hit,) = stored(client)
    assert (hit["trace_id"], hit["span_id"]) == (None, None)


def json_request(ts: datetime, **record: Any) -> dict[str, Any]:
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
                "scopeLogs": [
                    {
                        "scope": {"name": "browser"},
                        "logRecords": [
                            {
                                "timeUnixNano": str(ns(ts)),
                                "severityNumber": 17,
                                "body": {"stringValue": "clicked"},
                                "attributes": [{"key": "n", "value": {"intValue": "7"}}],
                                **record,
                            }
                        ],
                    }
                ],
            }
        ]
    }


def test_json_encoding_with_hex_ids(client: TestClient) -> None:
    ts = recent()
    body = json_request(ts, traceId=TRACE.upper(), spanId=SPAN, unknownField=1)
    resp = client.post("/v1/logs", content=orjson.dumps(body), headers=JSON)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {}
    (hit,) = stored(client)
    assert parse_ts(hit["ts"]) == ts
    assert (hit["service"], hit["level"], hit["severity"]) == ("web", "ERROR", 17)
    assert (hit["trace_id"], hit["span_id"]) == (TRACE, SPAN)
    assert hit["attrs"] == {"scope.name": "browser", "n": 7}


def test_json_snake_case_and_enum_names(client: TestClient) -> None:
    body = {
        "resource_logs": [
            {
                "scope_logs": [
                    {
                        "log_records": [
                            {
                                "time_unix_nano": ns(recent()),
                                "severity_number": "SEVERITY_NUMBER_WARN",
                                "body": {"string_value": "snake"},
                                "trace_id": TRACE,
                            }
                        ]
                    }
                ]
            }
        ]
    }
    resp = client.post("/v1/logs", content=orjson.dumps(body), headers=JSON)
    assert resp.status_code == 200, resp.text
    (hit,) = stored(client)
    assert (hit["message"], hit["level"], hit["trace_id"]) == ("snake", "WARN", TRACE)


def test_json_bad_hex_id_is_partial_success(client: TestClient) -> None:
    body = json_request(recent(), traceId="not-hex")
    body["resourceLogs"][0]["scopeLogs"][0]["logRecords"].append({"body": {"stringValue": "fine"}})
    resp = client.post("/v1/logs", content=orjson.dumps(body), headers=JSON)
    assert resp.status_code == 200
    assert resp.json() == {
        "partialSuccess": {
            "rejectedLogRecords": "1",
            "errorMessage": "1 log record(s) rejected (kept in the dead-letter stream): "
            "traceId 'not-hex' is not a hex string",
        }
    }
    assert [h["message"] for h in stored(client, source="otlp")] == ["fine"]
    (dead,) = stored(client, source="dead_letter")
    raw = orjson.loads(dead["message"])
    assert raw["logRecord"]["traceId"] == "not-hex"
    assert raw["service.name"] == "web"


def test_gzip_and_tenant(client: TestClient) -> None:
    body = gzip.compress(request(LogRecord(body=anyv("zipped"))).SerializeToString())
    post(client, request(LogRecord(body=anyv("plain"))))
    resp = client.post(
        "/v1/logs", content=body, headers={**PROTOBUF, "Content-Encoding": "gzip", "X-Scope-OrgID": "t2"}
    )
    assert resp.status_code == 200
    assert [h["message"] for h in stored(client, tenant="t2")] == ["zipped"]
    assert [h["message"] for h in stored(client)] == ["plain"]


def test_truncated_protobuf_is_400_with_a_status(client: TestClient) -> None:
    full = request(LogRecord(body=anyv("x" * 100))).SerializeToString()
    resp = client.post("/v1/logs", content=full[:-20], headers=PROTOBUF)
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/x-protobuf"
    status = status_pb2.Status.FromString(resp.content)
    assert status.code == 3
    assert "ExportLogsServiceRequest" in status.message
    assert stored(client) == []


def test_invalid_json_is_400_with_a_json_status(client: TestClient) -> None:
    for body in (
        b"{nope",
        b"[1]",
        b'{"resourceLogs": "x"}',
        b'{"resourceLogs": [{"scopeLogs": {}}]}',
        b'{"resourceLogs": [{"resource": {"attributes": [{"value": {"stringValue": "no key"}}]}}]}',
    ):
        resp = client.post("/v1/logs", content=body, headers=JSON)
        assert resp.status_code == 400, body
        answer = resp.json()
        assert answer["code"] == 3
        assert answer["message"]


def test_invalid_utf8_in_protobuf_is_400(client: TestClient) -> None:
    raw = request(LogRecord(body=anyv("marker"))).SerializeToString().replace(b"marker", b"mark\xff\xfe")
    resp = client.post("/v1/logs", content=raw, headers=PROTOBUF)
    assert resp.status_code == 400
    assert "UTF-8" in status_pb2.Status.FromString(resp.content).message


def test_wrong_content_type_is_415(client: TestClient) -> None:
    resp = client.post("/v1/logs", content=b"x", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415
    assert resp.json()["code"] == 3


def test_oversized_body_is_413_and_throttling_keeps_retry_after(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"ingest.max_body_bytes": 500, "ingest.max_line_bytes": 100})
    with TestClient(create_app(cfg, run_maintenance=False)) as c:
        big = request(*[LogRecord(body=anyv("y" * 90)) for _ in range(10)]).SerializeToString()
        resp = c.post("/v1/logs", content=big, headers=PROTOBUF)
        assert resp.status_code == 413
        assert "max_body_bytes" in status_pb2.Status.FromString(resp.content).message
        long_line = request(LogRecord(body=anyv("z" * 200))).SerializeToString()
        resp = c.post("/v1/logs", content=long_line, headers=PROTOBUF)
        assert resp.status_code == 413
        assert "max_line_bytes" in status_pb2.Status.FromString(resp.content).message


def test_status_message_encoding() -> None:
    status = status_pb2.Status.FromString(status_message(14, "é" * 100))
    assert (status.code, status.message) == (14, "é" * 100)


def test_json_records_of_the_wrong_shape_are_rejected_one_by_one(client: TestClient) -> None:
    good = {"body": {"stringValue": "fine"}}
    bad = [
        {"timeUnixNano": "soon", "body": {"stringValue": "a"}},
        {"body": {"intValue": "many"}},
        {"body": {"stringValue": "c"}, "attributes": {"not": "a list"}},
        {"severityNumber": "SEVERITY_NUMBER_LOUD"},
        {"spanId": "abcd"},
        "not a record",
    ]
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [*bad, good]}]}]}
    resp = client.post("/v1/logs", content=orjson.dumps(body), headers=JSON)
    assert resp.status_code == 200
    partial = resp.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "6"
    assert "timeUnixNano 'soon'" in partial["errorMessage"]
    assert [h["message"] for h in stored(client, source="otlp")] == ["fine"]
    reasons = sorted(h["attrs"]["error"] for h in stored(client, source="dead_letter"))
    assert reasons == sorted(
        [
            "timeUnixNano 'soon' is not unix epoch nanoseconds (an unsigned 64-bit number)",
            "intValue 'many' is not an integer",
            "attributes must be a list",
            "severityNumber 'SEVERITY_NUMBER_LOUD' is not a SeverityNumber",
            "spanId must be 8 bytes (16 hex digits), got 2",
            "a log record must be an object",
        ]
    )


def test_json_any_values_match_the_protobuf_mapping(client: TestClient) -> None:
    values = {
        "s": "text",
        "i": 7,
        "d": 2.5,
        "b": False,
        "raw": b"\x00\x01",
        "arr": [1, "two", True],
        "obj": {"inner": {"deep": 1.5}},
    }
    proto = request(LogRecord(body=anyv(values), attributes=[kv(k, v) for k, v in values.items()]), resource={})
    as_json = json_format.MessageToDict(proto)
    client.post("/v1/logs", content=proto.SerializeToString(), headers={**PROTOBUF, "X-Scope-OrgID": "pb"})
    resp = client.post("/v1/logs", content=orjson.dumps(as_json), headers={**JSON, "X-Scope-OrgID": "js"})
    assert resp.status_code == 200, resp.text
    (from_proto,) = stored(client, tenant="pb")
    (from_json,) = stored(client, tenant="js")
    for key in ("message", "attrs", "level", "severity", "service", "host"):
        assert from_json[key] == from_proto[key], key
    assert from_proto["attrs"]["obj.inner.deep"] == 1.5
    assert from_proto["attrs"]["raw"] == "AAE="
    assert orjson.loads(from_proto["message"])["arr"] == [1, "two", True]
