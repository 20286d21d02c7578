"""Using patterns through the real app: `GET /api/v1/patterns` (counts in the range, trend, samples, level mix,
first seen; per tenant and service), the `| patterns` pipe (counts per pattern with the template text) and the
`pattern:<id>` filter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from tests.conftest import make_config


def body(lines: list[tuple[str, str, str]], ts: datetime | None = None) -> bytes:
    """NDJSON of (service, level, message) lines, at `ts` (default: now)."""
    at = (ts or datetime.now(UTC)).isoformat()
    return b"\n".join(orjson.dumps({"ts": at, "service": s, "level": lv, "msg": m}) for s, lv, m in lines)


def settle(client: TestClient) -> None:
    """Every acknowledged line stored and its pattern counts committed."""
    app: Any = client.app
    assert app.state.runtime.bus.wait_caught_up()
    app.state.patterns.flush()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    config = make_config(tmp_path, **{"patterns.enabled": True})
    with TestClient(create_app(config, run_maintenance=False)) as c:
        lines = [("checkout", "error", f"payment {i} failed for order {i * 7}") for i in range(6)]
        lines += [("checkout", "info", f"payment {i} failed for order 1") for i in range(2)]
        lines += [("checkout", "info", f"cache warmed in {i}ms") for i in range(3)]
        lines += [("search", "warn", "index shard 4 is slow")]
        assert c.post("/api/v1/ingest", content=body(lines)).json() == {"accepted": 12, "rejected": 0}
        settle(c)
        yield c


def test_the_patterns_of_a_range_with_counts_trend_samples_and_levels(client: TestClient) -> None:
    resp = client.get("/api/v1/patterns", params={"start": "now-1h", "end": "now+1m", "buckets": "6"})
    assert resp.status_code == 200, resp.text
    found = resp.json()
    assert found["mining"] is True and found["bucket_seconds"] == pytest.approx(610)
    (payment, cache, shard) = found["patterns"]  # most lines first
    assert payment["template"] == "payment <num> failed for order <num>"
    assert (payment["window_lines"], payment["lines"]) == (8, 8)
    assert payment["levels"] == {"ERROR": 6, "INFO": 2}
    assert payment["samples"][:2] == ["payment 0 failed for order 0", "payment 1 failed for order 7"]
    assert sum(payment["trend"]) == 8 and len(payment["trend"]) == 6
    assert payment["trend"][-1] == 8  # the lines are a moment old: the newest slice
    assert (cache["window_lines"], cache["service"]) == (3, "checkout")
    assert shard["service"] == "search"
    assert datetime.fromisoformat(payment["first_seen"]) <= datetime.now(UTC)
    only = client.get("/api/v1/patterns", params={"service": "search", "start": "now-1h"}).json()["patterns"]
    assert [p["template"] for p in only] == ["index shard <num> is slow"]
    assert (
        client.get("/api/v1/patterns", params={"limit": "1"}).json()["patterns"][0]["pattern_id"]
        == (payment["pattern_id"])
    )


def test_a_range_before_the_lines_has_no_patterns_and_other_tenants_see_none(client: TestClient) -> None:
    old = client.get("/api/v1/patterns", params={"start": "now-3h", "end": "now-2h"})
    assert old.status_code == 200 and old.json()["patterns"] == []
    other = client.get("/api/v1/patterns", headers={"X-Scope-OrgID": "other"})
    assert other.status_code == 200 and other.json()["patterns"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [({"limit": "0"}, "invalid limit"), ({"buckets": "x"}, "invalid buckets"), ({"start": "yesterday-ish"}, "")],
)
def test_bad_parameters_are_a_400(client: TestClient, params: dict[str, str], message: str) -> None:
    resp = client.get("/api/v1/patterns", params=params)
    assert resp.status_code == 400
    assert message in resp.json()["error"]


def test_the_patterns_pipe_counts_lines_per_pattern_with_the_template(client: TestClient) -> None:
    resp = client.get("/api/v1/query", params={"q": "service:checkout | patterns", "start": "now-1h"})
    assert resp.status_code == 200, resp.text
    table = resp.json()
    assert [c["name"] for c in table["columns"]] == ["pattern_id", "template", "count", "percent"]
    rows = [dict(zip([c["name"] for c in table["columns"]], r, strict=True)) for r in table["rows"]]
    assert [(r["template"], r["count"]) for r in rows] == [
        ("payment <num> failed for order <num>", 8),
        ("cache warmed in <duration>", 3),
    ]
    errors = client.get("/api/v1/query", params={"q": "level:error | patterns 1", "start": "now-1h"}).json()
    assert [r[1:3] for r in errors["rows"]] == [["payment <num> failed for order <num>", 6]]


def test_the_pattern_filter_is_the_pattern_id_field(client: TestClient) -> None:
    (payment, *_) = client.get("/api/v1/patterns").json()["patterns"]
    q = f"pattern:{payment['pattern_id']} level:info"
    hits = client.get("/api/v1/query", params={"q": q, "start": "now-1h"}).json()["hits"]
    assert sorted(h["message"] for h in hits) == ["payment 0 failed for order 1", "payment 1 failed for order 1"]
    same = client.get("/api/v1/query", params={"q": f"pattern_id:{payment['pattern_id']}", "start": "now-1h"})
    assert same.json()["total"] == 8


def test_without_mining_the_pipe_and_the_route_answer_empty(tmp_path: Path) -> None:
    with TestClient(create_app(make_config(tmp_path), run_maintenance=False)) as c:
        c.post("/api/v1/ingest", content=body([("api", "info", "hello 1")]))
        assert c.app.state.runtime.bus.wait_caught_up()  # type: ignore[attr-defined]
        table = c.get("/api/v1/query", params={"q": "| patterns", "start": "now-1h"}).json()
        assert table["rows"] == []  # lines without a pattern are not a pattern
        found = c.get("/api/v1/patterns").json()
        assert (found["mining"], found["patterns"]) == (False, [])
