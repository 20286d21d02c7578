"""Whole-word terms: near misses (the text inside longer words) never hide or count as matches, whatever
the page size."""

from __future__ import annotations

import orjson
import pytest
from starlette.testclient import TestClient


def ingest(client: TestClient, messages: list[str]) -> None:
    body = b"\n".join(orjson.dumps({"ts": f"2026-11-21T10:00:{i:02d}Z", "msg": m}) for i, m in enumerate(messages))
    assert client.post("/api/v1/ingest", content=body).status_code == 200


def query(client: TestClient, q: str, limit: int) -> dict:  # type: ignore[type-arg]
    r = client.post(
        "/api/v1/query", json={"q": q, "start": "2026-11-21T00:00:00Z", "end": "2026-11-22T00:00:00Z", "limit": limit}
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("limit", [1, 2, 3, 50])
def test_near_misses_newer_than_the_matches_do_not_hide_them(client: TestClient, limit: int) -> None:
    # Three whole-word matches, then 40 newer lines that only contain the text inside longer words.
    ingest(client, ["timeout A", "read timeout B", "timeout: C"] + [f"timeouts {i}" for i in range(40)])
    body = query(client, "timeout", limit)
    expected = ["timeout: C", "read timeout B", "timeout A"][:limit]
    assert [h["message"] for h in body["hits"]] == expected
    assert body["total"] == 3


def test_mostly_whole_words_need_no_second_statement(client: TestClient) -> None:
    ingest(client, [f"timeout {i}" for i in range(30)] + ["timeouts x"])
    body = query(client, "timeout", 10)
    assert len(body["hits"]) == 10 and body["total"] == 30
    assert all(h["message"].startswith("timeout ") for h in body["hits"])
    assert query(client, "timeout*", 100)["total"] == 31
