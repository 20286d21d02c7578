"""A clean stop lets lossless subscribers (the log metrics among them) catch up to the newest durable batch, so
the ingest log keeps nothing for them; one that is stuck does not hold the stop for long."""

from __future__ import annotations

import time
from pathlib import Path

from logwarden.bus.base import BusBatch
from tests.unit.bus.test_bus import Harness, Recorder, messages


class Slow(Recorder):
    """A lossless subscriber that takes a while per batch (behind the head when the stop comes)."""

    def handle(self, batch: BusBatch) -> None:
        time.sleep(0.05)
        super().handle(batch)


def test_close_drains_a_lossless_subscriber_behind_the_head(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    slow = Slow("slow")
    h.bus.add(slow, lossless=True)
    h.bus.start()
    for i in range(30):
        h.append(messages(f"b{i}-", 2))
    assert len(slow.seqs) < 30  # still behind when the stop comes
    h.close()
    assert slow.seqs == list(range(1, 31)) and slow.closed
    assert h.bus.floor() in (None, 30)  # nothing left for the ingest log to keep


def test_close_gives_up_on_a_subscriber_that_stops_advancing(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    stuck = Recorder("stuck", fail_at=2)
    h.bus.add(stuck, lossless=True)
    h.bus.start()
    for i in range(3):
        h.append(messages(f"b{i}-", 2))
    began = time.monotonic()
    h.close()
    assert time.monotonic() - began < 10  # the stall limit (2 s), not the drain's 30 s
    assert stuck.seqs == [1]
