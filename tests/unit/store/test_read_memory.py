"""Reads within `store.memory_limit`: a newest-first page over many rows needs little memory, and a query too
big for the limit even alone is a 503 that says what to do (never a 500)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from tests.conftest import make_config

ROWS = 100_000


def _body(start: datetime, offset: int, n: int) -> bytes:
    lines = (
        {
            "ts": (start + timedelta(milliseconds=i // 4)).isoformat(),  # four lines share each ts: ties on the page
            "message": f"line {offset + i} " + "x" * 200,
            "service": f"s{i % 50}",
            "user": f"u{offset + i}",
        }
        for i in range(n)
    )
    return b"\n".join(orjson.dumps(line) for line in lines)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp: Path = tmp_path_factory.mktemp("read-memory")
    config = make_config(tmp, **{"store.memory_limit": "32MiB"})
    # Two day partitions of ROWS lines each, the two days before the test runs: every line is in the past whatever
    # the time of day (a line of today stamped more than ingest.future_grace ahead would be a dead letter).
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with TestClient(create_app(config, run_maintenance=False)) as c:
        for day, offset in ((today - timedelta(days=2), 0), (today - timedelta(days=1), 2 * ROWS)):
            for part in range(0, ROWS, 25_000):
                resp = c.post("/api/v1/ingest", content=_body(day + timedelta(seconds=part), offset + part, 25_000))
                assert resp.status_code == 200, resp.text
        yield c


def _query(client: TestClient, q: str, limit: int = 200) -> tuple[int, dict]:
    resp = client.post("/api/v1/query", json={"q": q, "start": "now-3d", "end": "now+1d", "limit": limit})
    return resp.status_code, resp.json()


def test_a_newest_first_page_over_every_row_fits_a_small_memory_limit(client: TestClient) -> None:
    status, body = _query(client, "*")
    assert status == 200, body
    assert body["total"] == 2 * ROWS
    users = [hit["attrs"]["user"] for hit in body["hits"]]
    # The second day's last 200 lines, newest first: ties on ts come in arrival order reversed.
    assert users == [f"u{2 * ROWS + ROWS - 1 - i}" for i in range(200)]


def test_the_page_is_the_same_with_a_filter_and_at_a_tie(client: TestClient) -> None:
    status, body = _query(client, "service:s7", limit=3)
    assert status == 200, body
    assert body["total"] == 2 * ROWS // 50
    assert [hit["attrs"]["user"] for hit in body["hits"]] == [f"u{3 * ROWS - 43 - 50 * i}" for i in range(3)]
    # A page that ends inside a run of equal timestamps: exactly `limit` lines, the newest by arrival.
    status, body = _query(client, "*", limit=2)
    assert [hit["attrs"]["user"] for hit in body["hits"]] == [f"u{3 * ROWS - 1}", f"u{3 * ROWS - 2}"]


def test_a_query_too_big_even_alone_is_a_503_naming_the_setting(client: TestClient) -> None:
    status, body = _query(client, "* | stats p99(user) by message")
    assert status == 503
    assert "store.memory_limit (32.0MiB)" in body["error"]
    assert "narrow the query" in body["error"]
