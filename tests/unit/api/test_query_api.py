"""/api/v1/query, /histogram and /fields on a fixed dataset ingested through the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

DATA = [
    {
        "ts": "2026-11-21T10:00:00Z",
        "level": "error",
        "msg": "payment timeout after 30s",
        "service": "checkout",
        "host": "web-1",
        "status": 500,
        "latency_ms": 250,
        "client_ip": "10.1.2.3",
        "user_id": "42",
        "trace_id": "t1",
    },
    {
        "ts": "2026-11-21T10:00:30Z",
        "level": "info",
        "msg": "Connection refused by upstream",
        "service": "checkout",
        "host": "web-2",
        "status": 200,
        "latency_ms": 50,
        "client_ip": "192.168.1.1",
        "http": {"status": 404},
    },
    {
        "ts": "2026-11-21T10:01:10Z",
        "level": "warning",
        "msg": "request timed out",
        "service": "api",
        "host": "db-1",
        "status": 503,
        "latency_ms": 800,
        "client_ip": "2001:db8::5",
        "trace_id": "t2",
    },
    {
        "ts": "2026-11-21T10:02:00Z",
        "level": "debug",
        "msg": "cache hit 100% for key_a",
        "service": "my svc",
        "host": "web-10",
        "status": 200,
        "latency_ms": 5,
        "client_ip": "10.200.0.1",
        "user_id": 7,
    },
    {
        "ts": "2026-11-21T10:03:00Z",
        "level": "fatal",
        "msg": "connection reset",
        "service": "api",
        "host": "db-2",
        "status": 500,
        "latency_ms": 100,
        "client_ip": "fe80::1",
        "level_attr": "x",
    },
]
WINDOW = {"start": "2026-11-21T00:00:00Z", "end": "2026-11-22T00:00:00Z"}


def ingest(client: TestClient, lines: list[dict[str, Any]], tenant: str | None = None) -> None:
    headers = {"X-Scope-OrgID": tenant} if tenant else {}
    resp = client.post("/api/v1/ingest", content=b"\n".join(orjson.dumps(x) for x in lines), headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["accepted"] == len(lines)


@pytest.fixture
def loaded(client: TestClient) -> TestClient:
    ingest(client, DATA)
    ingest(client, [{**DATA[0], "msg": "other tenant payment timeout secret", "service": "intruder"}], tenant="other")
    return client


def q(client: TestClient, text: str, **extra: Any) -> dict[str, Any]:
    resp = client.post("/api/v1/query", json={"q": text, **WINDOW, **extra})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def messages(client: TestClient, text: str) -> list[str]:
    body = q(client, text)
    assert body["kind"] == "hits"
    assert body["total"] == len(body["hits"])
    return [h["message"] for h in body["hits"]]


CASES = [
    ("timeout", ["payment timeout after 30s"]),
    ("TIMEOUT", ["payment timeout after 30s"]),
    ('"connection refused"', ["Connection refused by upstream"]),
    ("conn*", ["connection reset", "Connection refused by upstream"]),
    # Terms match whole words: `*` widens a word but does not cross a space.
    ("time*out", ["payment timeout after 30s"]),
    ("time", []),
    ("time*", ["request timed out", "payment timeout after 30s"]),
    ("*set", ["connection reset"]),
    ("onnection", []),
    ("upstream", ["Connection refused by upstream"]),
    ("100%", ["cache hit 100% for key_a"]),
    ("key?a", ["cache hit 100% for key_a"]),
    ("key_b", []),
    ("payment timeout", ["payment timeout after 30s"]),
    ("level:warning", ["request timed out"]),
    ("level:WARN", ["request timed out"]),
    ("level:>=error", ["connection reset", "payment timeout after 30s"]),
    ("level:[debug TO info]", ["Connection refused by upstream", "cache hit 100% for key_a"][::-1]),
    ("service:api", ["connection reset", "request timed out"]),
    ('service:"my svc"', ["cache hit 100% for key_a"]),
    ("attrs.user_id:42", ["payment timeout after 30s"]),
    ("user_id:42", ["payment timeout after 30s"]),
    ("user_id:7", ["cache hit 100% for key_a"]),
    ("http.status:404", ["Connection refused by upstream"]),
    ("attrs.http.status:404", ["Connection refused by upstream"]),
    ("status:>=500", ["connection reset", "request timed out", "payment timeout after 30s"]),
    ("status:>500", ["request timed out"]),
    ("status:<200", []),
    ("status:<=200", ["cache hit 100% for key_a", "Connection refused by upstream"]),
    ("latency_ms:[100 TO 250]", ["connection reset", "payment timeout after 30s"]),
    ("latency_ms:{100 TO 250}", []),
    ("latency_ms:{100 TO 250]", ["payment timeout after 30s"]),
    ("latency_ms:[500 TO *]", ["request timed out"]),
    ("host:web-*", ["cache hit 100% for key_a", "Connection refused by upstream", "payment timeout after 30s"]),
    ("host:web-?", ["Connection refused by upstream", "payment timeout after 30s"]),
    ("client_ip:10.0.0.0/8", ["cache hit 100% for key_a", "payment timeout after 30s"]),
    ("client_ip:10.1.0.0/16", ["payment timeout after 30s"]),
    ("client_ip:192.168.1.1/32", ["Connection refused by upstream"]),
    ("client_ip:2001:db8::/32", ["request timed out"]),
    ("client_ip:fe80::/10", ["connection reset"]),
    ("client_ip:::/0", ["connection reset", "request timed out"]),
    ("_exists_:trace_id", ["request timed out", "payment timeout after 30s"]),
    ("_exists_:user_id", ["cache hit 100% for key_a", "payment timeout after 30s"]),
    ("message:/time(out|d out)/", ["request timed out", "payment timeout after 30s"]),
    ("message:/^conn/", ["connection reset"]),
    ("level:error OR level:fatal", ["connection reset", "payment timeout after 30s"]),
    ("service:api AND NOT level:fatal", ["request timed out"]),
    ("service:checkout -timeout", ["Connection refused by upstream"]),
    ("(service:api OR service:checkout) status:500", ["connection reset", "payment timeout after 30s"]),
    ("level:(error OR fatal)", ["connection reset", "payment timeout after 30s"]),
    ("-_exists_:user_id -_exists_:trace_id", ["connection reset", "Connection refused by upstream"]),
    ("-user_id:42 service:checkout", ["Connection refused by upstream"]),
    ("_time:[2026-11-21T10:01:00Z TO 2026-11-21T10:02:00Z]", ["cache hit 100% for key_a", "request timed out"]),
    ("_time:>=2026-11-21T10:02:00Z", ["connection reset", "cache hit 100% for key_a"]),
    ("severity:>=17", ["connection reset", "payment timeout after 30s"]),
    ("*", [d["msg"] for d in reversed(DATA)]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_filter_results(loaded: TestClient, text: str, expected: list[str]) -> None:
    assert messages(loaded, text) == expected


def test_hits_shape_and_limit(loaded: TestClient) -> None:
    body = q(loaded, "", limit=2)
    assert body["total"] == 5
    assert [h["message"] for h in body["hits"]] == ["connection reset", "cache hit 100% for key_a"]
    hit = body["hits"][1]
    assert hit["ts"] == "2026-11-21T10:02:00Z"
    assert hit["attrs"] == {"status": 200, "latency_ms": 5, "client_ip": "10.200.0.1", "user_id": 7}
    assert hit["level"] == "DEBUG"
    assert isinstance(body["took_ms"], float | int)


def test_get_variant(loaded: TestClient) -> None:
    resp = loaded.get("/api/v1/query", params={"q": "service:api", **WINDOW})
    assert resp.status_code == 200
    assert resp.json()["total"] == 2


def test_sort_limit_fields_on_hits(loaded: TestClient) -> None:
    body = q(loaded, "status:>=200 | sort -latency_ms | limit 3 | fields message, latency_ms, service")
    assert body["total"] == 5
    assert body["hits"] == [
        {"message": "request timed out", "latency_ms": 800, "service": "api"},
        {"message": "payment timeout after 30s", "latency_ms": 250, "service": "checkout"},
        {"message": "connection reset", "latency_ms": 100, "service": "api"},
    ]
    body = q(loaded, "| sort +host | fields host")
    assert [h["host"] for h in body["hits"]] == ["db-1", "db-2", "web-1", "web-10", "web-2"]


def table(client: TestClient, text: str) -> tuple[list[str], list[list[Any]]]:
    body = q(client, text)
    assert body["kind"] == "table", body
    return [c["name"] for c in body["columns"]], body["rows"]


def test_stats_by(loaded: TestClient) -> None:
    cols, rows = table(loaded, "| stats count(), avg(latency_ms), max(status) by service")
    assert cols == ["service", "count", "avg(latency_ms)", "max(status)"]
    assert rows == [["api", 2, 450.0, 503.0], ["checkout", 2, 150.0, 500.0], ["my svc", 1, 5.0, 200.0]]


def test_stats_every_aggregate(loaded: TestClient) -> None:
    cols, rows = table(
        loaded,
        "| stats count() as n, sum(latency_ms) as s, min(latency_ms) as lo, p50(latency_ms) as med, "
        "p95(latency_ms) as p95, p99(latency_ms) as p99, count_distinct(service) as services, count(user_id) as users",
    )
    assert cols == ["n", "s", "lo", "med", "p95", "p99", "services", "users"]
    n, s, lo, med, p95, p99, services, users = rows[0]
    assert (n, s, lo, med, services, users) == (5, 1205.0, 5.0, 100.0, 3, 2)
    assert 250 < p95 <= 800 and p95 <= p99 <= 800


def test_stats_where_sort_limit(loaded: TestClient) -> None:
    cols, rows = table(loaded, "| stats count() as n by service | where n > 1 | sort +service")
    assert rows == [["api", 2], ["checkout", 2]]
    _, rows = table(loaded, "| stats count() as n by service | sort -n, +service | limit 1")
    assert rows == [["api", 2]]
    cols, rows = table(loaded, "level:error | stats count() by service")
    assert rows == [["checkout", 1]]
    cols, rows = table(loaded, '| stats count() as n by service | where n = 1 or service = "api" | fields service')
    assert cols == ["service"]
    assert sorted(r[0] for r in rows) == ["api", "my svc"]


def test_top_and_rare(loaded: TestClient) -> None:
    cols, rows = table(loaded, "| top 2 service")
    assert cols == ["service", "count", "percent"]
    assert rows == [["api", 2, 40.0], ["checkout", 2, 40.0]]
    _, rows = table(loaded, "| rare 1 service")
    assert rows == [["my svc", 1, 20.0]]
    _, rows = table(loaded, "| top user_id")
    assert rows == [["42", 1, 50.0], ["7", 1, 50.0]]


def test_timechart(loaded: TestClient) -> None:
    cols, rows = table(loaded, "| timechart span=1m count() by level")
    assert cols == ["_time", "level", "count"]
    counted = [r for r in rows if r[2]]
    assert counted[:2] == [["2026-11-21T10:00:00Z", "ERROR", 1], ["2026-11-21T10:00:00Z", "INFO", 1]]
    assert len(counted) == 5
    # A chart gets every bucket of the window for every group, the empty ones with count 0.
    levels = sorted({r[1] for r in counted})
    assert len(rows) == 24 * 60 * len(levels)
    assert sorted(rows[: len(levels)]) == [["2026-11-21T00:00:00Z", level, 0] for level in levels]
    _, rows = table(loaded, "| timechart span=2m avg(latency_ms) as avg")
    assert [r for r in rows if r[1] is not None] == [
        ["2026-11-21T10:00:00Z", 366.6666666666667],
        ["2026-11-21T10:02:00Z", 52.5],
    ]
    assert len(rows) == 24 * 30 and rows[0] == ["2026-11-21T00:00:00Z", None]
    # Pipes after the timechart see (and return) only the buckets that have lines.
    _, rows = table(loaded, "| timechart span=1m count() as n | where n > 0")
    assert len(rows) == 4


def test_tenant_isolation(loaded: TestClient) -> None:
    assert messages(loaded, "secret") == []
    assert messages(loaded, "service:intruder") == []
    _, rows = table(loaded, "| stats count() by service")
    assert "intruder" not in {r[0] for r in rows}
    other = loaded.post("/api/v1/query", json={"q": "timeout", **WINDOW}, headers={"X-Scope-OrgID": "other"}).json()
    assert [h["message"] for h in other["hits"]] == ["other tenant payment timeout secret"]
    # A tenant field in the query cannot widen the tenant filter.
    assert messages(loaded, "tenant:other") == []
    assert messages(loaded, "tenant:other OR service:intruder OR *") == [d["msg"] for d in reversed(DATA)]


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("level:", 7),
        ("a OR", 5),
        ("level:foo", 7),
        ("x:/(/", 3),
        ("| stats foo(x)", 9),
        ("status:>=", 10),
        ("(a", 3),
        ("a )", 3),
        ("| stats count() | where nope > 1", 19),
        ("| top 5 host | sort -nope", 16),
        ("| timechart span=1s count()", 3),
    ],
)
def test_bad_queries_are_400_with_column(loaded: TestClient, text: str, column: int) -> None:
    resp = loaded.post("/api/v1/query", json={"q": text, **WINDOW})
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["column"] == column, body
    assert body["error"]


def test_bad_parameters(loaded: TestClient) -> None:
    assert loaded.post("/api/v1/query", content=b"[1]").status_code == 400
    assert loaded.post("/api/v1/query", content=b"nope").status_code == 400
    assert loaded.post("/api/v1/query", json={"q": "x", "limit": 0}).status_code == 400
    assert loaded.post("/api/v1/query", json={"q": "x", "start": "yesterday"}).status_code == 400
    assert loaded.post("/api/v1/query", json={"q": ["x"]}).status_code == 400
    # A number compared with a text column is a numeric test that text never passes, not an error.
    _, rows = table(loaded, "| stats count() as n by service | where service > 5")
    assert rows == []


def test_histogram(loaded: TestClient) -> None:
    resp = loaded.get(
        "/api/v1/histogram",
        params={"q": "", "start": "2026-11-21T10:00:00Z", "end": "2026-11-21T10:05:00Z", "interval": "1m"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["interval_seconds"] == 60
    assert [b["count"] for b in body["buckets"]] == [2, 1, 1, 1, 0]
    assert body["buckets"][0]["ts"] == "2026-11-21T10:00:00Z"
    assert body["total"] == 5
    body = loaded.get(
        "/api/v1/histogram",
        params={
            "q": "status:>=500",
            "start": "2026-11-21T10:00:00Z",
            "end": "2026-11-21T10:04:00Z",
            "buckets": 4,
            "by": "level",
        },
    ).json()
    assert [b["count"] for b in body["buckets"]] == [1, 1, 0, 1]
    assert {s["value"]: s["counts"] for s in body["series"]} == {
        "ERROR": [1, 0, 0, 0],
        "WARN": [0, 1, 0, 0],
        "FATAL": [0, 0, 0, 1],
    }


def test_histogram_buckets_are_aligned(loaded: TestClient) -> None:
    body = loaded.get(
        "/api/v1/histogram", params={"start": "2026-11-21T09:59:45Z", "end": "2026-11-21T10:01:45Z", "buckets": 4}
    ).json()
    assert body["interval_seconds"] == 30
    assert [b["ts"][11:19] for b in body["buckets"]] == ["09:59:30", "10:00:00", "10:00:30", "10:01:00", "10:01:30"]
    assert [b["count"] for b in body["buckets"]] == [0, 1, 1, 1, 0]


@pytest.mark.parametrize("interval", ["2d", "7d"])
def test_histogram_wide_buckets_lose_no_rows(loaded: TestClient, interval: str) -> None:
    # Buckets whose width does not divide the time since 2000-01-03 (time_bucket's origin): the SQL
    # buckets and the zero-filled list must be aligned alike, on multiples of the width since the epoch.
    body = loaded.get(
        "/api/v1/histogram",
        params={"start": "2026-10-01T00:00:00Z", "end": "2026-11-30T00:00:00Z", "interval": interval},
    ).json()
    width = {"2d": 2, "7d": 7}[interval]
    days = [(datetime.fromisoformat(b["ts"]) - datetime(1970, 1, 1, tzinfo=UTC)).days for b in body["buckets"]]
    assert all(d % width == 0 for d in days)
    assert sum(b["count"] for b in body["buckets"]) == body["total"] > 0


def test_fields(loaded: TestClient) -> None:
    resp = loaded.get("/api/v1/fields", params={"q": "service:checkout OR service:api", **WINDOW})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["sampled"] == 4
    assert body["sample_limit"] == 10_000
    fields = {f["name"]: f for f in body["fields"]}
    assert fields["service"]["top"][0] == {"value": "api", "count": 2}
    assert fields["status"]["type"] == "integer"
    assert fields["status"]["count"] == 4
    assert {"value": "500", "count": 2} in fields["status"]["top"]
    assert fields["http.status"]["count"] == 1
    assert fields["client_ip"]["type"] == "string"
    assert "intruder" not in str(body)


def test_fields_bad_query(loaded: TestClient) -> None:
    resp = loaded.get("/api/v1/fields", params={"q": "level:nope"})
    assert resp.status_code == 400
    assert resp.json()["column"] == 7


def test_old_search_api_still_works(loaded: TestClient) -> None:
    body = loaded.get("/api/v1/search", params={"q": "timeout", **WINDOW}).json()
    assert body["total"] == 1


@pytest.mark.slow
def test_cli_query_tables_hits_and_errors(tmp_path: Any, server_factory: Any) -> None:
    import subprocess
    import sys

    import httpx

    server = server_factory(tmp_path / "data")
    now_lines = [{k: v for k, v in d.items() if k != "ts"} for d in DATA]
    body = b"\n".join(orjson.dumps(x) for x in now_lines)
    assert httpx.post(server.url + "/api/v1/ingest", content=body).status_code == 200

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "logwarden", "query", *args, "--server", server.url],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip

    out = cli("| stats count() by service | sort +service", "--since", "15m")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].split() == ["service", "count"]
    assert out.stdout.splitlines()[2].split() == ["api", "2"]
    out = cli("status:>=500 | fields service, status", "-o", "ndjson")
    assert sorted(orjson.loads(line)["status"] for line in out.stdout.splitlines()) == [500, 500, 503]
    out = cli("timeout", "--service", "checkout")
    assert "payment timeout after 30s" in out.stdout
    assert "1 of 1 matching lines" in out.stderr
    out = cli("| top 1 host", "-o", "json")
    assert orjson.loads(out.stdout)["kind"] == "table"
    bad = cli("level:nope")
    assert bad.returncode == 1
    assert "unknown level" in bad.stderr
    assert "      ^" in bad.stderr


@pytest.mark.slow
def test_fuzzed_queries_never_cross_tenants_or_fail_with_500(loaded: TestClient) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    pieces = st.sampled_from(
        [
            "secret",
            "intruder",
            "tenant:other",
            "'",
            '"',
            "\\",
            ")",
            "(",
            " OR ",
            " AND ",
            "NOT ",
            "-",
            "*",
            ":",
            "/",
            "| stats count() by tenant",
            "| top 5 service",
            "service:",
            "_exists_:",
            "[",
            " TO ",
            "]",
            "x",
            "1",
            ">=",
        ]
    )

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(pieces, max_size=6).map("".join))
    def run(text: str) -> None:
        resp = loaded.post("/api/v1/query", json={"q": text, **WINDOW})
        assert resp.status_code in (200, 400), resp.text
        if resp.status_code == 400:
            assert "column" in resp.json()
            return
        body = resp.json()
        # The other tenant's lines never show up (column names merely echo what the query typed).
        data = json.dumps({k: v for k, v in body.items() if k != "columns"})
        assert "intruder" not in data and "other tenant" not in data
        if body["kind"] == "hits":
            assert all(h.get("tenant", "default") == "default" for h in body["hits"])

    run()


def test_queries_reach_the_parquet_archive(tmp_path: Any) -> None:
    import asyncio
    from datetime import UTC, datetime

    from logwarden.api.app import create_app
    from logwarden.api.runtime import Runtime
    from tests.conftest import make_config

    cfg = make_config(tmp_path, **{"archive.archive_after_days": 1})
    app = create_app(cfg, run_maintenance=False)
    with TestClient(app) as c:
        old = b'{"ts":"2026-11-10T08:00:00Z","msg":"ancient disk failure","service":"storage","status":500}\n'
        new = b'{"ts":"2026-11-21T08:00:00Z","msg":"recent disk failure","service":"storage","status":503}\n'
        assert c.post("/api/v1/ingest", content=old + new).json() == {"accepted": 2, "rejected": 0}
        runtime = app.state.runtime
        assert isinstance(runtime, Runtime) and runtime.store is not None
        report = asyncio.run(runtime.store.maintain(now=datetime(2026, 11, 21, 12, tzinfo=UTC)))
        assert [k.day.isoformat() for k in report.archived] == ["2026-11-10"]
        window = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-22T00:00:00Z"}
        body = c.post("/api/v1/query", json={"q": '"disk failure" status:>=500', **window}).json()
        assert [h["message"] for h in body["hits"]] == ["recent disk failure", "ancient disk failure"]
        body = c.post("/api/v1/query", json={"q": "| timechart span=1d count()", **window}).json()
        assert [r for r in body["rows"] if r[1]] == [["2026-11-10T00:00:00Z", 1], ["2026-11-21T00:00:00Z", 1]]
        # Only the archive's day: the hot partition is pruned, and the archive still answers.
        body = c.post("/api/v1/query", json={"q": "disk _time:[2026-11-10T00:00:00Z TO 2026-11-11T00:00:00Z}",
                                             **window}).json()  # fmt: skip
        assert [h["message"] for h in body["hits"]] == ["ancient disk failure"]
