"""The batch bus contract: what a subscriber is, what it receives, and what the bus promises it.

The bus publishes every batch that became durable and passed dedup, once, in sequence order. Two kinds of
subscriber:

- **lossless** (rules, pattern mining, log metrics, copy outputs): has a cursor — the sequence number of the
  last batch it fully processed. On start it is handed every batch after its cursor (replayed from the
  durable log), then follows new ones (Alertmanager's `SlurpAndSubscribe`). The durable log keeps every
  batch a lossless cursor has not passed; a lossless subscriber that falls more than `bus.max_lag_bytes`
  behind makes ingest answer 429 until it catches up. A subscriber that keeps state commits its cursor in
  the same transaction as that state (`cursor()` returns it): it then sees every line exactly once across
  crashes. One that keeps no state lets the bus keep its cursor (a file, written at most every
  `CURSOR_COMMIT_INTERVAL` and on stop): after a crash it may see the last moments again, so its effects
  must be idempotent (the copy output keys every line by log_id).
- **lossy** (live tail): `offer` is called on the publishing thread and must not block; it queues or drops,
  and reports how many lines it dropped.

The contract maps onto Kafka one to one: the bus is a topic, a lossless subscriber a consumer group whose
committed offset is the cursor, the lag bound is consumer lag, and `offer` is a consumer that starts at the
end and never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import pyarrow as pa

# Seconds between writes of a bus-kept cursor while a subscriber is busy (and always when it is idle).
CURSOR_COMMIT_INTERVAL = 0.2


@dataclass(frozen=True, slots=True)
class BusBatch:
    """One durable batch: its sequence number and its rows (the stored schema: core columns and `seq`)."""

    seq: int
    table: pa.Table


class LosslessSubscriber(Protocol):
    """Sees every batch after its cursor exactly once per cursor position, on its own thread."""

    name: str

    def handle(self, batch: BusBatch) -> None:
        """Process one batch; return only when it is done (the cursor then moves past it). Raising means
        "not done": the same batch is handed again after a pause, never skipped. A subscriber with a
        `coalesce_rows` attribute may be handed the batches that are waiting as one (its `seq` is the last
        of them; every row keeps its own `seq` column), and with a `coalesce_wait` attribute (seconds) rests after
        each call for four times as long as the call took, at most that long, so that a busy subscriber takes
        fewer, larger calls (for at most that much latency) and a quick one is not held back."""
        ...

    def close(self) -> None:
        """The bus stopped calling `handle` (shutdown, removal or replacement)."""
        ...


@runtime_checkable
class StatefulSubscriber(Protocol):
    """A lossless subscriber that keeps its cursor with its own state (exactly once across crashes)."""

    def cursor(self) -> int | None:
        """The last sequence number whose effects are committed in the subscriber's state; None if it has
        none yet (a new subscriber starts at the newest batch)."""
        ...


class LossySubscriber(Protocol):
    """Sees batches while it keeps up; never slows ingest."""

    name: str

    def offer(self, batch: BusBatch) -> int:
        """Called on the publishing thread: queue the batch or drop it, without blocking. Returns the number
        of lines dropped (0 when queued)."""
        ...


class RewindError(Exception):
    """Raised by a stateful subscriber's `handle` after it went back to its committed state: the bus hands it
    every batch again from `seq + 1` (after a pause), since the batches it handled after that are undone too."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(reason)
        self.seq = seq


class BusLagError(Exception):
    """A lossless subscriber is too far behind: ingest must wait (429) until it catches up."""
