"""POST /api/v1/ingest in-process: encodings, limits, backpressure, dead-letter, tenants."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import zstandard
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.api.runtime import runtime_of
from tests.conftest import make_config

LINES = [
    {"ts": "2026-11-21T10:00:00Z", "level": "error", "msg": "payment timeout", "service": "checkout"},
    {"ts": "2026-11-21T10:00:01Z", "level": "info", "msg": "payment ok", "service": "checkout"},
]
NDJSON = b"\n".join(orjson.dumps(x) for x in LINES) + b"\n"
WIDE = {"start": "2026-11-20T00:00:00Z", "end": "2026-11-22T00:00:00Z"}


def search(client: TestClient, **params: str) -> dict:
    resp = client.get("/api/v1/search", params={**WIDE, **params})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_ndjson_is_stored_and_searchable(client: TestClient) -> None:
    resp = client.post("/api/v1/ingest", content=NDJSON, headers={"Content-Type": "application/x-ndjson"})
    assert resp.status_code == 200
    assert resp.json() == {"accepted": 2, "rejected": 0}
    body = search(client, q="TIMEOUT")
    assert body["total"] == 1
    hit = body["hits"][0]
    assert hit["message"] == "payment timeout"
    assert hit["level"] == "ERROR"
    assert hit["severity"] == 17
    assert hit["ts"] == "2026-11-21T10:00:00Z"
    assert hit["source"] == "http"


def test_json_array_body(client: TestClient) -> None:
    resp = client.post("/api/v1/ingest", content=orjson.dumps(LINES), headers={"Content-Type": "application/json"})
    assert resp.json() == {"accepted": 2, "rejected": 0}
    assert search(client, q="payment")["total"] == 2


def test_gzip_body(client: TestClient) -> None:
    resp = client.post("/api/v1/ingest", content=gzip.compress(NDJSON), headers={"Content-Encoding": "gzip"})
    assert resp.json() == {"accepted": 2, "rejected": 0}
    assert search(client, q="payment ok")["total"] == 1


def test_zstd_body(client: TestClient) -> None:
    body = zstandard.ZstdCompressor().compress(NDJSON)
    resp = client.post("/api/v1/ingest", content=body, headers={"Content-Encoding": "zstd"})
    assert resp.json() == {"accepted": 2, "rejected": 0}
    assert search(client, q="payment")["total"] == 2


def test_corrupt_gzip_is_400(client: TestClient) -> None:
    resp = client.post("/api/v1/ingest", content=b"not gzip at all", headers={"Content-Encoding": "gzip"})
    assert resp.status_code == 400
    assert "gzip" in resp.json()["error"]


def test_unknown_encoding_is_415(client: TestClient) -> None:
    resp = client.post("/api/v1/ingest", content=NDJSON, headers={"Content-Encoding": "br"})
    assert resp.status_code == 415


def test_wrong_content_type_is_415(client: TestClient) -> None:
    resp = client.post("/api/v1/ingest", content=NDJSON, headers={"Content-Type": "application/x-protobuf"})
    assert resp.status_code == 415
    assert "Content-Type" in resp.json()["error"]


def test_invalid_lines_go_to_dead_letter_with_reason(client: TestClient) -> None:
    body = NDJSON + b'this is not json\n{"unterminated": \n[1,2,3]\n'
    resp = client.post("/api/v1/ingest", content=body)
    assert resp.status_code == 200
    assert resp.json() == {"accepted": 2, "rejected": 3}
    dead = client.get("/api/v1/search", params={"source": "dead_letter"}).json()
    assert dead["total"] == 3
    by_message = {h["message"]: h for h in dead["hits"]}
    assert set(by_message) == {"this is not json", '{"unterminated":', "[1,2,3]"}
    assert by_message["this is not json"]["attrs"]["error"] == "not a JSON object: starts with 't'"
    assert by_message['{"unterminated":']["attrs"]["error"] == "invalid JSON at column 17: unexpected end of data"
    assert by_message["[1,2,3]"]["attrs"]["error"] == "line is JSON but not an object"
    assert all(h["source"] == "dead_letter" for h in dead["hits"])
    assert all(h["attrs"]["original_source"] == "http" for h in dead["hits"])
    # The good lines of the same request are stored normally.
    assert search(client, q="payment")["total"] == 2


def test_query_params_set_batch_defaults(client: TestClient) -> None:
    body = b'{"msg":"no service here"}\n{"msg":"has one","service":"own"}\n'
    client.post("/api/v1/ingest?service=fallback&host=web-1", content=body)
    hits = {h["message"]: h for h in client.get("/api/v1/search").json()["hits"]}
    assert hits["no service here"]["service"] == "fallback"
    assert hits["no service here"]["host"] == "web-1"
    assert hits["has one"]["service"] == "own"


def test_body_over_limit_is_413(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"ingest.max_body_bytes": 1000})
    with TestClient(create_app(cfg, run_maintenance=False)) as c:
        resp = c.post("/api/v1/ingest", content=b'{"msg":"x"}\n' * 200)
        assert resp.status_code == 413
        assert "max_body_bytes" in resp.json()["error"]
        assert c.post("/api/v1/ingest", content=b'{"msg":"x"}\n').status_code == 200


def test_decompressed_body_over_limit_is_413(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"ingest.max_decompressed_bytes": 10_000})
    with TestClient(create_app(cfg, run_maintenance=False)) as c:
        bomb = gzip.compress(b'{"msg":"' + b"a" * 50_000 + b'"}\n')
        assert len(bomb) < 1000
        resp = c.post("/api/v1/ingest", content=bomb, headers={"Content-Encoding": "gzip"})
        assert resp.status_code == 413
        assert "max_decompressed_bytes" in resp.json()["error"]
        resp = c.post("/api/v1/ingest", content=zstandard.ZstdCompressor().compress(b"b" * 50_000),
                      headers={"Content-Encoding": "zstd"})  # fmt: skip
        assert resp.status_code == 413


def test_line_over_limit_is_413(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"ingest.max_line_bytes": 100})
    with TestClient(create_app(cfg, run_maintenance=False)) as c:
        body = b'{"msg":"short"}\n{"msg":"' + b"x" * 200 + b'"}\n'
        resp = c.post("/api/v1/ingest", content=body)
        assert resp.status_code == 413
        assert "max_line_bytes" in resp.json()["error"]
        # Nothing of a refused request is stored.
        assert c.get("/api/v1/search").json()["total"] == 0
        ok = b'{"msg":"short"}\n' * 20
        assert c.post("/api/v1/ingest", content=ok).json() == {"accepted": 20, "rejected": 0}


def test_full_inflight_budget_gives_429_with_retry_after(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"ingest.max_inflight_bytes": 4096, "ingest.retry_after_seconds": 3})
    with TestClient(create_app(cfg, run_maintenance=False)) as c:
        budget = runtime_of_app(c).budget
        assert budget.try_acquire(4000)  # another request is holding most of the budget
        try:
            resp = c.post("/api/v1/ingest", content=NDJSON)
            assert resp.status_code == 429
            assert resp.headers["Retry-After"] == "3"
            assert "max_inflight_bytes" in resp.json()["error"]
        finally:
            budget.release(4000)
        assert c.post("/api/v1/ingest", content=NDJSON).status_code == 200
        assert budget.used == 0
        metrics = c.get("/metrics").text
        assert 'logwarden_throttled_requests_total{route="/api/v1/ingest"} 1.0' in metrics


def runtime_of_app(c: TestClient):  # type: ignore[no-untyped-def]
    class _Req:
        app = c.app

    return runtime_of(_Req())  # type: ignore[arg-type]


def test_tenant_header_isolates_data(client: TestClient) -> None:
    client.post("/api/v1/ingest", content=b'{"msg":"acme secret"}\n', headers={"X-Scope-OrgID": "acme"})
    client.post("/api/v1/ingest", content=b'{"msg":"globex secret"}\n', headers={"X-Scope-OrgID": "globex"})
    acme = client.get("/api/v1/search", params={"q": "secret"}, headers={"X-Scope-OrgID": "acme"}).json()
    assert [h["message"] for h in acme["hits"]] == ["acme secret"]
    assert client.get("/api/v1/search", params={"q": "secret"}).json()["total"] == 0
    bad = client.post("/api/v1/ingest", content=NDJSON, headers={"X-Scope-OrgID": "../etc"})
    assert bad.status_code == 400


def test_metrics_count_lines_and_bytes(client: TestClient) -> None:
    client.post("/api/v1/ingest", content=NDJSON + b"garbage\n")
    text = client.get("/metrics").text
    # Acknowledged, searchable, but not yet moved into a DuckDB partition.
    assert "logwarden_store_unapplied_bytes 0.0" not in text
    assert 'logwarden_store_partitions{tier="hot"} 0.0' in text
    store = runtime_of_app(client).store
    assert store is not None
    store.flush_blocking()
    text = client.get("/metrics").text
    assert "logwarden_store_unapplied_bytes 0.0" in text
    assert "logwarden_store_apply_rows_count 1.0" in text
    assert "logwarden_store_apply_rows_sum 3.0" in text
    assert 'logwarden_ingested_lines_total{source="http",tenant="default"} 2.0' in text
    assert f'logwarden_ingested_bytes_total{{source="http",tenant="default"}} {float(len(NDJSON) + 8)}' in text
    assert 'logwarden_rejected_lines_total{reason="invalid",source="http",tenant="default"} 1.0' in text
    assert "logwarden_batch_commit_seconds_bucket" in text
    # The two lines' day, and the day the dead letter was received (stamped with its receive time).
    hot, _ = store.partitions()
    dead = client.post("/api/v1/query", json={"q": "source:dead_letter", "start": "2d"}).json()["hits"]
    days = {"2026-11-21", dead[0]["ts"][:10]}
    assert sorted(k.day.isoformat() for k in hot) == sorted(days)
    assert f'logwarden_store_partitions{{tier="hot"}} {float(len(days))}' in text
    assert "logwarden_store_size_bytes" in text


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_empty_body_accepts_nothing(client: TestClient) -> None:
    assert client.post("/api/v1/ingest", content=b"").json() == {"accepted": 0, "rejected": 0}
    assert client.post("/api/v1/ingest", content=b"\n\n").json() == {"accepted": 0, "rejected": 0}


def test_store_behind_gives_429(tmp_path: Path) -> None:
    """When acknowledged data waits too long for DuckDB, ingest pushes back instead of growing memory."""
    cfg = make_config(tmp_path, **{"store.max_unapplied_bytes": 1, "store.apply_interval": "1h"})
    with TestClient(create_app(cfg, run_maintenance=False)) as c:
        assert c.post("/api/v1/ingest", content=NDJSON).status_code == 200  # now 1 byte is over the limit
        resp = c.post("/api/v1/ingest", content=NDJSON)
        assert resp.status_code == 429
        assert resp.headers["Retry-After"] == "1"
        assert "max_unapplied_bytes" in resp.json()["error"]
        store = runtime_of_app(c).store
        assert store is not None
        store.flush_blocking()
        assert c.post("/api/v1/ingest", content=NDJSON).status_code == 200
        assert search(c, q="payment")["total"] == 4


def test_archived_data_is_found_by_the_search_api(tmp_path: Path) -> None:
    import asyncio
    from datetime import UTC, datetime

    cfg = make_config(tmp_path, **{"archive.archive_after_days": 1})
    with TestClient(create_app(cfg, run_maintenance=False)) as c:
        old = b'{"ts":"2026-11-10T08:00:00Z","msg":"ancient disk failure","service":"storage"}\n'
        new = b'{"ts":"2026-11-21T08:00:00Z","msg":"recent disk failure","service":"storage"}\n'
        assert c.post("/api/v1/ingest", content=old + new).json() == {"accepted": 2, "rejected": 0}
        store = runtime_of_app(c).store
        assert store is not None
        report = asyncio.run(store.maintain(now=datetime(2026, 11, 21, 12, tzinfo=UTC)))
        assert [k.day.isoformat() for k in report.archived] == ["2026-11-10"]
        body = c.get("/api/v1/search", params={"q": "disk failure", "start": "2026-11-01T00:00:00Z",
                                               "end": "2026-11-22T00:00:00Z"}).json()  # fmt: skip
        assert [h["message"] for h in body["hits"]] == ["recent disk failure", "ancient disk failure"]
        counts = c.get("/api/v1/stats/count", params={"by": "service", "start": "2026-11-01T00:00:00Z"}).json()
        assert counts["counts"] == [{"service": "storage", "count": 2}]
