"""The pattern store and recorder: totals, level mix, samples, per-minute counts and the template's newest text
committed with the bus cursor (exact after a crash: the bus replays what was not committed); minute counts roll
up into hours; retention; templates restored into a new miner keep their ids, through a real server restart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.bus.base import BusBatch
from logwarden.meta.db import MetaDB
from logwarden.model.normalize import BatchContext, normalize, records_table
from logwarden.patterns.miner import PatternMiner
from logwarden.patterns.recorder import PatternRecorder
from logwarden.patterns.store import HOUR, MINUTE, PatternStore
from logwarden.store.arrival import with_seq
from tests.conftest import make_config

T0 = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetaDB]:
    db = MetaDB(f"sqlite:///{tmp_path / 'meta.sqlite'}")
    yield db
    db.close()


def batch(miner: PatternMiner, seq: int, lines: list[tuple[float, str, str]], service: str = "api") -> BusBatch:
    """Stored lines (seconds after T0, level, message) with their pattern ids, as the bus hands them on."""
    records = [
        {"ts": (T0 + timedelta(seconds=s)).isoformat(), "level": lv, "msg": m, "service": service} for s, lv, m in lines
    ]
    table = miner.assign(normalize(records_table(records), BatchContext("acme", "http", T0)))
    return BusBatch(seq, with_seq(seq, table))


def recorder(meta: MetaDB, miner: PatternMiner, **kw: object) -> PatternRecorder:
    return PatternRecorder(PatternStore(meta.engine), miner, maintain_interval=None, **kw)  # type: ignore[arg-type]


def test_totals_levels_samples_counts_and_the_newest_template_text(meta: MetaDB) -> None:
    miner = PatternMiner()
    rec = recorder(meta, miner)
    rec.handle(batch(miner, 1, [(0, "error", "user alice failed login 3 times"), (5, "warn", "cache cold")]))
    rec.handle(
        batch(
            miner, 2, [(40, "error", "user bob failed login 4 times"), (70, "info", "user carol failed login 1 times")]
        )
    )
    rec.close()
    store = PatternStore(meta.engine)
    rows = {r["template"]: r for r in store.patterns("acme")}
    login = rows["user <*> failed login <num> times"]  # generalized after its first commit: the text follows
    assert login["lines"] == 3 and login["service"] == "api"
    assert login["levels"] == {"ERROR": 2, "INFO": 1}
    assert login["samples"] == [
        "user alice failed login 3 times",
        "user bob failed login 4 times",
        "user carol failed login 1 times",
    ]
    assert (login["first_seen"], login["last_seen"]) == (T0, T0 + timedelta(seconds=70))
    minute = T0.replace(second=0)
    assert store.counts("acme", login["pattern_id"]) == [
        (MINUTE, minute, 1),  # 10:00:30
        (MINUTE, minute + timedelta(minutes=1), 2),  # 10:01:10 and 10:01:40
    ]
    assert rows["cache cold"]["lines"] == 1
    assert store.cursor("patterns") == 2


def test_counts_are_exact_after_a_crash_the_bus_replays_what_was_not_committed(meta: MetaDB) -> None:
    miner = PatternMiner()
    rec = recorder(meta, miner, commit_interval=timedelta(hours=1))
    b1, b2, b3 = (batch(miner, seq, [(seq, "info", f"job {seq} done")]) for seq in (1, 2, 3))
    rec.handle(b1)  # the first batch commits (no cursor yet), the others wait for the interval
    rec.handle(b2)
    rec.handle(b3)
    assert rec.cursor() == 1
    # A crash here: nothing of b2, b3 is in the store. The next start replays from the committed cursor.
    again = recorder(meta, miner)
    assert again.cursor() == 1
    again.handle(b2)
    again.handle(b3)
    again.close()
    (row,) = PatternStore(meta.engine).patterns("acme")
    assert row["lines"] == 3


def test_minutes_roll_up_into_hours_and_retention_drops_old_patterns(meta: MetaDB) -> None:
    miner = PatternMiner()
    now = T0 + timedelta(days=3)
    rec = recorder(meta, miner, clock=lambda: now, retention_for=lambda tenant: 2)
    rec.handle(batch(miner, 1, [(0, "info", "tick 1"), (65, "info", "tick 2"), (3 * 86400 - 60, "info", "tock a b")]))
    rec.flush()
    store = PatternStore(meta.engine)
    tick = next(r for r in store.patterns("acme") if r["template"] == "tick <num>")
    assert rec.maintain() == {"minutes_rolled_up": 2, "patterns_expired": 1}  # tick: last seen 3 days ago
    assert store.counts("acme", tick["pattern_id"]) == []
    assert [r["template"] for r in store.patterns("acme")] == ["tock a b"]
    rec.close()


def test_rollup_adds_minutes_into_their_hour(meta: MetaDB) -> None:
    miner = PatternMiner()
    rec = recorder(meta, miner, clock=lambda: T0 + timedelta(days=2))
    rec.handle(batch(miner, 1, [(0, "info", "tick 1"), (65, "info", "tick 2"), (3600, "info", "tick 3")]))
    rec.flush()
    rec.maintain()
    (row,) = PatternStore(meta.engine).patterns("acme")
    hour = T0.replace(minute=0, second=0)
    assert PatternStore(meta.engine).counts("acme", row["pattern_id"]) == [
        (HOUR, hour, 2),
        (HOUR, hour + timedelta(hours=1), 1),
    ]
    rec.close()


def post(client: TestClient, *messages: str, ago: timedelta = timedelta(0)) -> None:
    now = (datetime.now(UTC) - ago).isoformat()
    body = b"\n".join(orjson.dumps({"ts": now, "service": "api", "msg": m}) for m in messages)
    assert client.post("/api/v1/ingest", content=body).status_code == 200


def ids_of(client: TestClient) -> dict[str, str]:
    assert client.app.state.runtime.bus.wait_caught_up()  # type: ignore[attr-defined]
    hits = client.get("/api/v1/search", params={"q": "", "start": "now-1h", "limit": "100"}).json()["hits"]
    return {h["message"]: h["pattern_id"] for h in hits}


def test_ids_and_counts_survive_a_server_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path, **{"patterns.enabled": True})
    with TestClient(create_app(config, run_maintenance=False)) as client:
        post(client, "user alice logged in from 10.0.0.1", "user bob logged in from 10.0.0.2", "disk sda full")
        before = ids_of(client)
    with TestClient(create_app(config, run_maintenance=False)) as client:
        # A fresh miner would name the login pattern after this line's form; the restored one knows it.
        post(client, "user zed logged in from 10.9.9.9", "disk sdb full")
        after = ids_of(client)
        client.app.state.patterns.flush()  # type: ignore[attr-defined]
        rows = {r["pattern_id"]: r for r in client.app.state.patterns.store.patterns("default")}  # type: ignore[attr-defined]
    assert after["user zed logged in from 10.9.9.9"] == before["user alice logged in from 10.0.0.1"]
    assert after["disk sdb full"] == before["disk sda full"]
    login = rows[before["user alice logged in from 10.0.0.1"]]
    assert login["lines"] == 3 and login["template"] == "user <*> logged in from <ip>"


def test_pattern_ids_are_plain_arrow_strings() -> None:
    miner = PatternMiner()
    out = batch(miner, 1, [(0, "info", "x 1")]).table.column("pattern_id")
    assert out.type == pa.string()


def test_a_lost_pattern_store_is_rebuilt_from_stored_lines_keeping_their_ids(tmp_path: Path) -> None:
    config = make_config(tmp_path, **{"patterns.enabled": True})
    with TestClient(create_app(config, run_maintenance=False)) as client:
        post(client, "user alice logged in from 10.0.0.1", "disk sda full")
        # Stored after alice's line but stamped before it: a rebuild (in time order) meets bob's line first and
        # mines a template named after it, which must take the id the lines were stored with.
        post(client, "user bob logged in from 10.0.0.2", ago=timedelta(minutes=5))
        before = ids_of(client)
        assert before["user bob logged in from 10.0.0.2"] == before["user alice logged in from 10.0.0.1"]
    for path in (tmp_path / "data").glob("meta.sqlite*"):
        path.unlink()  # the pattern store is lost (with the rest of the metadata)
    with TestClient(create_app(config, run_maintenance=False)) as client:
        rows = {r["pattern_id"]: r for r in client.app.state.patterns.store.patterns("default")}  # type: ignore[attr-defined]
        login = rows[before["user alice logged in from 10.0.0.1"]]
        assert login["lines"] == 2 and login["template"] == "user <*> logged in from <ip>"
        assert rows[before["disk sda full"]]["lines"] == 1
        # The rebuilt miner gives lines of a known kind the id they were stored with.
        post(client, "user zed logged in from 10.9.9.9")
        assert ids_of(client)["user zed logged in from 10.9.9.9"] == before["user alice logged in from 10.0.0.1"]
