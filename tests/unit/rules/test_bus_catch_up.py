"""A coalescing subscriber (the rules engine) that is further behind than the bus's memory reaches reads the
batches back from the ingest log together too — up to its `coalesce_rows` a call, in order, none lost or
handed twice — so one that fell behind (a slow start, a restart) catches up in few large calls instead of
paying its per-call cost per small batch."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from logwarden.rules.engine import RulesEngine
from tests.unit.bus.test_bus import Harness, Recorder, messages
from tests.unit.rules.harness import T0, Clock, stored
from tests.unit.rules.test_engine import Spec, errors


def test_batches_read_back_from_the_log_are_taken_together(tmp_path: Path) -> None:
    h = Harness(tmp_path, memory_bytes=0)  # nothing stays in memory: every batch comes from the log's files
    gate = threading.Event()
    rec = Recorder(gate=gate)
    rec.coalesce_rows = 7  # type: ignore[attr-defined]
    h.bus.add(rec, lossless=True)
    h.bus.start()
    for i in range(6):
        h.append(messages(f"d{i}-", 3))
    gate.set()
    assert h.bus.wait_caught_up()
    handed = [(seq, len(msgs)) for seq, msgs in rec.seen]
    assert sum(n for _, n in handed) == 18 and handed[-1][0] == 6
    assert all(n <= 7 for _, n in handed) and len(handed) < 6  # two batches (6 rows) a call, not one
    assert [m for _, ms in rec.seen for m in ms] == [f"d{i}-{j}" for i in range(6) for j in range(3)]
    h.close()


def test_a_restarted_subscriber_replays_the_log_in_large_calls_from_its_cursor(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    first = Recorder()
    h.bus.add(first, lossless=True)
    h.bus.start()
    h.append(messages("before-", 2))
    assert h.bus.wait_caught_up()
    h.close()  # its cursor is at batch 1

    h = Harness(tmp_path)  # a start without it (not `start`ed: its cursor still holds the log)
    for i in range(5):
        h.append(messages(f"r{i}-", 4))
    h.close()

    h = Harness(tmp_path)
    again = Recorder()
    again.coalesce_rows = 100  # type: ignore[attr-defined]
    h.bus.add(again, lossless=True)
    h.bus.start()
    assert h.bus.wait_caught_up()
    # The five batches after its cursor, read from the log's files in one call (20 rows ≤ 100), once each.
    assert [(seq, len(msgs)) for seq, msgs in again.seen] == [(6, 20)]
    assert again.seen[0][1] == [f"r{i}-{j}" for i in range(5) for j in range(4)]
    h.close()


def test_on_the_bus_transitions_are_committed_at_once_when_no_batch_waits_behind(tmp_path: Path) -> None:
    # Held transitions wait for a later call to take them along; with nothing waiting on the bus there is no
    # such call soon, so they are committed with the batch — before the bus counts it handled.
    h = Harness(tmp_path / "bus")
    clock = Clock()
    clock.now = T0 + timedelta(seconds=30)
    hours = timedelta(hours=1)
    engine = RulesEngine(
        tmp_path / "rules", (Spec(),), clock=clock, tick=None, commit_interval=hours, transition_gap=hours
    )
    h.bus.add(engine, lossless=True)
    h.bus.start()
    h.append(stored(1, errors(1, "api", 3)).table.drop_columns(["seq"]))
    assert h.bus.wait_caught_up()
    engine._last_commit_took = 3600.0  # a commit just made would hold them an hour
    h.append(stored(2, errors(2, "api", 2)).table.drop_columns(["seq"]))  # api fires (5 > 3)
    assert h.bus.wait_caught_up()
    assert [(t["status"], t["alert"]["labels"]["service"]) for t in engine.history()] == [("firing", "api")]
    assert engine.cursor() == 2
    h.close()
