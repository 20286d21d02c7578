"""POST /api/v1/sql in-process: results, limits, errors, and that a tenant only ever reads its own lines."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.api.runtime import runtime_of
from tests.conftest import make_config

pytestmark = pytest.mark.slow  # statements run in SQL worker processes

SECRET = "zq9-secret-payload"  # only in the other tenant's lines


def _ts(now: datetime, delta: timedelta) -> str:
    return (now - delta).isoformat().replace("+00:00", "Z")


@pytest.fixture
def now() -> datetime:
    """The test's own clock: lines are stamped relative to it, taken when the test starts (not at import)."""
    return datetime.now(UTC).replace(microsecond=0)


def ingest(client: TestClient, lines: list[dict[str, Any]], tenant: str) -> None:
    body = b"\n".join(orjson.dumps(x) for x in lines)
    resp = client.post("/api/v1/ingest", content=body, headers={"X-Scope-OrgID": tenant})
    assert resp.status_code == 200, resp.text
    assert resp.json()["accepted"] == len(lines)


def sql(client: TestClient, text: str, tenant: str = "alpha", **extra: Any) -> Any:
    return client.post("/api/v1/sql", json={"sql": text, **extra}, headers={"X-Scope-OrgID": tenant})


@pytest.fixture
def loaded(tmp_path: Path, now: datetime) -> Iterator[TestClient]:
    """alpha and bravo lines: archived (3 days old), applied to DuckDB, and still only in memory."""
    config = make_config(tmp_path, **{"store.apply_interval": "1h"})
    with TestClient(create_app(config, run_maintenance=False)) as client:
        store = runtime_of(client).store
        assert store is not None
        for tenant, marker in (("alpha", "public"), ("bravo", SECRET)):
            old = [
                {"ts": _ts(now, timedelta(days=3, minutes=i)), "msg": f"old {marker}", "service": "api"}
                for i in range(3)
            ]
            ingest(client, old, tenant)
        client.portal.call(store.maintain)  # archives the 3-day-old partitions to Parquet
        assert store.partitions()[1], "expected archived partitions"
        for tenant, marker in (("alpha", "public"), ("bravo", SECRET)):
            lines = [
                {
                    "ts": _ts(now, timedelta(minutes=10 + i)),
                    "msg": f"applied {marker} {i}",
                    "service": "api" if i % 2 else "web",
                    "level": "error" if i % 3 == 0 else "info",
                    "user_id": i,
                }
                for i in range(6)
            ]
            ingest(client, lines, tenant)
        store.flush_blocking()
        for tenant, marker in (("alpha", "public"), ("bravo", SECRET)):
            ingest(client, [{"ts": _ts(now, timedelta(minutes=1)), "msg": f"fresh {marker}", "service": "api"}], tenant)
        assert store.unapplied_bytes > 0, "expected lines that are only in memory"
        yield client


def test_select_over_hot_archive_and_memory(loaded: TestClient) -> None:
    resp = sql(loaded, "SELECT split_part(message, ' ', 1) AS kind, count(*) AS n FROM logs GROUP BY 1 ORDER BY 1")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["columns"] == [{"name": "kind", "type": "VARCHAR"}, {"name": "n", "type": "BIGINT"}]
    assert body["rows"] == [["applied", 6], ["fresh", 1], ["old", 3]]
    assert body["truncated"] is False
    assert body["row_count"] == 3


def test_a_tenant_sees_only_its_own_lines(loaded: TestClient) -> None:
    for tenant, marker in (("alpha", "public"), ("bravo", SECRET)):
        body = sql(loaded, "SELECT DISTINCT tenant, split_part(message, ' ', 2) FROM logs", tenant).json()
        assert body["rows"] == [[tenant, marker]]
    everything = sql(loaded, "SELECT * FROM logs").text
    assert SECRET not in everything and "bravo" not in everything


def test_attrs_values_and_types(loaded: TestClient, now: datetime) -> None:
    body = sql(
        loaded,
        "SELECT json_extract_string(attrs, '$.user_id')::INT AS u, ts, level FROM logs "
        "WHERE message LIKE 'applied%' ORDER BY u LIMIT 2",
    ).json()
    assert [c["type"] for c in body["columns"]] == ["INTEGER", "TIMESTAMP WITH TIME ZONE", "VARCHAR"]
    assert body["rows"][0][0] == 0
    assert body["rows"][0][1] == _ts(now, timedelta(minutes=10))
    assert body["rows"][0][2] == "ERROR"


def test_start_and_end_limit_the_rows(loaded: TestClient, now: datetime) -> None:
    # Absolute bounds from the test's clock: the answer cannot depend on when the module was imported.
    body = sql(loaded, "SELECT count(*) FROM logs", start=_ts(now, timedelta(minutes=5))).json()
    assert body["rows"] == [[1]]
    body = sql(
        loaded, "SELECT count(*) FROM logs", start=_ts(now, timedelta(days=4)), end=_ts(now, timedelta(days=2))
    ).json()
    assert body["rows"] == [[3]]
    # Relative bounds are taken at the request; an hour of margin around lines 1-15 minutes old.
    assert sql(loaded, "SELECT count(*) FROM logs", start="now-1h").json()["rows"] == [[7]]


