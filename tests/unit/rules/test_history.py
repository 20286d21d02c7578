"""The history reader over a real store: every matching line exactly once, in ts then arrival order, across
page boundaries that fall inside one instant (and instants with more lines than a page); tenants merged by ts;
columns; the cap; the async variant; and the engine seeding a `new_value` rule from it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.rules.engine import RulesEngine
from logwarden.rules.history import StoreHistory
from logwarden.rules.types.new_value import NewValueRule
from tests.conftest import make_config
from tests.unit.rules.harness import Clock, stored

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_config(tmp_path), run_maintenance=False)) as c:
        yield c


def ingest(client: TestClient, records: list[dict[str, Any]], tenant: str = "default") -> None:
    body = b"\n".join(orjson.dumps(r) for r in records)
    r = client.post("/api/v1/ingest", content=body, headers={"X-Scope-OrgID": tenant})
    assert r.status_code == 200 and r.json()["accepted"] == len(records), r.text


def line(seconds: float, message: str, level: str = "error", **extra: Any) -> dict[str, Any]:
    return {"ts": (T0 + timedelta(seconds=seconds)).isoformat(), "level": level, "message": message, **extra}


def history(client: TestClient, **kwargs: Any) -> StoreHistory:
    loop = client.portal.call(asyncio.get_running_loop)  # type: ignore[union-attr]
    return StoreHistory(client.app.state.runtime.store, loop, **kwargs)  # type: ignore[attr-defined]


def messages(tables: Any) -> list[str]:
    return [m for t in tables for m in t.column("message").to_pylist()]


def test_pages_hold_every_line_once_in_time_then_arrival_order_across_ties(client: TestClient) -> None:
    # Three batches, so lines of one instant have different arrival orders: 5 at 10 s arrive in two batches.
    ingest(client, [line(0, "a0"), line(10, "t0"), line(10, "t1"), line(10, "t2"), line(20, "b0")])
    ingest(client, [line(10, "t3"), line(10, "t4"), line(5, "m0"), line(30, "c0", level="info")])
    ingest(client, [line(20, "b1"), line(25, "d0")])
    expected = ["a0", "m0", "t0", "t1", "t2", "t3", "t4", "b0", "b1", "d0"]
    for page_lines in (1, 2, 3, 4, 7, 100):  # boundaries inside the 10 s instant, and one page for all
        reader = history(client, page_lines=page_lines)
        pages = list(reader.pages("level:error", T0, T0 + timedelta(minutes=1), "default"))
        assert messages(pages) == expected, page_lines
        assert all(t.num_rows <= max(page_lines, 5) for t in pages)  # a tie may exceed a page, nothing else


def test_ranges_are_half_open_and_tenants_separate(client: TestClient) -> None:
    ingest(client, [line(0, "start"), line(59, "inside"), line(60, "end")])
    ingest(client, [line(30, "other tenant")], tenant="acme")
    reader = history(client, page_lines=2)
    got = messages(reader.pages("*", T0, T0 + timedelta(seconds=60), "default"))
    assert got == ["start", "inside"]
    assert messages(reader.pages("*", T0, T0 + timedelta(seconds=60), "acme")) == ["other tenant"]


def test_scan_merges_tenants_by_time_and_keeps_asked_columns(client: TestClient) -> None:
    ingest(client, [line(1, "d1", user="ann"), line(3, "d3", user="bob")])
    ingest(client, [line(2, "a2", user="cid"), line(4, "a4", user="dan")], tenant="acme")
    reader = history(client, page_lines=1)
    tables = reader.scan("level:error", T0, T0 + timedelta(minutes=1))
    assert messages(tables) == ["d1", "a2", "d3", "a4"]
    assert [t for table in tables for t in table.column("tenant").to_pylist()] == ["default", "acme"] * 2
    # Core columns only: read as fields; an attribute: the attrs JSON comes along.
    (core,) = reader.scan("level:error", T0, T0 + timedelta(minutes=1), columns=["service"])[:1]
    assert core.column_names == ["ts", "tenant", "service"]
    (attrs,) = reader.scan("level:error", T0, T0 + timedelta(minutes=1), columns=["user"])[:1]
    assert attrs.column_names == ["ts", "tenant", "attrs"]
    assert orjson.loads(attrs.column("attrs")[0].as_py())["user"] == "ann"


def test_scan_stops_at_max_lines_and_says_so(client: TestClient) -> None:
    ingest(client, [line(i, f"l{i}") for i in range(10)])
    reader = history(client, page_lines=3, max_lines=5)
    assert messages(reader.scan("*", T0, T0 + timedelta(minutes=1))) == [f"l{i}" for i in range(5)]
    assert reader.capped
    reader.max_lines = 100
    assert len(messages(reader.scan("*", T0, T0 + timedelta(minutes=1)))) == 10 and not reader.capped


def test_a_sparse_long_range_and_a_dense_instant(client: TestClient) -> None:
    # Lines a week apart (chunks grow), then 50 lines at one microsecond (more than a page).
    ingest(client, [line(0, "first"), line(7 * 86400, "week later")])
    ingest(client, [line(7 * 86400 + 60, f"burst {i}") for i in range(50)])
    reader = history(client, page_lines=8)
    got = messages(reader.pages("*", T0 - timedelta(days=30), T0 + timedelta(days=30), "default"))
    assert got == ["first", "week later", *[f"burst {i}" for i in range(50)]]


def test_the_async_variant_reads_the_same_and_the_sync_one_refuses_the_loop(client: TestClient) -> None:
    ingest(client, [line(i, f"l{i}") for i in range(6)])
    reader = history(client, page_lines=4)
    end = T0 + timedelta(minutes=1)

    async def read() -> list[str]:
        return messages([t async for t in reader.apages("*", T0, end, "default")])

    async def blocking() -> None:
        next(iter(reader.pages("*", T0, end, "default")))

    assert client.portal.call(read) == [f"l{i}" for i in range(6)]  # type: ignore[union-attr]
    with pytest.raises(RuntimeError, match="apages"):
        client.portal.call(blocking)  # type: ignore[union-attr]

    async def scan() -> list[str]:
        return messages(await reader.ascan("*", T0, end))

    assert client.portal.call(scan) == [f"l{i}" for i in range(6)]  # type: ignore[union-attr]


def test_the_engine_seeds_a_new_value_rule_from_the_store(client: TestClient, tmp_path: Path) -> None:
    ingest(client, [line(0, "login", level="info", user="ann"), line(1, "login", level="info", user="bob")])
    spec = NewValueRule.model_validate(
        {"name": "new-user", "type": "new_value", "query": "message:login", "fields": ["user"], "window": "5m"}
    )
    clock = Clock()
    clock.now = T0 + timedelta(minutes=10)
    engine = RulesEngine(tmp_path / "rules", [spec], clock=clock, idle=timedelta(0), tick=None, history=history(client))
    try:
        # ann is known from the store; cid is new.
        records = [line(600, "login", level="info", user="ann"), line(601, "login", level="info", user="cid")]
        engine.handle(stored(1, records))
        assert [a.labels.get("user") for a in engine.alerts()] == ["cid"]
    finally:
        engine.close()


def test_the_server_seeds_a_new_rule_from_what_it_stored_before(tmp_path: Path) -> None:
    # Lines of the last few minutes: the server's rules run on the wall clock (a quiet spell moves their head to
    # it), so lines stamped on a fixed day would be late by however long ago that day was.
    base = datetime.now(UTC) - timedelta(minutes=5)

    def recent(seconds: float, user: str) -> dict[str, Any]:
        ts = (base + timedelta(seconds=seconds)).isoformat()
        return {"ts": ts, "level": "info", "message": "login", "user": user}

    with TestClient(create_app(make_config(tmp_path), run_maintenance=False)) as first:
        ingest(first, [recent(0, "ann")])
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n      - {name: new-user, type: new_value, query: 'message:login', "
        "fields: [user], window: 5m}\n"
    )
    config = make_config(tmp_path, **{"rules.dir": str(rules)})
    with TestClient(create_app(config, run_maintenance=False)) as second:
        ingest(second, [recent(60, "ann"), recent(61, "cid")])
        assert second.app.state.runtime.bus.wait_caught_up()  # type: ignore[attr-defined]
        alerts = second.get("/api/v1/alerts").json()["alerts"]
        assert [a["labels"]["user"] for a in alerts] == ["cid"]
