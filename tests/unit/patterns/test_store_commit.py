"""The pattern store's set-based commit: many patterns and minute buckets at once, new and existing mixed,
add up exactly; writers on one SQLite file in several threads all commit (no "database is locked"); the
recorder spaces out commits that take long."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from logwarden.meta.db import MetaDB
from logwarden.meta.tables import pattern_counts
from logwarden.patterns.miner import PatternMiner
from logwarden.patterns.recorder import PatternRecorder
from logwarden.patterns.store import MINUTE, PatternDelta, PatternStore, PendingPatterns
from tests.unit.patterns.test_store import batch

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetaDB]:
    db = MetaDB(f"sqlite:///{tmp_path / 'meta.sqlite'}")
    yield db
    db.close()


def pending(tenant: str, ids: range, minutes: range, lines: int = 1) -> PendingPatterns:
    """`lines` lines for each pattern in each minute, INFO, one sample each."""
    out = PendingPatterns()
    for i in ids:
        first, last = T0 + timedelta(minutes=minutes[0]), T0 + timedelta(minutes=minutes[-1])
        delta = PatternDelta("api", first, last, lines * len(minutes), Counter({"INFO": lines * len(minutes)}))
        delta.samples = [f"line {i} at {minutes[0]}"]
        delta.template = f"line <num> kind {i}"
        out.patterns[(tenant, f"{i:016x}")] = delta
        for m in minutes:
            out.minutes[(tenant, f"{i:016x}", T0 + timedelta(minutes=m))] += lines
    return out


def test_a_commit_of_many_new_and_existing_patterns_adds_up(meta: MetaDB) -> None:
    store = PatternStore(meta.engine)
    store.commit("r", 1, pending("acme", range(0, 1200), range(0, 3)), T0)
    store.commit("r", 2, pending("acme", range(600, 1800), range(2, 5), lines=2), T0)
    rows = {r["pattern_id"]: r for r in store.patterns("acme")}
    assert len(rows) == 1800
    old, both, new = rows[f"{10:016x}"], rows[f"{700:016x}"], rows[f"{1700:016x}"]
    assert (old["lines"], both["lines"], new["lines"]) == (3, 3 + 6, 6)
    assert both["levels"] == {"INFO": 9}
    assert both["samples"] == ["line 700 at 0", "line 700 at 2"]
    assert both["first_seen"] == T0 and both["last_seen"] == T0 + timedelta(minutes=4)
    assert store.counts("acme", f"{700:016x}") == [
        (MINUTE, T0, 1),
        (MINUTE, T0 + timedelta(minutes=1), 1),
        (MINUTE, T0 + timedelta(minutes=2), 1 + 2),  # an existing bucket grew
        (MINUTE, T0 + timedelta(minutes=3), 2),
        (MINUTE, T0 + timedelta(minutes=4), 2),
    ]
    assert store.cursor("r") == 2


def test_writers_in_several_threads_all_commit(meta: MetaDB) -> None:
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        store = PatternStore(meta.engine)
        try:
            for seq in range(1, 11):
                store.commit(f"r{k}", seq, pending(f"t{k}", range(0, 300), range(seq, seq + 2)), T0)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = PatternStore(meta.engine)
    for k in range(4):
        assert store.cursor(f"r{k}") == 10
        assert {r["lines"] for r in store.patterns(f"t{k}")} == {20}
    with meta.engine.connect() as conn:
        total = conn.execute(select(func.sum(pattern_counts.c.lines))).scalar_one()
    assert total == 4 * 300 * 20


class SlowStore(PatternStore):
    """A real pattern store whose commits take at least 200 ms (as thousands of patterns would)."""

    def commit(self, recorder: str, seq: int | None, pending: PendingPatterns, now: datetime) -> None:
        time.sleep(0.2)
        super().commit(recorder, seq, pending, now)


def test_the_recorder_commits_less_often_when_commits_are_slow(meta: MetaDB) -> None:
    miner = PatternMiner()
    rec = PatternRecorder(SlowStore(meta.engine), miner, commit_interval=timedelta(0), maintain_interval=None)
    rec.handle(batch(miner, 1, [(0, "info", "tick 1")]))  # the first batch commits at once
    rec.handle(batch(miner, 2, [(1, "info", "tick 2")]))  # within ten times the first commit's time: held
    assert PatternStore(meta.engine).cursor("patterns") == 1
    rec.flush()
    assert PatternStore(meta.engine).cursor("patterns") == 2
    rec.close()
    assert {r["lines"] for r in PatternStore(meta.engine).patterns("acme")} == {2}
