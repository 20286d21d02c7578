"""POST /api/v1/sql against probes that used to take the server down or read other tenants (issue 9).

Each probe gets a 4xx, the server's own memory stays put while it runs, and values JSON cannot hold
come back as strings instead of a 500.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.config.model import SqlConfig
from tests.conftest import make_config
from tests.memory import peak_rss_during

pytestmark = pytest.mark.slow  # starts SQL worker processes

MiB = 1024**2


def sql(client: TestClient, text: str, tenant: str = "alpha", **extra: Any) -> Any:
    return client.post("/api/v1/sql", json={"sql": text, **extra}, headers={"X-Scope-OrgID": tenant})


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    config = make_config(
        tmp_path,
        **{
            "sql.max_memory": "256MiB",
            "sql.workers": 1,
            "sql.max_timeout": "20s",
            "sql.default_timeout": "10s",
            "sql.max_result_bytes": "1MiB",
        },
    )
    with TestClient(create_app(config, run_maintenance=False)) as c:
        now = datetime.now(UTC)
        for tenant in ("alpha", "beta"):
            body = b"\n".join(
                orjson.dumps({"ts": (now - timedelta(minutes=i)).isoformat(), "msg": f"{tenant} line {i}"})
                for i in range(20)
            )
            resp = c.post("/api/v1/ingest", content=body, headers={"X-Scope-OrgID": tenant})
            assert resp.status_code == 200, resp.text
        yield c


def _server_rss_peak(fn: Any) -> tuple[int, Any]:
    """How far this process's RSS (the server runs in-process) rose above its start while fn ran."""
    before, peak, outcome = peak_rss_during(fn)
    if isinstance(outcome, Exception):
        raise outcome
    return peak - before, outcome


@pytest.mark.parametrize("text", ["SELECT len(range(100000000))", "SELECT list_resize([1],100000000)"])
def test_memory_probes_are_400_and_the_server_rss_stays_put(client: TestClient, text: str) -> None:
    began = time.monotonic()
    growth, resp = _server_rss_peak(lambda: sql(client, text, timeout=10))
    assert resp.status_code == 400, resp.text
    assert "more memory than sql.max_memory allows (256 MiB)" in resp.json()["error"]
    assert growth < 64 * MiB, f"server RSS grew by {growth / MiB:.0f} MiB"
    assert time.monotonic() - began < 10
    # The server answers as before.
    assert sql(client, "SELECT count(*) FROM logs").json()["rows"] == [[20]]


def test_plans_of_other_tables_are_refused(client: TestClient) -> None:
    today = f"{datetime.now(UTC):%Y%m%d}"  # the day the lines of another tenant would be stored
    resp = sql(client, f"""SELECT json_serialize_plan('SELECT count(*) FROM "logs$beta${today}"', optimize := true)""")
    assert resp.status_code == 400
    assert "json_serialize_plan() is not allowed" in resp.json()["error"]
    assert "beta" not in sql(client, "SELECT * FROM logs").text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT '10000-01-01'::DATE AS d", "10000-01-01"),
        ("SELECT 'infinity'::TIMESTAMP AS t", "infinity"),
        ("SELECT '-infinity'::TIMESTAMPTZ AS t", "-infinity"),
        ("SELECT 'nan'::DOUBLE AS f", "NaN"),
        ("SELECT 123456789012345678901234567890::HUGEINT AS h", "123456789012345678901234567890"),
        ("SELECT 12345678901234567.891::DECIMAL(38, 3) AS n", "12345678901234567.891"),
        ("SELECT '\\xAA'::BLOB AS b", "aa"),
    ],
)
def test_values_json_cannot_hold_are_strings_not_500(client: TestClient, text: str, expected: str) -> None:
    resp = sql(client, text)
    assert resp.status_code == 200, resp.text
    assert resp.json()["rows"] == [[expected]]


