"""Real shipper clients against a real `logwarden serve`: the Elasticsearch Python client, the
OpenTelemetry SDK's OTLP/HTTP log exporter, and Loki pushes built from Loki's push.proto."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cramjam
import httpx
import orjson
import pytest
from elasticsearch import Elasticsearch, helpers
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from logwarden.ingest.http.proto import loki_push_pb2 as logproto
from tests.conftest import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module; each test writes to a tenant of its own."""
    proc = ServerProcess(Path(tmp_path_factory.mktemp("shippers")) / "data")
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.close()


@pytest.fixture
def tenant() -> str:
    return "t-" + uuid.uuid4().hex[:12]


def search(server: ServerProcess, tenant: str, **params: str) -> list[dict[str, Any]]:
    resp = httpx.get(
        server.url + "/api/v1/search",
        params={"start": "1d", "limit": "10000", **params},
        headers={"X-Scope-OrgID": tenant},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    hits: list[dict[str, Any]] = resp.json()["hits"]
    return hits


def recent(minutes_ago: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes_ago)


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def to_ns(ts: datetime) -> int:
    return int(ts.timestamp()) * 1_000_000_000 + ts.microsecond * 1000


def test_elasticsearch_client_bulk_and_setup_calls(server: ServerProcess, tenant: str) -> None:
    es = Elasticsearch(server.url, headers={"X-Scope-OrgID": tenant}, request_timeout=30)
    info = es.info()
    assert info["version"]["number"].startswith("8.")
    assert info["tagline"] == "You Know, for Search"
    # What index-management code of shippers does before writing: all answered harmlessly.
    assert es.indices.put_index_template(name="logs", index_patterns=["logs-*"], template={})["acknowledged"]
    assert es.ilm.put_lifecycle(name="logs", policy={"phases": {}})["acknowledged"]
    assert es.indices.exists(index="logs-shop-2026.11.21")
    assert es.license.get()["license"]["status"] == "active"

    base = recent(10)
    actions = [
        {
            "_op_type": "index" if i % 2 else "create",
            "_index": "logs-shop-2026.11.21" if i < 150 else "logs-search-2026.11.21",
            "_id": f"doc-{i}",
            "_source": {
                "@timestamp": (base + timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z"),
                "message": f"request {i} handled",
                "log": {"level": "error" if i % 50 == 0 else "info"},
                "host": {"name": f"web-{i % 3}"},
                **({"service": {"name": "payments"}} if i % 10 == 0 else {}),
                "http": {"response": {"status_code": 500 if i % 50 == 0 else 200}},
            },
        }
        for i in range(200)
    ]
    ok, errors = helpers.bulk(es, actions, chunk_size=64)
    assert (ok, errors) == (200, [])

    hits = {h["log_id"]: h for h in search(server, tenant)}
    assert len(hits) == 200
    first = hits["doc-0"]
    assert parse_ts(first["ts"]) == base
    assert (first["service"], first["host"], first["level"], first["severity"]) == ("payments", "web-0", "ERROR", 17)
    assert first["attrs"] == {"index": "logs-shop-2026.11.21", "http.response.status_code": 500}
    assert first["source"] == "es_bulk"
    last = hits["doc-199"]
    assert parse_ts(last["ts"]) == base + timedelta(milliseconds=199)
    assert (last["service"], last["host"], last["level"]) == ("logs-search", "web-1", "INFO")
    assert len(search(server, tenant, service="logs-shop")) == 150 - 15
    assert len(search(server, tenant, level="error")) == 4

    # Per-item failures reach the client as such: delete is refused, the document beside it is stored.
    ok, failed = helpers.bulk(
        es,
        [
            {"_op_type": "delete", "_index": "logs-shop", "_id": "doc-1"},
            {"_index": "logs-shop", "_source": {"message": "after"}},
        ],
        raise_on_error=False,
    )
    assert ok == 1
    assert isinstance(failed, list)
    assert [e["delete"]["status"] for e in failed] == [400]
    assert [h["message"] for h in search(server, tenant, q="after")] == ["after"]


def test_opentelemetry_sdk_exporter(server: ServerProcess, tenant: str) -> None:
    resource = Resource.create(
        {"service.name": "otel-checkout", "host.name": "otel-host-1", "deployment.environment": "ci"}
    )
    provider = LoggerProvider(resource=resource)
    exporter = OTLPLogExporter(endpoint=server.url + "/v1/logs", headers={"X-Scope-OrgID": tenant}, timeout=30)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("checkout.payments", "1.2.3")
    trace_id = 0x4BF92F3577B34DA6A3CE929D0E0E4736
    span_id = 0x00F067AA0BA902B7
    span = NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)))
    when = recent(2)
    logger.emit(
        timestamp=to_ns(when) + 999,
        context=trace.set_span_in_context(span),
        severity_number=SeverityNumber.ERROR2,
        severity_text="ERROR",
        body="payment failed",
        attributes={"order.id": "o-17", "amount": 12.5, "retries": 3, "items": ["a", "b"]},
    )
    logger.emit(severity_number=SeverityNumber.INFO, body={"event": "checkout", "ok": True})
    assert provider.force_flush(30_000)
    provider.shutdown()

    hits = {h["message"]: h for h in search(server, tenant)}
    assert set(hits) == {"payment failed", '{"event":"checkout","ok":true}'}
    hit = hits["payment failed"]
    assert parse_ts(hit["ts"]) == when
    assert (hit["service"], hit["host"]) == ("otel-checkout", "otel-host-1")
    assert (hit["level"], hit["severity"]) == ("ERROR", 18)
    assert hit["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert hit["span_id"] == "00f067aa0ba902b7"
    assert hit["source"] == "otlp"
    expected_resource = {
        "resource." + k: v for k, v in resource.attributes.items() if k not in ("service.name", "host.name")
    }
    assert hit["attrs"] == {
        **expected_resource,
        "scope.name": "checkout.payments",
        "scope.version": "1.2.3",
        "order.id": "o-17",
        "amount": 12.5,
        "retries": 3,
        "items": ["a", "b"],
    }
    assert expected_resource["resource.deployment.environment"] == "ci"
    info = hits['{"event":"checkout","ok":true}']
    assert (info["level"], info["severity"], info["trace_id"]) == ("INFO", 9, None)


def _loki_entry(ts: datetime, line: str, **metadata: str) -> logproto.EntryAdapter:
    return logproto.EntryAdapter(
        timestamp=Timestamp(seconds=int(ts.timestamp()), nanos=ts.microsecond * 1000),
        line=line,
        structuredMetadata=[logproto.LabelPairAdapter(name=k, value=v) for k, v in metadata.items()],
    )


def test_loki_protobuf_snappy_and_json_pushes(server: ServerProcess, tenant: str) -> None:
    assert httpx.get(server.url + "/ready", timeout=10).text.strip() == "ready"
    t0 = recent(5)
    push = logproto.PushRequest(
        streams=[
            logproto.StreamAdapter(
                labels='{job="varlogs", app="nginx", host="edge-1", '
                'filename="/var/log/nginx/access.log", quote="say \\"hi\\""}',
                entries=[_loki_entry(t0 + timedelta(seconds=i), f"GET /item/{i} 200") for i in range(50)]
                + [_loki_entry(t0 + timedelta(seconds=60), "GET /boom 500", detected_level="error", traceID="ab" * 16)],
            )
        ]
    )
    # What Promtail sends: the serialized PushRequest, snappy block-compressed, no Content-Encoding.
    body = bytes(cramjam.snappy.compress_raw(push.SerializeToString()))
    headers = {"Content-Type": "application/x-protobuf", "X-Scope-OrgID": tenant, "User-Agent": "promtail/3.0.0"}
    resp = httpx.post(server.url + "/loki/api/v1/push", content=body, headers=headers, timeout=30)
    assert resp.status_code == 204, resp.text

    json_push = {
        "streams": [
            {
                "stream": {"service_name": "worker", "instance": "10.1.2.3:9100", "level": "warn"},
                "values": [[str(to_ns(t0) + 1500), "queue is slow", {"queue": "emails"}]],
            }
        ]
    }
    resp = httpx.post(
        server.url + "/loki/api/v1/push",
        content=orjson.dumps(json_push),
        headers={"Content-Type": "application/json", "X-Scope-OrgID": tenant},
        timeout=30,
    )
    assert resp.status_code == 204, resp.text

    hits = {h["message"]: h for h in search(server, tenant)}
    assert len(hits) == 52
    item = hits["GET /item/7 200"]
    assert parse_ts(item["ts"]) == t0 + timedelta(seconds=7)
    assert (item["service"], item["host"], item["level"], item["source"]) == ("nginx", "edge-1", None, "loki")
    assert item["attrs"] == {"job": "varlogs", "filename": "/var/log/nginx/access.log", "quote": 'say "hi"'}
    boom = hits["GET /boom 500"]
    assert (boom["level"], boom["trace_id"]) == ("ERROR", "ab" * 16)
    slow = hits["queue is slow"]
    assert parse_ts(slow["ts"]) == t0 + timedelta(microseconds=1)
    assert (slow["service"], slow["host"], slow["level"]) == ("worker", "10.1.2.3:9100", "WARN")
    assert slow["attrs"] == {"queue": "emails"}
