"""Elasticsearch `_bulk` in-process: ECS mapping, per-item answers, dead letters, bad input."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.ingest.http.es_bulk_decode import (
    decode_bulk,
    map_ecs,
    parse_pairs,
    parse_sequential,
    render_bulk_response,
    service_from_index,
    split_lines,
)
from tests.conftest import make_config
from tests.unit.ingest.http.searching import by_message, iso, parse_ts, recent, stored

NDJSON = {"Content-Type": "application/x-ndjson"}


def bulk_body(*pairs: tuple[dict[str, Any], dict[str, Any] | None]) -> bytes:
    lines = []
    for action, source in pairs:
        lines.append(orjson.dumps(action))
        if source is not None:
            lines.append(orjson.dumps(source))
    return b"\n".join(lines) + b"\n"


def post_bulk(client: TestClient, body: bytes, path: str = "/_bulk", **headers: str) -> dict[str, Any]:
    resp = client.post(path, content=body, headers={**NDJSON, **headers})
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-Elastic-Product"] == "Elasticsearch"
    answer: dict[str, Any] = resp.json()
    return answer


def test_ecs_documents_are_stored_with_core_fields(client: TestClient) -> None:
    ts = recent()
    doc = {
        "@timestamp": iso(ts),
        "message": "payment declined",
        "log": {"level": "warning", "logger": "payments"},
        "service": {"name": "checkout", "version": "1.4.2"},
        "host": {"name": "web-1", "ip": ["10.0.0.1"]},
        "trace": {"id": "4bf92f3577b34da6a3ce929d0e0e4736"},
        "span": {"id": "00f067aa0ba902b7"},
        "http": {"response": {"status_code": 402}},
    }
    answer = post_bulk(client, bulk_body(({"index": {"_index": "logs-checkout-2026.11.21", "_id": "doc-1"}}, doc)))
    assert answer["errors"] is False
    assert isinstance(answer["took"], int)
    assert answer["items"] == [
        {
            "index": {
                "_index": "logs-checkout-2026.11.21",
                "_id": "doc-1",
                "_version": 1,
                "result": "created",
                "_shards": {"total": 1, "successful": 1, "failed": 0},
                "_seq_no": 0,
                "_primary_term": 1,
                "status": 201,
            }
        }
    ]
    (hit,) = stored(client)
    assert hit["message"] == "payment declined"
    assert parse_ts(hit["ts"]) == ts
    assert hit["level"] == "WARN"
    assert hit["severity"] == 13
    assert hit["service"] == "checkout"
    assert hit["host"] == "web-1"
    assert hit["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert hit["span_id"] == "00f067aa0ba902b7"
    assert hit["log_id"] == "doc-1"
    assert hit["source"] == "es_bulk"
    assert hit["attrs"] == {
        "index": "logs-checkout-2026.11.21",
        "log.logger": "payments",
        "service.version": "1.4.2",
        "host.ip": ["10.0.0.1"],
        "http.response.status_code": 402,
    }


def test_dotted_ecs_keys_map_like_nested_ones(client: TestClient) -> None:
    doc = {"message": "dotted", "log.level": "error", "service.name": "api", "host.name": "db-2"}
    post_bulk(client, bulk_body(({"create": {"_index": "x"}}, doc)))
    (hit,) = stored(client)
    assert (hit["level"], hit["service"], hit["host"]) == ("ERROR", "api", "db-2")


def test_top_level_core_fields_win_over_ecs(client: TestClient) -> None:
    doc = {"msg": "both", "level": "debug", "log": {"level": "error"}, "service": "own"}
    post_bulk(client, bulk_body(({"index": {"_index": "idx"}}, doc)))
    (hit,) = stored(client)
    assert hit["level"] == "DEBUG"
    assert hit["service"] == "own"
    assert hit["attrs"]["log.level"] == "error"


def test_index_names_the_service_of_documents_without_one(client: TestClient) -> None:
    body = bulk_body(
        ({"index": {"_index": "logstash-2026.11.21"}}, {"message": "daily"}),
        ({"index": {"_index": "filebeat-8.11.0-2026.11.21-000001"}}, {"message": "rollover"}),
        ({"index": {"_index": "logs-nginx.access-default"}}, {"message": "data stream"}),
        ({"index": {"_index": "logstash-2026.11.21"}}, {"message": "named", "service": {"name": "billing"}}),
        ({"index": {"_index": "logstash-2026.11.21"}}, {"message": "app field", "app": "mobile"}),
    )
    post_bulk(client, body)
    hits = by_message(stored(client))
    assert hits["daily"]["service"] == "logstash"
    assert hits["rollover"]["service"] == "filebeat-8.11.0"
    assert hits["data stream"]["service"] == "logs-nginx.access-default"
    assert hits["named"]["service"] == "billing"
    assert hits["app field"]["service"] == "mobile"
    assert hits["daily"]["attrs"]["index"] == "logstash-2026.11.21"


def test_index_from_the_path_is_the_default(client: TestClient) -> None:
    body = bulk_body(({"index": {}}, {"message": "from path"}), ({"create": {"_index": "other"}}, {"message": "own"}))
    answer = post_bulk(client, body, path="/web-logs/_bulk")
    assert [next(iter(item.values()))["_index"] for item in answer["items"]] == ["web-logs", "other"]
    hits = by_message(stored(client))
    assert hits["from path"]["attrs"]["index"] == "web-logs"
    assert hits["own"]["service"] == "other"


def test_generated_ids_are_answered_and_stored(client: TestClient) -> None:
    answer = post_bulk(
        client, bulk_body(({"index": {"_index": "a"}}, {"message": "one"}), ({"index": {}}, {"message": "two"}))
    )
    ids = [item["index"]["_id"] for item in answer["items"]]
    assert all(isinstance(i, str) and i for i in ids) and len(set(ids)) == 2
    hits = by_message(stored(client))
    assert [hits["one"]["log_id"], hits["two"]["log_id"]] == ids


def test_document_field_named_index_keeps_its_value(client: TestClient) -> None:
    post_bulk(client, bulk_body(({"index": {"_index": "books"}}, {"message": "m", "index": 7})))
    (hit,) = stored(client)
    assert hit["attrs"] == {"index": 7, "_index": "books"}


def test_malformed_sources_fail_per_item_and_go_to_dead_letter(client: TestClient) -> None:
    body = (
        b'{"index":{"_index":"logs","_id":"good-1"}}\n{"message":"fine one"}\n'
        b'{"index":{"_index":"logs","_id":"bad-1"}}\n{"message": broken\n'
        b'{"create":{"_index":"logs"}}\n[1, 2]\n'
        b'{"index":{"_index":"logs"}}\n{"message":"fine two"}\n'
    )
    answer = post_bulk(client, body)
    assert answer["errors"] is True
    statuses = [next(iter(item.values()))["status"] for item in answer["items"]]
    assert statuses == [201, 400, 400, 201]
    bad = answer["items"][1]["index"]
    assert bad["_id"] == "bad-1"
    assert bad["error"]["type"] == "document_parsing_exception"
    assert "invalid JSON" in bad["error"]["reason"]
    assert "not an object" in answer["items"][2]["create"]["error"]["reason"]
    assert answer["items"][0]["index"]["_id"] == "good-1"
    good = stored(client, source="es_bulk")
    assert sorted(h["message"] for h in good) == ["fine one", "fine two"]
    dead = by_message(stored(client, source="dead_letter"))
    assert set(dead) == {'{"message": broken', "[1, 2]"}
    assert dead["[1, 2]"]["attrs"]["original_source"] == "es_bulk"


def test_delete_and_update_are_refused_per_item(client: TestClient) -> None:
    body = (
        b'{"delete":{"_index":"logs","_id":"old"}}\n'
        b'{"index":{"_index":"logs"}}\n{"message":"kept"}\n'
        b'{"update":{"_index":"logs","_id":"u1"}}\n{"doc":{"message":"changed"}}\n'
        b'{"create":{"_index":"logs"}}\n{"message":"kept too"}\n'
    )
    answer = post_bulk(client, body)
    assert answer["errors"] is True
    ops = [next(iter(item)) for item in answer["items"]]
    assert ops == ["delete", "index", "update", "create"]
    assert answer["items"][0]["delete"]["status"] == 400
    assert answer["items"][0]["delete"]["_id"] == "old"
    assert "not supported" in answer["items"][2]["update"]["error"]["reason"]
    assert sorted(h["message"] for h in stored(client)) == ["kept", "kept too"]


def test_action_without_source_at_the_end(client: TestClient) -> None:
    answer = post_bulk(client, b'{"index":{"_index":"a"}}\n{"message":"x"}\n{"index":{"_index":"a"}}\n')
    assert [next(iter(i.values()))["status"] for i in answer["items"]] == [201, 400]
    assert "source is missing" in answer["items"][1]["index"]["error"]["reason"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"index":{}}\n{"message":"ok"}\nnot an action\n{"message":"x"}\n', "line [3]"),
        (b'"index"\n{"message":"x"}\n', "one key"),
        (b'{"index":{},"create":{}}\n{"message":"x"}\n', "one key"),
        (b'{"upsert":{}}\n{"message":"x"}\n', "unknown action [upsert]"),
        (b'{"index":"logs"}\n{"message":"x"}\n', "needs an object"),
    ],
)
def test_malformed_action_line_fails_the_request(client: TestClient, body: bytes, expected: str) -> None:
    resp = client.post("/_bulk", content=body, headers=NDJSON)
    assert resp.status_code == 400
    assert resp.headers["X-Elastic-Product"] == "Elasticsearch"
    error = resp.json()
    assert error["status"] == 400
    assert error["error"]["type"] == "illegal_argument_exception"
    assert error["error"]["root_cause"][0]["reason"] == error["error"]["reason"]
    assert expected in error["error"]["reason"]
    assert stored(client) == []


def test_empty_body_is_400(client: TestClient) -> None:
    resp = client.post("/_bulk", content=b"\n\n", headers=NDJSON)
    assert resp.status_code == 400
    assert "request body is required" in resp.json()["error"]["reason"]


def test_wrong_content_type_is_415(client: TestClient) -> None:
    resp = client.post("/_bulk", content=b'{"index":{}}\n{"m":1}\n', headers={"Content-Type": "application/x-protobuf"})
    assert resp.status_code == 415
    assert resp.json()["error"]["type"] == "media_type_header_exception"
    assert resp.headers["X-Elastic-Product"] == "Elasticsearch"


def test_elasticsearch_client_content_type_and_crlf_lines(client: TestClient) -> None:
    body = b'{"index":{"_index":"w"}}\r\n{"message":"windows"}\r\n'
    headers = {"Content-Type": "application/vnd.elasticsearch+x-ndjson; compatible-with=8"}
    resp = client.post("/_bulk", content=body, headers=headers)
    assert resp.status_code == 200, resp.text
    assert [h["message"] for h in stored(client)] == ["windows"]


def test_gzip_body(client: TestClient) -> None:
    body = gzip.compress(bulk_body(({"index": {"_index": "z"}}, {"message": "zipped"})))
    post_bulk(client, body, **{"Content-Encoding": "gzip"})
    assert [h["message"] for h in stored(client)] == ["zipped"]


def test_tenant_header(client: TestClient) -> None:
    post_bulk(client, bulk_body(({"index": {"_index": "z"}}, {"message": "acme only"})), **{"X-Scope-OrgID": "acme"})
    assert stored(client) == []
    assert [h["message"] for h in stored(client, tenant="acme")] == ["acme only"]


def test_invalid_utf8_source_is_a_per_item_error(client: TestClient) -> None:
    body = b'{"index":{}}\n{"message":"caf\xe9"}\n{"index":{}}\n{"message":"ok"}\n'
    answer = post_bulk(client, body, path="/latin1/_bulk")
    assert [i["index"]["status"] for i in answer["items"]] == [400, 201]
    assert [h["message"] for h in stored(client, source="es_bulk")] == ["ok"]
    (dead,) = stored(client, source="dead_letter")
    assert dead["message"] == '{"message":"caf\ufffd"}'


def test_fields_changing_type_still_map_ecs(client: TestClient) -> None:
    body = bulk_body(
        ({"index": {"_index": "mixed"}}, {"message": "a", "error": "text", "log": {"level": "error"}}),
        ({"index": {"_index": "mixed"}}, {"message": "b", "error": {"code": 5}, "host": {"name": "h2"}}),
    )
    post_bulk(client, body)
    hits = by_message(stored(client))
    assert hits["a"]["level"] == "ERROR"
    assert hits["a"]["attrs"]["error"] == "text"
    assert hits["b"]["host"] == "h2"
    assert hits["b"]["attrs"]["error.code"] == 5
    assert hits["b"]["service"] == "mixed"


def test_body_over_limit_is_413(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"ingest.max_body_bytes": 1000, "ingest.max_line_bytes": 200})
    with TestClient(create_app(cfg, run_maintenance=False)) as c:
        big = bulk_body(*[({"index": {}}, {"message": "x" * 50})] * 30)
        resp = c.post("/logs/_bulk", content=big, headers=NDJSON)
        assert resp.status_code == 413
        assert resp.json()["error"]["type"] == "content_too_long_exception"
        long_doc = bulk_body(({"index": {}}, {"message": "y" * 300}))
        resp = c.post("/logs/_bulk", content=long_doc, headers=NDJSON)
        assert resp.status_code == 413
        assert "max_line_bytes" in resp.json()["error"]["reason"]
        assert stored(c) == []


# Decoder-level tests: the fast and the sequential paths agree, and the response is built column-wise.


def test_fast_path_only_for_alternating_index_and_create() -> None:
    pairs = bulk_body(({"index": {"_index": "a", "_id": 1}}, {"m": 1}), ({"create": {}}, {"m": 2}))
    items = parse_pairs(split_lines(pairs), "dflt")
    assert items is not None
    assert items.ops.to_pylist() == ["index", "create"]
    assert items.indexes.to_pylist() == ["a", "dflt"]
    assert items.ids.to_pylist() == ["1", None]
    sequential = parse_sequential(pairs, "dflt")
    for name in ("ops", "indexes", "ids", "sources"):
        assert getattr(items, name).to_pylist() == getattr(sequential, name).to_pylist()
    with_delete = b'{"delete":{"_id":"1"}}\n' + pairs
    assert parse_pairs(split_lines(with_delete), None) is None
    assert parse_sequential(with_delete, None).ops.to_pylist() == ["delete", "index", "create"]
    assert parse_pairs(split_lines(b'{"index":{"_id":{"nested":1}}}\n{"m":1}\n'), None) is None


def test_decode_bulk_outcome_lines_up_with_items() -> None:
    body = (
        b'{"index":{"_id":"a"}}\n{"m":1}\n{"delete":{"_id":"b"}}\n{"index":{"_id":"c"}}\nnope\n{"index":{}}\n{"m":2}\n'
    )
    decoded = decode_bulk(body, "idx", 1 << 20)
    outcome = decoded.outcome
    assert outcome.status.to_pylist() == [201, 400, 400, 201]
    assert outcome.ids.to_pylist()[:3] == ["a", "b", "c"]
    assert outcome.ids.to_pylist()[3] is not None
    assert sorted(outcome.errors) == [1, 2]
    assert decoded.body.records is not None and decoded.body.records.num_rows == 2
    ((raw, reason),) = decoded.body.rejected
    assert raw == "nope"
    assert reason == "not a JSON object: starts with 'n'"
    answer = orjson.loads(render_bulk_response(outcome, 7))
    assert answer["took"] == 7 and answer["errors"] is True
    assert [next(iter(i)) for i in answer["items"]] == ["index", "delete", "index", "index"]


def test_response_escapes_index_and_id_text() -> None:
    body = bulk_body(({"index": {"_index": 'we"ird\\idx', "_id": "tab\there"}}, {"m": 1}))
    answer = orjson.loads(render_bulk_response(decode_bulk(body, None, 1 << 20).outcome, 0))
    assert answer["items"][0]["index"]["_index"] == 'we"ird\\idx'
    assert answer["items"][0]["index"]["_id"] == "tab\there"


def test_map_ecs_renames_columns_without_touching_rows() -> None:
    table = pa.table({"log": pa.array([{"level": "info"}]), "trace.id": ["t"], "host": ["own"], "host.name": ["ecs"]})
    mapped = map_ecs(table)
    assert mapped.column_names == ["level", "trace_id", "host", "host.name"]
    assert mapped.column("level").to_pylist() == ["info"]


def test_service_from_index() -> None:
    names = pa.array(["logstash-2026.11.21", "app-2026-11-21", "fb-000003", "plain", "x-2026.11.21-000002", None])
    assert service_from_index(names).to_pylist() == ["logstash", "app", "fb", "plain", "x", None]
