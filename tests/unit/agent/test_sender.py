"""Sender: in-order delivery, checkpoint commits, spool while the server is away, 413/4xx/429 handling."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from logwarden.agent.backoff import Backoff
from logwarden.agent.batch import Batch
from logwarden.agent.checkpoint import CheckpointStore, StreamCheckpoint
from logwarden.agent.config import OutputConfig
from logwarden.agent.metrics import AgentMetrics
from logwarden.agent.sender import Sender
from logwarden.agent.shipper import HttpShipper
from logwarden.agent.spool import DeadLetterDir, DiskSpool
from tests.unit.agent.conftest import IngestStandIn, wait_until

STEP = 10  # bytes per fake line


def make_batch(stream: str, first_line: int, n: int) -> Batch:
    records = [
        orjson.dumps({"msg": f"line {i}", "log_id": f"{stream}@{i * STEP}", "n": i}, option=orjson.OPT_APPEND_NEWLINE)
        for i in range(first_line, first_line + n)
    ]
    return Batch(b"".join(records), n, {stream: (first_line + n) * STEP})


class Rig:
    def __init__(self, tmp_path: Path, server: IngestStandIn, **kwargs: Any) -> None:
        self.tmp_path = tmp_path
        self.server = server
        self.metrics = AgentMetrics()
        self.checkpoints = CheckpointStore.open(tmp_path / "checkpoints.json", "test")
        for stream in ("s1", "s2"):
            if self.checkpoints.offset(stream) is None:
                self.checkpoints.register(StreamCheckpoint(stream, 1, hash(stream) % 1000, stream, 0, 0, ""))
        self.spool = DiskSpool(tmp_path / "spool", kwargs.pop("spool_bytes", 1 << 30))
        gzip_on = kwargs.pop("gzip", True)
        start = kwargs.pop("start", True)
        self.sender = Sender(
            shipper=HttpShipper(OutputConfig(url="http://server:8080", gzip=gzip_on), transport=server.transport()),
            spool=self.spool,
            dead_letters=DeadLetterDir(tmp_path / "dead"),
            checkpoints=self.checkpoints,
            metrics=self.metrics,
            backoff=Backoff(0.01, 0.05),
            gzip=gzip_on,
            **kwargs,
        )
        if start:
            self.sender.start()

    def put(self, batch: Batch, timeout: float = 5.0) -> bool:
        return self.sender.put(batch, timeout)

    def stored_lines(self, stream: str = "s1") -> list[int]:
        return [r["n"] for r in self.server.stored if r["log_id"].startswith(stream + "@")]

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@pytest.fixture
def server() -> IngestStandIn:
    return IngestStandIn()


@pytest.fixture
def rig(tmp_path: Path, server: IngestStandIn) -> Iterator[Rig]:
    r = Rig(tmp_path, server)
    yield r
    r.sender.stop(1)


def test_batches_are_stored_in_order_and_checkpointed(rig: Rig) -> None:
    for k in range(5):
        assert rig.put(make_batch("s1", k * 100, 100))
    wait_until(lambda: rig.checkpoints.offset("s1") == 500 * STEP, what="checkpoint at the end")
    assert rig.stored_lines() == list(range(500))
    assert rig.server.encodings == ["gzip"] * 5
    assert rig.metric("logwarden_agent_lines_shipped_total") == 500
    # The checkpoint is on disk, not only in memory.
    assert CheckpointStore.open(rig.checkpoints.path, "test").offset("s1") == 500 * STEP


def test_unreachable_server_spools_in_order_then_replays(rig: Rig, server: IngestStandIn) -> None:
    server.mode = "down"
    for k in range(6):
        assert rig.put(make_batch("s1" if k % 2 else "s2", k * 50, 50))
    # Spooled batches are safe: the checkpoint moves although the server has nothing yet.
    wait_until(lambda: rig.checkpoints.offset("s1") == 300 * STEP, what="spooled batches checkpointed")
    assert server.stored == []
    assert len(rig.spool) >= 5
    assert rig.metric("logwarden_agent_spool_batches") == len(rig.spool)
    assert rig.metric("logwarden_agent_retries_total", reason="connect") >= 1
    server.mode = 200
    assert rig.put(make_batch("s1", 300, 50))  # newer than everything spooled
    wait_until(lambda: len(server.stored) == 350, what="replay")
    assert [r["n"] for r in server.stored] == list(range(350)), "spool replayed oldest first, then newer batches"
    wait_until(lambda: len(rig.spool) == 0, what="spool emptied")
    assert list((rig.tmp_path / "spool").iterdir()) == []
    assert server.duplicates == 0


def test_full_spool_blocks_reading_and_drops_nothing(tmp_path: Path, server: IngestStandIn) -> None:
    one = len(gzip.compress(make_batch("s1", 0, 20).payload, 1))
    rig = Rig(tmp_path, server, spool_bytes=int(one * 2.5), queue_batches=1)
    try:
        server.mode = "down"
        accepted = 0
        while rig.put(make_batch("s1", accepted * 20, 20), timeout=0.5):
            accepted += 1
            assert accepted < 20, "the sender should push back once the spool is full"
        # 2 spooled + 1 held back + 1 queued; the checkpoint covers only what is on disk.
        assert accepted == 4
        assert len(rig.spool) == 2
        assert rig.checkpoints.offset("s1") == 40 * STEP
        assert rig.metric("logwarden_agent_dropped_lines_total", reason="spool_full") == 0
        server.mode = 200
        assert rig.put(make_batch("s1", accepted * 20, 20))
        wait_until(lambda: len(server.stored) == 100, what="everything delivered")
        assert rig.stored_lines() == list(range(100))
        wait_until(lambda: rig.checkpoints.offset("s1") == 100 * STEP, what="checkpoint")
    finally:
        rig.sender.stop(1)


def test_full_spool_drops_when_asked(tmp_path: Path, server: IngestStandIn) -> None:
    one = len(gzip.compress(make_batch("s1", 0, 20).payload, 1))
    rig = Rig(tmp_path, server, spool_bytes=int(one * 1.5), queue_batches=1, when_full="drop")
    try:
        server.mode = "down"
        for k in range(5):
            assert rig.put(make_batch("s1", k * 20, 20))
        wait_until(lambda: rig.checkpoints.offset("s1") == 100 * STEP, what="all batches safe or dropped")
        assert rig.metric("logwarden_agent_dropped_lines_total", reason="spool_full") == 80
    finally:
        rig.sender.stop(1)


def test_413_splits_and_a_single_oversized_line_is_dead_lettered(rig: Rig, server: IngestStandIn) -> None:
    server.max_records = 3
    assert rig.put(make_batch("s1", 0, 10))
    wait_until(lambda: len(server.stored) == 10, what="halves delivered")
    assert rig.stored_lines() == list(range(10))
    server.max_records = 0
    assert rig.put(make_batch("s1", 10, 2))
    wait_until(lambda: rig.checkpoints.offset("s1") == 12 * STEP, what="dead-lettered batch checkpointed")
    assert rig.metric("logwarden_agent_dead_letter_lines_total") == 2
    assert len(list((rig.tmp_path / "dead").glob("*.ndjson.gz"))) == 2


def test_other_4xx_is_dead_lettered_not_retried(rig: Rig, server: IngestStandIn) -> None:
    server.script.append(400)
    assert rig.put(make_batch("s1", 0, 5))
    assert rig.put(make_batch("s1", 5, 5))
    wait_until(lambda: rig.checkpoints.offset("s1") == 10 * STEP, what="both batches done")
    assert rig.stored_lines() == list(range(5, 10))
    assert len(server.requests) == 2
    (dead,) = (rig.tmp_path / "dead").glob("*.ndjson.gz")
    assert [orjson.loads(x)["n"] for x in gzip.decompress(dead.read_bytes()).splitlines()] == list(range(5))
    assert "HTTP 400: scripted 400" in next((rig.tmp_path / "dead").glob("*.reason.txt")).read_text()
    assert rig.metric("logwarden_agent_retries_total", reason="400") == 0


def test_429_waits_at_least_retry_after_and_503_retries(rig: Rig, server: IngestStandIn) -> None:
    server.script.extend([(429, {"Retry-After": "0.4"}), 503])
    assert rig.put(make_batch("s1", 0, 5))
    wait_until(lambda: len(server.stored) == 5, what="delivery after retries")
    assert len(server.requests) == 3
    assert server.requests[1] - server.requests[0] >= 0.4
    assert rig.metric("logwarden_agent_retries_total", reason="429") == 1
    assert rig.metric("logwarden_agent_retries_total", reason="503") == 1


def test_spool_left_by_a_stopped_agent_is_replayed_first(tmp_path: Path, server: IngestStandIn) -> None:
    server.mode = "down"
    rig = Rig(tmp_path, server, gzip=False)
    for k in range(3):
        assert rig.put(make_batch("s1", k * 10, 10))
    wait_until(lambda: rig.checkpoints.offset("s1") == 30 * STEP, what="spooled")
    rig.sender.stop(0.5)
    assert len(DiskSpool(tmp_path / "spool", 1 << 30)) == 3

    server.mode = 200
    again = Rig(tmp_path, server, gzip=False)
    try:
        assert again.checkpoints.offset("s1") == 30 * STEP, "the restarted agent resumes reading after the spool"
        assert again.put(make_batch("s1", 30, 10))
        wait_until(lambda: len(server.stored) == 40, what="replay after restart")
        assert again.stored_lines() == list(range(40))
        assert server.encodings == [""] * 4, "gzip off: spooled batches are sent uncompressed"
    finally:
        again.sender.stop(1)


def test_stop_spools_what_the_server_cannot_take(tmp_path: Path, server: IngestStandIn) -> None:
    server.mode = "down"
    rig = Rig(tmp_path, server, start=False)
    for k in range(3):
        assert rig.put(make_batch("s1", k * 10, 10))
    # Stopped before it could ship anything: the thread goes straight to draining the queue.
    start = time.monotonic()
    rig.sender._deadline = start + 2
    rig.sender._stop.set()
    rig.sender.start()
    rig.sender.stop(2)
    assert time.monotonic() - start < 3
    assert len(rig.spool) == 3
    assert rig.checkpoints.offset("s1") == 30 * STEP
