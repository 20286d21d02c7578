"""The recorder aggregates each batch into small frames and folds them once per commit: what it commits after
many batches (more than it holds apart, so they are merged on the way) equals the sum of the batches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from logwarden.meta.db import MetaDB
from logwarden.patterns.miner import PatternMiner
from logwarden.patterns.recorder import MAX_PARTS
from logwarden.patterns.store import MINUTE, PatternStore
from tests.unit.patterns.test_store import T0, batch, recorder


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetaDB]:
    db = MetaDB(f"sqlite:///{tmp_path / 'meta.sqlite'}")
    yield db
    db.close()


def test_many_batches_between_commits_fold_into_exact_counts_levels_and_the_first_samples(meta: MetaDB) -> None:
    miner = PatternMiner()
    rec = recorder(meta, miner, commit_interval=timedelta(hours=1))
    batches = 3 * MAX_PARTS + 5  # merged three times before the commit at close
    for seq in range(1, batches + 1):
        second = seq * 0.5  # 0.5 s apart
        rec.handle(
            batch(
                miner,
                seq,
                [(second, "error", f"user u{seq} failed login {seq} times"), (second, "info", f"disk sda{seq} ok")],
            )
        )
    assert rec.commits == 1  # the first batch (no cursor yet); the others wait for close
    rec.close()
    store = PatternStore(meta.engine)
    rows = {r["template"]: r for r in store.patterns("acme")}
    login = rows["user u<num> failed login <num> times"]
    assert login["lines"] == batches and login["levels"] == {"ERROR": batches}
    # the first batch was committed alone; the next four come from the merged parts, in order
    assert login["samples"] == [f"user u{seq} failed login {seq} times" for seq in range(1, 6)]
    assert (login["first_seen"], login["last_seen"]) == (
        T0 + timedelta(seconds=0.5),
        T0 + timedelta(seconds=batches / 2),
    )
    per_minute = {start: n for _, start, n in store.counts("acme", login["pattern_id"])}
    expected = Counter(
        (T0 + timedelta(seconds=seq * 0.5)).replace(second=0, microsecond=0) for seq in range(1, batches + 1)
    )
    assert per_minute == dict(expected) and len(expected) == 3  # the lines span three minutes
    assert all(kind == MINUTE for kind, _, _ in store.counts("acme", login["pattern_id"]))
    assert sum(r["lines"] for r in rows.values()) == 2 * batches
    assert store.cursor("patterns") == batches