def test_a_long_query_is_stopped_at_its_timeout(client: TestClient) -> None:
    began = time.monotonic()
    resp = sql(client, "SELECT sum(a.range * b.range) FROM range(100000000) a, range(100000) b", timeout=1)
    assert resp.status_code == 408, resp.text
    assert time.monotonic() - began < 1 + 2
    assert sql(client, "SELECT count(*) FROM logs").json()["rows"] == [[20]]


def test_all_workers_busy_is_503_with_retry_after(client: TestClient) -> None:
    slow: list[Any] = []
    worker = threading.Thread(
        target=lambda: slow.append(sql(client, "SELECT count(*) FROM range(100000000) a, range(100000) b", timeout=3))
    )
    worker.start()
    answers: list[Any] = []
    try:
        # While the slow statement holds the only worker (sql.workers: 1), another statement is refused.
        while worker.is_alive() and not any(a.status_code == 503 for a in answers):
            answers.append(sql(client, "SELECT 1"))
    finally:
        worker.join()
    answers += slow
    busy = [a for a in answers if a.status_code == 503]
    assert busy, [a.status_code for a in answers]
    assert busy[0].headers["Retry-After"] == "1"
    assert "busy" in busy[0].json()["error"]
    assert {a.status_code for a in answers} <= {200, 408, 503}
    assert sql(client, "SELECT 1").json()["rows"] == [[1]]


def test_an_answer_larger_than_max_result_bytes_is_400(client: TestClient) -> None:
    growth, resp = _server_rss_peak(lambda: sql(client, "SELECT repeat('x', 20000000) AS big"))
    assert resp.status_code == 400, resp.text[:200]
    assert "more than sql.max_result_bytes allows" in resp.json()["error"]
    assert growth < 64 * MiB
    assert sql(client, "SELECT repeat('x', 1000) AS fine").status_code == 200


def test_timeouts_follow_the_config(client: TestClient) -> None:
    resp = sql(client, "SELECT 1", timeout=30)
    assert resp.status_code == 400
    assert "at most 20" in resp.json()["error"]


def test_a_default_timeout_beyond_the_maximum_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="default_timeout"):
        SqlConfig(default_timeout=600, max_timeout=60)  # type: ignore[arg-type]


LITERALS = [
    "'10000-01-01'",
    "'infinity'",
    "'-infinity'",
    "'nan'",
    "'1e400'",
    "'294247-01-10 04:00:54.775807'",
    "'-290308-12-21 (BC) 19:59:05.224192'",
    "'24:00:00'",
    "'\\xAA\\x00'",
    "340282366920938463463374607431768211455",
    "-170141183460469231731687303715884105728",
    "99999999999999999999999999999999999.999",
    "'{\"a\": [1, 2]}'",
    "NULL",
    "''",
    "'x'",
    "0",
]
TYPES = [
    "DATE",
    "TIMESTAMP",
    "TIMESTAMPTZ",
    "TIMESTAMP_NS",
    "TIMESTAMP_S",
    "TIME",
    "DOUBLE",
    "FLOAT",
    "HUGEINT",
    "UHUGEINT",
    "DECIMAL(38, 3)",
    "BLOB",
    "INTERVAL",
    "UUID",
    "JSON",
    "VARCHAR",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from(LITERALS), st.sampled_from(TYPES), st.sampled_from(["{}", "[{}]", "{{'k': {}}}"])),
        min_size=1,
        max_size=4,
    )
)
def test_fuzz_sql_values_never_5xx(client: TestClient, values: list[tuple[str, str, str]]) -> None:
    """Casts of edge literals to every kind of type, bare, in lists and in structs: a value or a 400."""
    select = ", ".join(shape.format(f"TRY_CAST({lit} AS {kind})") for lit, kind, shape in values)
    resp = sql(client, f"SELECT {select}")
    assert resp.status_code in (200, 400), resp.text
    if resp.status_code == 200:
        assert resp.json()["row_count"] == 1
