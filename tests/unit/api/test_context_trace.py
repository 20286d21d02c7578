"""GET /api/v1/context/{log_id} and GET /api/v1/trace/{trace_id} in-process, over applied and in-memory lines."""

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

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)


def ts(seconds: float) -> str:
    return (BASE + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def ingest(client: TestClient, lines: list[dict[str, Any]], tenant: str = "alpha") -> None:
    body = b"\n".join(orjson.dumps(x) for x in lines)
    resp = client.post("/api/v1/ingest", content=body, headers={"X-Scope-OrgID": tenant})
    assert resp.status_code == 200 and resp.json()["accepted"] == len(lines), resp.text


@pytest.fixture
def loaded(tmp_path: Path) -> Iterator[TestClient]:
    config = make_config(tmp_path, **{"store.apply_interval": "1h"})
    with TestClient(create_app(config, run_maintenance=False)) as client:
        store = runtime_of(client).store
        assert store is not None
        # web-1/api: a-00 … a-29, one per second; neighbours on other hosts and services interleave.
        main = [
            {"ts": ts(i), "host": "web-1", "service": "api", "msg": f"line {i}", "log_id": f"a-{i:02d}"}
            for i in range(30)
        ]
        noise = [
            *(
                {"ts": ts(i + 0.5), "host": "web-2", "service": "api", "msg": "other host", "log_id": f"h-{i:02d}"}
                for i in range(30)
            ),
            *(
                {"ts": ts(i + 0.5), "host": "web-1", "service": "db", "msg": "other service", "log_id": f"s-{i:02d}"}
                for i in range(30)
            ),
        ]
        far = [
            {"ts": ts(-7200), "host": "web-1", "service": "api", "msg": "two hours earlier", "log_id": "far-before"},
            {"ts": ts(5000), "host": "web-1", "service": "api", "msg": "much later", "log_id": "far-after"},
        ]
        ingest(client, main[:15] + noise + far)
        store.flush_blocking()
        ingest(client, main[15:])  # still in memory only
        # Same ts: in the order they arrived (c, a, b), not by log_id; no host at all: its own group.
        ingest(client, [{"ts": ts(100), "service": "api", "msg": f"tie {x}", "log_id": f"t-{x}"} for x in "cab"])
        ingest(
            client, [{"ts": ts(10), "host": "web-1", "service": "api", "msg": "bravo's", "log_id": "a-10b"}], "bravo"
        )
        trace = [
            {"ts": ts(200), "service": "web", "trace_id": "tr-1", "span_id": "s1", "msg": "GET /checkout"},
            {"ts": ts(200.010), "service": "api", "trace_id": "tr-1", "span_id": "s2", "msg": "checkout"},
            {"ts": ts(200.020), "service": "db", "trace_id": "tr-1", "span_id": "s3", "msg": "query", "level": "error"},
            {
                "ts": ts(200.030),
                "service": "api",
                "trace_id": "tr-1",
                "span_id": "s2",
                "msg": "failed",
                "level": "error",
            },
            {"ts": ts(200.250), "service": "web", "trace_id": "tr-1", "span_id": "s1", "msg": "500", "status": 500},
            {"ts": ts(201), "service": "web", "trace_id": "tr-2", "span_id": "x", "msg": "another trace"},
        ]
        ingest(client, trace[:3])
        store.flush_blocking()
        ingest(client, trace[3:])
        ingest(client, [{"ts": ts(200.1), "service": "spy", "trace_id": "tr-1", "msg": "bravo's trace line"}], "bravo")
        yield client


def context(client: TestClient, log_id: str, tenant: str = "alpha", **params: Any) -> Any:
    return client.get(f"/api/v1/context/{log_id}", params=params, headers={"X-Scope-OrgID": tenant})


def test_context_is_same_host_and_service_in_time_order(loaded: TestClient) -> None:
    resp = context(loaded, "a-14", before=3, after=2)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [x["log_id"] for x in body["lines"]] == ["a-11", "a-12", "a-13", "a-14", "a-15", "a-16"]
    assert [x["anchor"] for x in body["lines"]] == [False, False, False, True, False, False]
    assert body["anchor_index"] == 3 and body["before"] == 3 and body["after"] == 2
    assert (body["host"], body["service"]) == ("web-1", "api")
    assert body["lines"][3]["ts"] == ts(14)
    assert body["lines"][3]["attrs"] == {}


def test_context_defaults_and_edges(loaded: TestClient) -> None:
    body = context(loaded, "a-02").json()
    assert [x["log_id"] for x in body["lines"]] == ["far-before", *(f"a-{i:02d}" for i in range(23))]
    assert body["anchor_index"] == 3
    body = context(loaded, "far-after", before=0, after=5).json()
    assert [x["log_id"] for x in body["lines"]] == ["far-after"]


def test_context_reaches_beyond_the_near_window_when_needed(loaded: TestClient) -> None:
    body = context(loaded, "a-02", before=2, after=0).json()
    assert [x["log_id"] for x in body["lines"]] == ["a-00", "a-01", "a-02"]
    body = context(loaded, "a-02", before=5, after=0).json()
    assert [x["log_id"] for x in body["lines"]] == ["far-before", "a-00", "a-01", "a-02"]
    body = context(loaded, "a-28", before=0, after=3).json()
    assert [x["log_id"] for x in body["lines"]] == ["a-28", "a-29", "far-after"]


def test_context_orders_ties_by_arrival_and_groups_missing_host(loaded: TestClient) -> None:
    body = context(loaded, "t-b", before=5, after=5).json()
    assert [x["message"] for x in body["lines"]] == ["tie c", "tie a", "tie b", "checkout", "failed"]
    assert body["host"] is None


def test_context_errors(loaded: TestClient) -> None:
    assert context(loaded, "nope").status_code == 404
    assert context(loaded, "a-10b").status_code == 404  # bravo's line, asked for by alpha
    assert context(loaded, "a-10b", tenant="bravo").json()["lines"][0]["message"] == "bravo's"
    assert context(loaded, "a-10", before=-1).status_code == 400
    assert context(loaded, "a-10", after=100000).status_code == 400
    assert context(loaded, "a-10", start="soon").status_code == 400
    assert context(loaded, "a-10", start="now-5m").status_code == 404  # outside the hinted range


def test_trace_across_services_with_summary(loaded: TestClient) -> None:
    resp = loaded.get("/api/v1/trace/tr-1", headers={"X-Scope-OrgID": "alpha"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [x["message"] for x in body["lines"]] == ["GET /checkout", "checkout", "query", "failed", "500"]
    assert body["lines"][4]["attrs"] == {"status": 500}
    summary = body["summary"]
    assert [s["service"] for s in summary["services"]] == ["web", "api", "db"]
    api = summary["services"][1]
    assert (api["lines"], api["errors"], api["spans"]) == (2, 1, 1)
    assert (api["first_ts"], api["last_ts"]) == (ts(200.010), ts(200.030))
    assert summary["lines"] == 5 and summary["errors"] == 2 and summary["spans"] == 3
    assert summary["first_ts"] == ts(200)
    assert summary["duration_ms"] == pytest.approx(250)
    assert body["truncated"] is False


def test_trace_limit_and_errors(loaded: TestClient) -> None:
    alpha = {"X-Scope-OrgID": "alpha"}
    body = loaded.get("/api/v1/trace/tr-1", params={"limit": 2}, headers=alpha).json()
    assert len(body["lines"]) == 2 and body["truncated"] is True and body["summary"]["lines"] == 5
    # A truncated trace is summarized in SQL, a whole one from its lines: the two must agree.
    whole = loaded.get("/api/v1/trace/tr-1", headers=alpha).json()
    assert whole["truncated"] is False
    assert body["summary"] == whole["summary"]
    assert loaded.get("/api/v1/trace/none").status_code == 404
    assert loaded.get("/api/v1/trace/tr-1", params={"limit": 0}, headers=alpha).status_code == 400
    assert loaded.get("/api/v1/trace/tr-1").status_code == 404  # the default tenant has no such trace
    bravo = loaded.get("/api/v1/trace/tr-1", headers={"X-Scope-OrgID": "bravo"}).json()
    assert [x["service"] for x in bravo["lines"]] == ["spy"]
