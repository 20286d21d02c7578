"""Lines that share a timestamp come back in the order they were stored: context, hits and trace."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.api.runtime import runtime_of
from tests.conftest import make_config

LINES = 90
pytestmark = pytest.mark.slow  # ~180 context requests


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    config = make_config(tmp_path, **{"store.apply_interval": "1h"})
    with TestClient(create_app(config, run_maintenance=False)) as c:
        yield c


def window(now: datetime) -> dict[str, str]:
    return {"start": (now - timedelta(hours=1)).isoformat(), "end": (now + timedelta(minutes=5)).isoformat()}


def agent_lines(ts: str) -> list[dict[str, Any]]:
    """What the agent ships: one receive time for the batch, ids `file@<byte offset>` (text order is not
    offset order: `file@9853` sorts after `file@98425`)."""
    out = []
    offset = 9853
    for i in range(LINES):
        message = f"line {i:03d} " + "x" * (i * 37 % 1500)
        out.append(
            {"ts": ts, "msg": message, "host": "h1", "service": "app", "trace_id": "tr-1", "log_id": f"file@{offset}"}
        )
        offset += len(message) + 1
    return out


def check_order(client: TestClient, stored: list[str], ids: list[str], now: datetime, tenant: str) -> None:
    headers = {"X-Scope-OrgID": tenant}
    w = window(now)
    hits = client.post("/api/v1/query", json={"q": "", "limit": 1000, **w}, headers=headers).json()["hits"]
    assert [h["message"] for h in hits] == stored[::-1]  # newest first: reverse arrival
    seqs = [h["seq"] for h in hits]
    assert seqs == sorted(seqs, reverse=True)
    trace = client.get("/api/v1/trace/tr-1", params=w, headers=headers)
    if trace.status_code == 200:
        assert [x["message"] for x in trace.json()["lines"]] == stored
    wrong = 0
    for i in range(0, len(ids)):
        body = client.get(f"/api/v1/context/{ids[i]}", params={**w, "before": 5, "after": 5}, headers=headers).json()
        got = [x["message"] for x in body["lines"]]
        wrong += got != stored[max(0, i - 5) : i + 6]
    assert wrong == 0, f"{wrong} of {len(ids)} context windows out of order"


def test_agent_lines_sharing_a_ts_keep_arrival_order(client: TestClient) -> None:
    now = datetime.now(UTC)
    ts = (now - timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    lines = agent_lines(ts)
    store = runtime_of(client).store
    assert store is not None
    half = LINES // 2
    for part in (lines[:half], lines[half:]):
        resp = client.post("/api/v1/ingest", content=b"\n".join(orjson.dumps(x) for x in part))
        assert resp.status_code == 200 and resp.json()["accepted"] == len(part), resp.text
        if part is lines[:half]:
            store.flush_blocking()  # the first half applied, the second still in memory: one order over both
    stored = [x["msg"] for x in lines]
    check_order(client, stored, [x["log_id"] for x in lines], now, "default")
    store.flush_blocking()
    check_order(client, stored, [x["log_id"] for x in lines], now, "default")


def test_bulk_documents_with_one_timestamp_keep_arrival_order(client: TestClient) -> None:
    now = datetime.now(UTC)
    stamp = (now - timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    stored = []
    # Several _bulk requests, as a shipper sends them: generated ids have a random prefix per request.
    for request in range(9):
        body = b""
        for j in range(10):
            n = request * 10 + j
            stored.append(f"doc {n}")
            body += orjson.dumps({"create": {}}) + b"\n"
            body += orjson.dumps({"@timestamp": stamp, "message": f"doc {n}", "host": {"name": "h"}}) + b"\n"
        resp = client.post("/_bulk", content=body, headers={"Content-Type": "application/x-ndjson"})
        assert resp.status_code == 200 and not resp.json()["errors"], resp.text
    store = runtime_of(client).store
    assert store is not None
    store.flush_blocking()
    w = window(now)
    hits = client.post("/api/v1/query", json={"q": "", "limit": 1000, **w}).json()["hits"]
    ids = [h["log_id"] for h in hits][::-1]
    check_order(client, stored, ids, now, "default")