def test_row_limit_truncates(loaded: TestClient) -> None:
    body = sql(loaded, "SELECT * FROM range(5000)", limit=100).json()
    assert body["row_count"] == 100 and body["truncated"] is True and body["limit"] == 100
    body = sql(loaded, "SELECT * FROM range(1000)").json()
    assert body["row_count"] == 1000 and body["truncated"] is False


def test_time_limit_interrupts_the_query(loaded: TestClient) -> None:
    began = time.monotonic()
    resp = sql(loaded, "SELECT sum(a.range * b.range) FROM range(100000000) a, range(100000) b", timeout=0.3)
    assert resp.status_code == 408, resp.text
    assert "time limit of 0.3 s" in resp.json()["error"]
    assert time.monotonic() - began < 5
    # The server's store is fine afterwards.
    assert sql(loaded, "SELECT count(*) FROM logs").json()["rows"] == [[10]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DROP TABLE logs", "only SELECT"),
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
        ('SELECT * FROM "logs$bravo$20260101"', "unknown table"),
        ("SELECT getenv('HOME')", "getenv"),
        ("ATTACH '/tmp/x.duckdb'", "only SELECT"),
        ("COPY logs TO '/tmp/x.csv'", "only SELECT"),
        ("SELECT 1; SELECT 2", "exactly one"),
    ],
)
def test_refused_statements_are_400(loaded: TestClient, text: str, expected: str) -> None:
    resp = sql(loaded, text)
    assert resp.status_code == 400
    assert expected in resp.json()["error"]


def test_syntax_error_has_line_and_column(loaded: TestClient) -> None:
    resp = sql(loaded, "SELECT level\nFROM logs\nWHERE (level = 'x'")
    assert resp.status_code == 400
    body = resp.json()
    assert body["line"] == 3 and body["column"] is not None
    assert "syntax error" in body["error"]


def test_execution_errors_are_400(loaded: TestClient) -> None:
    resp = sql(loaded, "SELECT no_such_column FROM logs")
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert "no_such_column" in error and "logs$" not in error
    resp = sql(loaded, "SELECT 'x'::INT")
    assert resp.status_code == 400


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "missing"),
        ({"sql": 1}, "'sql'"),
        ({"sql": "SELECT 1", "limit": 0}, "'limit'"),
        ({"sql": "SELECT 1", "limit": "10"}, "'limit'"),
        ({"sql": "SELECT 1", "timeout": -1}, "'timeout'"),
        ({"sql": "SELECT 1", "start": "yesterday"}, "invalid start"),
    ],
)
def test_bad_requests(loaded: TestClient, body: dict[str, Any], expected: str) -> None:
    resp = loaded.post("/api/v1/sql", json=body)
    assert resp.status_code == 400
    assert expected in resp.json()["error"]


def test_not_json(loaded: TestClient) -> None:
    assert loaded.post("/api/v1/sql", content=b"SELECT 1").status_code == 400
    assert loaded.post("/api/v1/sql", json=["SELECT 1"]).status_code == 400


def test_empty_store(client: TestClient) -> None:
    body = sql(client, "SELECT count(*), max(ts) FROM logs").json()
    assert body["rows"] == [[0, None]]


PIECES = [
    "SELECT",
    "*",
    "FROM",
    "logs",
    "WHERE",
    "tenant",
    "=",
    "'bravo'",
    "OR",
    "1=1",
    "(",
    ")",
    ",",
    ";",
    "UNION ALL SELECT * FROM",
    '"logs$bravo$TODAY"',  # the other tenant's partition of the day each example runs
    "_unapplied",
    "_archive_files",
    "read_parquet('" + "**/*.parquet')",
    "glob('**')",
    "duckdb_tables()",
    "query('SELECT * FROM _unapplied')",
    "WITH logs AS",
    "WITH x AS (SELECT * FROM _unapplied)",
    "x",
    "LATERAL",
    "JOIN",
    "main.",
    "hot.",
    "message",
    "attrs",
    "--",
    "/*",
    "*/",
    "$tenant",
    "'%'",
    "LIKE",
]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map(" ".join) | st.text(max_size=60))
def test_fuzz_nothing_but_own_data_or_a_400(loaded: TestClient, text: str) -> None:
    text = text.replace("$TODAY", f"${datetime.now(UTC):%Y%m%d}")
    resp = sql(loaded, text, timeout=5)
    assert resp.status_code in (200, 400), resp.text
    assert SECRET not in resp.text
    event(f"status {resp.status_code}")
