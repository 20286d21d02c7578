"""The batch bus over a real ingest log: order, replay after restarts and crashes, lag bound, lossy drops,
replacement on reload, and the log segments it holds."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from logwarden.bus.base import BusBatch, RewindError
from logwarden.bus.cursors import CursorFiles, check_name
from logwarden.bus.embedded import BatchBus
from logwarden.store.arrival import with_seq
from logwarden.store.wal import IngestLog, encode_table
from logwarden.threads import lower_thread_priority


def messages(prefix: str, n: int) -> pa.Table:
    return pa.table({"message": [f"{prefix}{i}" for i in range(n)]})


class Harness:
    """An ingest log and its bus, as the store wires them (the applier is "everything applied")."""

    def __init__(self, root: Path, *, segment_bytes: int = 64 * 1024**2, **bus: Any) -> None:
        self.log = IngestLog(root / "log", segment_bytes=segment_bytes)
        settings = {"max_lag_bytes": 1024**3, "memory_bytes": 64 * 1024**2, **bus}
        self.bus = BatchBus(CursorFiles(root / "bus"), **settings)
        # Everything appended was also "applied" (the hot store's part is not under test here).
        self.applied_file = root / "applied"
        applied = int(self.applied_file.read_text()) if self.applied_file.exists() else 0
        for _ in self.log.recover(applied, keep_after=self.bus.floor()):
            pass
        self.bus.attach(self.log, self.release)

    def release(self) -> None:
        floor = self.bus.floor()
        self.log.release(self.log.last_seq if floor is None else floor)

    def append(self, table: pa.Table) -> int:
        (seq,) = self.log.append([encode_table(table)])
        self.bus.publish([(seq, with_seq(seq, table))])
        self.release()
        return seq

    def segments(self) -> int:
        return len(list((self.log.directory).glob("seg-*.log")))

    def close(self) -> None:
        self.bus.close()
        floor = self.bus.floor()
        self.applied_file.write_text(str(self.log.last_seq))
        self.log.close(self.log.last_seq if floor is None else floor)


class Recorder:
    """A stateless lossless subscriber (the bus keeps its cursor)."""

    def __init__(self, name: str = "rec", *, fail_at: int | None = None, gate: threading.Event | None = None) -> None:
        self.name = name
        self.seen: list[tuple[int, list[str]]] = []
        self.fail_at = fail_at
        self.gate = gate
        self.closed = False

    def handle(self, batch: BusBatch) -> None:
        if self.gate is not None:
            self.gate.wait()
        if batch.seq == self.fail_at:
            raise RuntimeError("subscriber crashed here")
        self.seen.append((batch.seq, batch.table.column("message").to_pylist()))

    def close(self) -> None:
        self.closed = True

    @property
    def seqs(self) -> list[int]:
        return [seq for seq, _ in self.seen]


class SqliteCounter:
    """A stateful subscriber: lines and cursor committed in one SQLite transaction (exactly once)."""

    def __init__(self, path: Path, *, crash_at: int | None = None) -> None:
        self.name = "counter"
        self.crash_at = crash_at
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("CREATE TABLE IF NOT EXISTS lines (message TEXT)")
        self.db.execute("CREATE TABLE IF NOT EXISTS position (seq INTEGER)")

    def cursor(self) -> int | None:
        row = self.db.execute("SELECT max(seq) FROM position").fetchone()
        return None if row[0] is None else int(row[0])

    def handle(self, batch: BusBatch) -> None:
        self.db.execute("BEGIN")
        self.db.executemany("INSERT INTO lines VALUES (?)", [(m,) for m in batch.table.column("message").to_pylist()])
        if batch.seq == self.crash_at:
            self.db.execute("ROLLBACK")  # the process died before its commit
            raise RuntimeError("killed before commit")
        self.db.execute("DELETE FROM position")
        self.db.execute("INSERT INTO position VALUES (?)", (batch.seq,))
        self.db.execute("COMMIT")

    def close(self) -> None:
        pass

    def lines(self) -> list[str]:
        return [m for (m,) in self.db.execute("SELECT message FROM lines ORDER BY rowid")]


def wait_for(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def test_a_lossless_subscriber_sees_every_batch_once_in_order_with_its_seq(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    rec = Recorder()
    h.bus.add(rec, lossless=True)
    h.bus.start()
    for i in range(5):
        h.append(messages(f"b{i}-", 3))
    assert h.bus.wait_caught_up()
    assert rec.seqs == [1, 2, 3, 4, 5]
    assert rec.seen[0][1] == ["b0-0", "b0-1", "b0-2"]
    h.close()
    assert rec.closed


def test_a_new_subscriber_starts_at_the_newest_batch(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.bus.start()
    h.append(messages("old", 1))
    rec = Recorder()
    h.bus.add(rec, lossless=True)
    h.append(messages("new", 1))
    assert h.bus.wait_caught_up()
    assert rec.seqs == [2]
    h.close()


def test_after_a_restart_replay_resumes_after_the_cursor(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    first = Recorder(fail_at=4)  # handles 1-3, then cannot get past 4 before the server stops
    h.bus.add(first, lossless=True)
    h.bus.start()
    for i in range(5):
        h.append(messages(f"a{i}-", 2))
    wait_for(lambda: first.seqs == [1, 2, 3])
    h.close()
    assert (tmp_path / "bus" / "rec.cursor").read_text().strip() == "3"

    again = Harness(tmp_path)
    second = Recorder()
    again.bus.add(second, lossless=True)
    again.bus.start()
    again.append(messages("a5-", 2))
    assert again.bus.wait_caught_up()
    assert second.seqs == [4, 5, 6]
    assert second.seen[0][1] == ["a3-0", "a3-1"]
    again.close()


def test_a_stateful_subscriber_killed_mid_batch_counts_every_line_exactly_once(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    counter = SqliteCounter(tmp_path / "state.sqlite", crash_at=3)
    h.bus.add(counter, lossless=True)
    h.bus.start()
    for i in range(5):
        h.append(messages(f"m{i}-", 4))
    wait_for(lambda: counter.cursor() == 2)
    time.sleep(0.3)  # it keeps failing at 3 and never passes it
    assert counter.cursor() == 2
    h.close()  # the process "dies": nothing of batch 3 was committed

    again = Harness(tmp_path)
    revived = SqliteCounter(tmp_path / "state.sqlite")
    again.bus.add(revived, lossless=True)
    again.bus.start()
    assert again.bus.wait_caught_up()
    lines = revived.lines()
    assert sorted(lines) == sorted(f"m{i}-{j}" for i in range(5) for j in range(4))
    assert len(lines) == len(set(lines)) == 20
    again.close()


def test_a_failing_batch_is_retried_not_skipped(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    flaky = Recorder(fail_at=2)
    h.bus.add(flaky, lossless=True)
    h.bus.start()
    for i in range(3):
        h.append(messages(f"x{i}", 1))
    time.sleep(0.4)
    assert flaky.seqs == [1]
    assert h.bus.status()[0].errors >= 2
    flaky.fail_at = None
    assert h.bus.wait_caught_up()
    assert flaky.seqs == [1, 2, 3]
    h.close()


def test_batches_beyond_the_memory_ring_are_read_back_from_the_log(tmp_path: Path) -> None:
    h = Harness(tmp_path, memory_bytes=0, segment_bytes=1)  # nothing in memory; a segment per batch
    gate = threading.Event()
    rec = Recorder(gate=gate)
    h.bus.add(rec, lossless=True)
    h.bus.start()
    for i in range(6):
        h.append(messages(f"d{i}-", 2))
    gate.set()
    assert h.bus.wait_caught_up()
    assert rec.seqs == [1, 2, 3, 4, 5, 6]
    assert [m for _, ms in rec.seen for m in ms] == [f"d{i}-{j}" for i in range(6) for j in range(2)]
    h.close()


def test_the_log_keeps_segments_until_the_slowest_lossless_cursor_passes(tmp_path: Path) -> None:
    h = Harness(tmp_path, segment_bytes=1)
    gate = threading.Event()
    slow = Recorder(gate=gate)
    h.bus.add(slow, lossless=True)
    h.bus.start()
    for i in range(5):
        h.append(messages(f"s{i}", 10))
    assert h.segments() >= 5  # all held for the subscriber
    gate.set()
    assert h.bus.wait_caught_up()
    wait_for(lambda: h.segments() <= 2)  # passed: only the current segment (and at most one more) remain
    h.close()


def test_a_lossless_subscriber_too_far_behind_makes_ingest_wait(tmp_path: Path) -> None:
    h = Harness(tmp_path, max_lag_bytes=20_000)
    gate = threading.Event()
    slow = Recorder("slow", gate=gate)
    h.bus.add(slow, lossless=True)
    h.bus.start()
    assert h.bus.lagging() is None
    while h.bus.lagging() is None:
        h.append(messages("payload-" * 20, 50))
    reason = h.bus.lagging()
    assert reason is not None and "'slow'" in reason and "bus.max_lag_bytes = 20000" in reason
    gate.set()
    assert h.bus.wait_caught_up()
    assert h.bus.lagging() is None
    assert h.bus.backpressure_events >= 2
    h.close()


class SlowTail:
    """A lossy subscriber with room for one batch: it queues or drops, never blocks."""

    def __init__(self) -> None:
        self.name = "tail"
        self.queued: list[int] = []

    def offer(self, batch: BusBatch) -> int:
        if self.queued:
            return batch.table.num_rows
        self.queued.append(batch.seq)
        return 0


def test_a_slow_lossy_subscriber_only_drops_and_counts(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    tail = SlowTail()
    h.bus.add(tail, lossless=False)
    h.bus.start()
    started = time.monotonic()
    for i in range(10):
        h.append(messages(f"t{i}", 3))
    assert time.monotonic() - started < 5
    (status,) = h.bus.status()
    assert (status.lossless, status.batches, status.lines, status.dropped_lines) == (False, 10, 30, 27)
    assert tail.queued == [1]
    h.close()


def test_replacing_a_subscriber_mid_stream_loses_and_repeats_nothing(tmp_path: Path) -> None:
    h = Harness(tmp_path, memory_bytes=4096)
    old = Recorder("out")
    h.bus.add(old, lossless=True)
    h.bus.start()
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            h.append(messages(f"r{i}-", 5))
            i += 1

    producer = threading.Thread(target=produce)
    producer.start()
    wait_for(lambda: len(old.seen) >= 20)
    new = Recorder("out")
    h.bus.replace(new)
    wait_for(lambda: len(new.seen) >= 20)
    stop.set()
    producer.join()
    assert h.bus.wait_caught_up()
    assert old.closed
    combined = old.seqs + new.seqs
    assert combined == list(range(1, h.log.last_seq + 1))
    assert old.seqs and new.seqs
    h.close()


def test_removing_a_subscriber_forgets_its_cursor_and_frees_the_log(tmp_path: Path) -> None:
    h = Harness(tmp_path, segment_bytes=1)
    gate = threading.Event()
    h.bus.add(Recorder(gate=gate), lossless=True)
    h.bus.start()
    for i in range(4):
        h.append(messages(f"f{i}", 1))
    assert h.segments() >= 4
    h.bus.remove("rec")
    gate.set()
    wait_for(lambda: not (tmp_path / "bus" / "rec.cursor").exists())
    h.append(messages("after", 1))
    assert h.segments() <= 2
    h.close()


def test_a_cursor_no_configured_subscriber_claims_stops_holding_the_log(tmp_path: Path) -> None:
    CursorFiles(tmp_path / "bus").write("gone", 1)
    h = Harness(tmp_path, segment_bytes=1)  # a server still starting: "gone" may yet be added
    for i in range(3):
        h.append(messages(f"g{i}", 1))
    h.close()

    again = Harness(tmp_path, segment_bytes=1)
    assert again.bus.floor() == 1  # held while subscribers are being added
    assert again.segments() >= 2
    again.bus.start()
    assert again.bus.floor() is None
    again.append(messages("later", 1))
    assert again.segments() <= 2
    again.close()


@pytest.mark.parametrize("name", ["../etc", "", "a b", "x" * 129])
def test_subscriber_names_are_checked(name: str) -> None:
    with pytest.raises(ValueError, match="invalid bus subscriber name"):
        check_name(name)


class Rewinding:
    """A stateful subscriber that undoes its uncommitted work once, asking for a replay from its cursor."""

    name = "rewinding"

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.committed = 0
        self.failed = False

    def cursor(self) -> int | None:
        return self.committed

    def handle(self, batch: BusBatch) -> None:
        if batch.seq == 3 and not self.failed:
            self.failed = True
            self.seen = [s for s in self.seen if s <= self.committed]
            raise RewindError(self.committed, "state lost")
        self.seen.append(batch.seq)
        if batch.seq == 1:
            self.committed = 1

    def close(self) -> None:
        pass


def test_a_rewinding_subscriber_is_handed_everything_after_its_committed_cursor_again(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    sub = Rewinding()
    h.bus.add(sub, lossless=True)
    h.bus.start()
    for i in range(4):
        h.append(messages(f"w{i}", 1))
    assert h.bus.wait_caught_up()
    assert sub.seen == [1, 2, 3, 4]
    h.close()


def test_a_coalescing_subscriber_takes_waiting_batches_together(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    gate = threading.Event()
    rec = Recorder(gate=gate)
    rec.coalesce_rows = 7  # type: ignore[attr-defined]
    h.bus.add(rec, lossless=True)
    h.bus.start()
    for i in range(6):
        h.append(messages(f"c{i}-", 3))
    gate.set()
    assert h.bus.wait_caught_up()
    handed = [(seq, len(msgs)) for seq, msgs in rec.seen]
    # The first call may come before the rest are waiting; after that at most 7 rows (two batches) per call.
    assert sum(n for _, n in handed) == 18 and handed[-1][0] == 6
    assert all(n <= 7 for _, n in handed) and len(handed) < 6
    assert [m for _, ms in rec.seen for m in ms] == [f"c{i}-{j}" for i in range(6) for j in range(3)]
    h.close()


class SlowRecorder(Recorder):
    def handle(self, batch: BusBatch) -> None:
        time.sleep(0.05)
        super().handle(batch)


def test_a_busy_coalescing_subscriber_rests_and_takes_what_piled_up_together(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    rec = SlowRecorder()
    rec.coalesce_rows = 10_000  # type: ignore[attr-defined]
    rec.coalesce_wait = 0.5  # type: ignore[attr-defined]
    h.bus.add(rec, lossless=True)
    h.bus.start()
    h.append(messages("first-", 1))
    assert h.bus.wait_caught_up()  # the first batch goes at once
    for i in range(10):  # ten more while it rests (4 × 50 ms): handed together
        h.append(messages(f"m{i}-", 2))
    assert h.bus.wait_caught_up()
    handed = [len(msgs) for _, msgs in rec.seen]
    assert handed[0] == 1 and sum(handed) == 21 and len(handed) <= 3
    assert [m for _, ms in rec.seen for m in ms][1:] == [f"m{i}-{j}" for i in range(10) for j in range(2)]
    h.close()


def test_a_quick_coalescing_subscriber_is_not_held_back(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    rec = Recorder()
    rec.coalesce_rows = 10_000  # type: ignore[attr-defined]
    rec.coalesce_wait = 30.0  # type: ignore[attr-defined]
    h.bus.add(rec, lossless=True)
    h.bus.start()
    for i in range(3):
        started = time.monotonic()
        h.append(messages(f"q{i}-", 1))
        assert h.bus.wait_caught_up()
        assert time.monotonic() - started < 10.0  # not the 30 s it may wait at most (slack for a slow machine)
    assert [len(msgs) for _, msgs in rec.seen] == [1, 1, 1]
    h.close()


class NiceRecorder(Recorder):
    """Records the niceness of the thread that hands it batches."""

    nice = 3

    def __init__(self) -> None:
        super().__init__()
        self.niceness: list[int] = []

    def handle(self, batch: BusBatch) -> None:
        self.niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        super().handle(batch)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is a Linux feature")
def test_a_subscriber_asking_for_a_lower_priority_runs_niced_and_only_its_own_thread(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    rec, plain = NiceRecorder(), Recorder("plain")
    h.bus.add(rec, lossless=True)
    h.bus.add(plain, lossless=True)
    h.bus.start()
    h.append(messages("n", 2))
    assert h.bus.wait_caught_up()
    assert rec.niceness == [min(19, base + 3)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # the caller's thread is untouched
    h.close()


def test_lower_thread_priority_refuses_nothing_and_raises_nothing() -> None:
    seen: list[tuple[bool, int]] = []

    def worker() -> None:
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        seen.append((lower_thread_priority(0), os.getpriority(os.PRIO_PROCESS, tid) - before))
        seen.append((lower_thread_priority(50), os.getpriority(os.PRIO_PROCESS, tid)))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen[0] == (False, 0)
    if sys.platform.startswith("linux"):
        assert seen[1] == (True, 19)  # capped at the weakest priority


class SlowCloser(Recorder):
    """A subscriber whose close takes a while (as the log metrics' settle and compaction of their file)."""

    def close(self) -> None:
        time.sleep(0.5)
        super().close()


def test_close_waits_for_every_subscriber_to_close_however_long_it_takes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(tmp_path)
    rec = SlowCloser()
    h.bus.add(rec, lossless=True)
    h.bus.start()
    h.append(messages("a", 3))
    assert h.bus.wait_caught_up()
    h.bus.close(timeout=0.1)  # shorter than the close: the process must still not go on while it runs
    assert rec.closed
    assert "waiting for subscriber rec" in caplog.text
