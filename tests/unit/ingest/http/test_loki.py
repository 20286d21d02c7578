"""Loki push in-process: protobuf + snappy and JSON bodies, label mapping, dead letters, bad input."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

import cramjam
import orjson
from google.protobuf.timestamp_pb2 import Timestamp
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.ingest.http.loki_decode import decode_json_push, decode_protobuf_push
from logwarden.ingest.http.proto import loki_push_pb2 as logproto
from tests.conftest import make_config
from tests.unit.ingest.http.searching import by_message, parse_ts, recent, stored

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


def ns(ts: datetime) -> int:
    return int(ts.timestamp()) * 1_000_000_000 + ts.microsecond * 1000 + 789


def entry(ts: datetime, line: str, **metadata: str) -> logproto.EntryAdapter:
    stamp = Timestamp(seconds=int(ts.timestamp()), nanos=ts.microsecond * 1000 + 789)
    pairs = [logproto.LabelPairAdapter(name=k, value=v) for k, v in metadata.items()]
    return logproto.EntryAdapter(timestamp=stamp, line=line, structuredMetadata=pairs)


def snappy_push(*streams: logproto.StreamAdapter) -> bytes:
    return bytes(cramjam.snappy.compress_raw(logproto.PushRequest(streams=streams).SerializeToString()))


def test_protobuf_push_maps_labels_and_metadata(client: TestClient) -> None:
    t1, t2 = recent(3), recent(2)
    stream = logproto.StreamAdapter(
        labels='{job="varlogs", app="checkout", host="web-1", level="warn", '
        'filename="/var/log/app.log", note="a \\"q\\""}',
        entries=[
            entry(t1, "payment retry"),
            entry(t2, "payment failed", level="error", trace_id="4bf92f3577b34da6a3ce929d0e0e4736", user="42"),
        ],
    )
    other = logproto.StreamAdapter(
        labels='{service_name="billing", instance="10.0.0.7:9100"}', entries=[entry(t2, "invoice sent")]
    )
    resp = client.post("/loki/api/v1/push", content=snappy_push(stream, other), headers=PROTOBUF)
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    hits = by_message(stored(client))
    retry = hits["payment retry"]
    assert parse_ts(retry["ts"]) == t1  # nanoseconds are cut to microseconds
    assert (retry["service"], retry["host"], retry["level"], retry["severity"]) == ("checkout", "web-1", "WARN", 13)
    assert retry["source"] == "loki"
    assert retry["attrs"] == {"job": "varlogs", "filename": "/var/log/app.log", "note": 'a "q"'}
    failed = hits["payment failed"]
    assert failed["level"] == "ERROR"
    assert failed["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert failed["attrs"] == {"job": "varlogs", "filename": "/var/log/app.log", "note": 'a "q"', "user": "42"}
    invoice = hits["invoice sent"]
    assert (invoice["service"], invoice["host"], invoice["level"]) == ("billing", "10.0.0.7:9100", None)
    assert invoice["attrs"] == {}


def test_json_push(client: TestClient) -> None:
    t1, t2 = recent(4), recent(1)
    body = {
        "streams": [
            {
                "stream": {"service": "api", "hostname": "node-3", "env": "prod"},
                "values": [
                    [str(ns(t1)), "GET /health 200"],
                    [str(ns(t2)), "GET /orders 500", {"detected_level": "error", "span_id": "00f067aa0ba902b7"}],
                ],
            }
        ]
    }
    resp = client.post("/loki/api/v1/push", content=orjson.dumps(body), headers=JSON)
    assert resp.status_code == 204, resp.text
    hits = by_message(stored(client))
    health = hits["GET /health 200"]
    assert parse_ts(health["ts"]) == t1
    assert (health["service"], health["host"], health["level"]) == ("api", "node-3", None)
    assert health["attrs"] == {"env": "prod"}
    orders = hits["GET /orders 500"]
    assert (orders["level"], orders["span_id"]) == ("ERROR", "00f067aa0ba902b7")


def test_gzip_json_push_and_tenant(client: TestClient) -> None:
    body = {"streams": [{"stream": {"app": "z"}, "values": [[str(ns(recent())), "zipped"]]}]}
    headers = {**JSON, "Content-Encoding": "gzip", "X-Scope-OrgID": "team-a"}
    resp = client.post("/loki/api/v1/push", content=gzip.compress(orjson.dumps(body)), headers=headers)
    assert resp.status_code == 204
    assert stored(client) == []
    assert [h["message"] for h in stored(client, tenant="team-a")] == ["zipped"]


def test_no_content_type_means_protobuf(client: TestClient) -> None:
    body = snappy_push(logproto.StreamAdapter(labels='{app="x"}', entries=[entry(recent(), "untyped")]))
    assert client.post("/loki/api/v1/push", content=body).status_code == 204
    assert [h["message"] for h in stored(client)] == ["untyped"]


def test_snappy_named_as_content_encoding(client: TestClient) -> None:
    body = snappy_push(logproto.StreamAdapter(labels='{app="x"}', entries=[entry(recent(), "labelled")]))
    resp = client.post("/loki/api/v1/push", content=body, headers={**PROTOBUF, "Content-Encoding": "snappy"})
    assert resp.status_code == 204, resp.text
    assert [h["message"] for h in stored(client)] == ["labelled"]


def test_bad_timestamps_go_to_dead_letter_with_their_labels(client: TestClient) -> None:
    body = {"streams": [{"stream": {"app": "api"}, "values": [["yesterday", "bad ts"], [str(ns(recent())), "good"]]}]}
    assert client.post("/loki/api/v1/push", content=orjson.dumps(body), headers=JSON).status_code == 204
    assert [h["message"] for h in stored(client, source="loki")] == ["good"]
    (dead,) = stored(client, source="dead_letter")
    assert orjson.loads(dead["message"]) == {"stream": {"app": "api"}, "ts": "yesterday", "line": "bad ts"}
    assert "invalid timestamp" in dead["attrs"]["error"]
    assert dead["attrs"]["original_source"] == "loki"


def test_invalid_utf8_line_goes_to_dead_letter_others_are_stored(client: TestClient) -> None:
    good = logproto.StreamAdapter(labels='{app="bin"}', entries=[entry(recent(), "marker-line")])
    raw = bytearray(logproto.PushRequest(streams=[good]).SerializeToString())
    # Same byte length, so the protobuf framing stays valid: only the UTF-8 is broken.
    raw = raw.replace(b"marker-line", b"marker\xff\xfeine")
    second = logproto.PushRequest(
        streams=[logproto.StreamAdapter(labels='{app="bin"}', entries=[entry(recent(), "fine")])]
    )
    body = bytes(cramjam.snappy.compress_raw(bytes(raw) + second.SerializeToString()))
    resp = client.post("/loki/api/v1/push", content=body, headers=PROTOBUF)
    assert resp.status_code == 204, resp.text
    assert [h["message"] for h in stored(client, source="loki")] == ["fine"]
    (dead,) = stored(client, source="dead_letter")
    assert orjson.loads(dead["message"])["line"] == "marker\ufffd\ufffdine"
    assert "not valid UTF-8" in dead["attrs"]["error"]


def test_bad_snappy_is_400(client: TestClient) -> None:
    resp = client.post("/loki/api/v1/push", content=b"\x05not snappy at all", headers=PROTOBUF)
    assert resp.status_code == 400
    assert "snappy" in resp.json()["error"]


def test_truncated_protobuf_is_400(client: TestClient) -> None:
    full = logproto.PushRequest(streams=[logproto.StreamAdapter(labels='{a="b"}', entries=[entry(recent(), "x" * 50)])])
    cut = full.SerializeToString()[:-10]
    resp = client.post("/loki/api/v1/push", content=bytes(cramjam.snappy.compress_raw(cut)), headers=PROTOBUF)
    assert resp.status_code == 400
    assert "push request" in resp.json()["error"]
    assert stored(client) == []


def test_malformed_labels_are_400(client: TestClient) -> None:
    body = snappy_push(logproto.StreamAdapter(labels="app=api", entries=[entry(recent(), "x")]))
    resp = client.post("/loki/api/v1/push", content=body, headers=PROTOBUF)
    assert resp.status_code == 400
    assert "streams[0].labels" in resp.json()["error"]


def test_malformed_json_bodies_are_400(client: TestClient) -> None:
    for body, expected in [
        (b"{not json", "not valid JSON"),
        (b'{"streams": {}}', "body must be"),
        (b'{"streams": [{"stream": "app=x", "values": []}]}', "streams[0].stream"),
        (b'{"streams": [{"stream": {}, "values": [["1", 2]]}]}', "streams[0].values[0]"),
        (b'{"streams": [{"stream": {}, "values": "x"}]}', "streams[0].values"),
    ]:
        resp = client.post("/loki/api/v1/push", content=body, headers=JSON)
        assert resp.status_code == 400, body
        assert expected in resp.json()["error"], resp.json()


def test_wrong_content_type_is_415(client: TestClient) -> None:
    resp = client.post("/loki/api/v1/push", content=b"x", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415
    assert "application/x-protobuf" in resp.json()["error"]


def test_snappy_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"ingest.max_decompressed_bytes": 100_000})
    with TestClient(create_app(cfg, run_maintenance=False)) as c:
        bomb = bytes(cramjam.snappy.compress_raw(b"\x00" * 1_000_000))
        assert len(bomb) < 60_000
        resp = c.post("/loki/api/v1/push", content=bomb, headers=PROTOBUF)
        assert resp.status_code == 413
        assert "max_decompressed_bytes" in resp.json()["error"]


def test_line_over_limit_is_413(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"ingest.max_line_bytes": 100})
    with TestClient(create_app(cfg, run_maintenance=False)) as c:
        body = snappy_push(logproto.StreamAdapter(labels='{a="b"}', entries=[entry(recent(), "é" * 60)]))
        resp = c.post("/loki/api/v1/push", content=body, headers=PROTOBUF)
        assert resp.status_code == 413
        assert "max_line_bytes" in resp.json()["error"]


def test_ready(client: TestClient) -> None:
    resp = client.get("/ready")
    assert resp.status_code == 200
    assert resp.text.strip() == "ready"


def test_empty_pushes_store_nothing() -> None:
    assert decode_protobuf_push(b"", 1000, 1000).records is None
    assert decode_json_push(b'{"streams": []}', 1000).records is None
    assert decode_json_push(b'{"streams": [{"stream": {"a": "b"}, "values": []}]}', 1000).records is None


def test_inflated_snappy_size_counts_against_the_in_flight_budget(tmp_path: Path) -> None:
    """A small snappy body that inflates past the free budget is pushed back (429), not decoded."""
    line = "x" * 2000
    stream = logproto.StreamAdapter(labels='{app="big"}', entries=[entry(datetime.now(), line) for _ in range(50)])
    body = snappy_push(stream)
    assert len(body) < 10_000  # repetitive: ~100 KB once inflated
    cfg = make_config(tmp_path, **{"ingest.max_inflight_bytes": 150_000})
    with TestClient(create_app(cfg, run_maintenance=False)) as c:
        budget = c.app.state.runtime.budget
        assert budget.try_acquire(60_000)  # another request is in flight: the wire body fits, the inflated one not
        try:
            resp = c.post("/loki/api/v1/push", content=body, headers=PROTOBUF)
            assert resp.status_code == 429
            assert "Retry-After" in resp.headers
        finally:
            budget.release(60_000)
        assert c.post("/loki/api/v1/push", content=body, headers=PROTOBUF).status_code == 204
        assert budget.used == 0
