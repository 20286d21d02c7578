"""The embedded batch bus: fans the ingest log's durable batches out to named subscribers.

The log-writer thread calls `publish` after each group commit (batches already deduplicated, in sequence
order). Recent batches stay in a shared in-memory ring (`bus.memory_bytes`); each lossless subscriber has
its own thread that takes its next batch from the ring, or — when it is further behind than the ring
reaches, or replaying after a restart — reads it back from the ingest log's segment files. Lossy
subscribers are offered each batch on the publishing thread and must not block.

Reloads add, replace and remove subscribers by name (Vector's fanout add/replace/remove): a replacement
starts where its predecessor stopped, after the predecessor's thread has finished its last batch, so no
line is lost or handed twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import cast

import pyarrow as pa

from logwarden.bus.base import (
    CURSOR_COMMIT_INTERVAL,
    BusBatch,
    LosslessSubscriber,
    LossySubscriber,
    RewindError,
    StatefulSubscriber,
)
from logwarden.bus.cursors import CursorFiles, check_name
from logwarden.store.arrival import with_seq
from logwarden.store.base import DurableLog
from logwarden.threads import lower_thread_priority, name_current_thread

log = logging.getLogger(__name__)

_IDLE_WAIT = 0.2  # seconds a caught-up subscriber waits before looking again (and committing its cursor)
_MAX_BACKOFF = 30.0


@dataclass(frozen=True, slots=True)
class SubscriberStatus:
    """What /metrics and the API say about one subscriber."""

    name: str
    lossless: bool
    position: int  # last sequence number handled (lossless) or offered (lossy)
    lag_bytes: int
    batches: int  # handled (lossless) or offered (lossy) since start
    lines: int
    errors: int  # failed `handle` calls (each retried)
    dropped_lines: int  # lossy only


_COALESCE_MAX_BATCHES = 256  # this many batches waiting end a coalescing pause early
_REST_FACTOR = 4.0  # a coalescing subscriber rests this many times as long as its last call took
# At close, lossless subscribers behind the head get this long to catch up (so the ingest log need not keep
# their segments for a replay), and are stopped sooner when one stops advancing for `_DRAIN_STALL` (a failing batch).
_DRAIN_LIMIT = 30.0
_DRAIN_STALL = 2.0


class _Follower:
    """One lossless subscriber's thread: replay, then follow; retry a failing batch, never skip it."""

    def __init__(self, bus: BatchBus, sub: LosslessSubscriber, start: int, after: _Follower | None) -> None:
        self.bus = bus
        self.sub = sub
        self.name = sub.name
        self.stateful = isinstance(sub, StatefulSubscriber)
        # A subscriber may take the batches that are waiting together, up to this many rows (fewer, larger calls).
        self.coalesce_rows = int(getattr(sub, "coalesce_rows", 0) or 0)
        # ... and may ask to rest between calls (`coalesce_wait`, seconds, at most): after a call that took t, the
        # next comes no sooner than _REST_FACTOR × t later, so a busy subscriber works at most about a fifth of
        # the time while batches pile up into larger calls, and a quick one (a quiet stream) is not held back.
        self.coalesce_wait = float(getattr(sub, "coalesce_wait", 0.0) or 0.0) if self.coalesce_rows > 0 else 0.0
        # ... and may ask, while it handles a batch, how many more wait behind it (`batches_waiting`: then it
        # need not hold work back for later calls when none will come soon).
        # ... and may ask for a lower CPU priority (`nice`, added to the thread's niceness): background work that
        # coalesces well gives way to ingest when the cores are busy, and runs at full speed when they are not.
        self.nice = max(0, int(getattr(sub, "nice", 0) or 0))
        self._handling = start
        if hasattr(sub, "batches_waiting"):
            sub.batches_waiting = self._waiting
        self._rest_until = 0.0
        self.position = start
        self.committed = start
        self.batches = 0
        self.lines = 0
        self.errors = 0
        self.forget = False  # set by `remove`: drop the cursor file when the thread ends
        self._stop = threading.Event()
        self._after = after
        self._disk: Iterator[tuple[int, pa.Table]] | None = None
        self._disk_held: tuple[int, pa.Table] | None = None  # read from the log, not yet handed on
        self._last_commit = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"lw-bus-{self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def pin(self) -> int:
        """The lowest sequence a restart could replay from: the cursor file (never ahead of the subscriber's
        own committed cursor), so the log keeps everything after it."""
        return self.committed

    def _run(self) -> None:
        name_current_thread(f"lw-bus-{self.name}"[:15])
        if self.nice:
            lower_thread_priority(self.nice)
        if self._after is not None:
            # A replacement: begin exactly where the predecessor ended.
            self._after.join()
            self.position = self.committed = self._after.position
            self._after = None
        try:
            while not self._stop.is_set():
                batch = self._next()
                if batch is None:
                    self._commit(force=False, idle=True)
                    continue
                started = time.monotonic()
                handled = self._handle(batch)
                if self.coalesce_wait > 0:
                    ended = time.monotonic()
                    self._rest_until = ended + min(self.coalesce_wait, _REST_FACTOR * (ended - started))
                if handled is None:
                    continue  # rewound: the batches after the subscriber's committed cursor come again
                if not handled:
                    break  # stopped while retrying: the batch stays unhandled
                self.position = batch.seq
                self.batches += 1
                self.lines += batch.table.num_rows
                self._commit(force=False, idle=False)
                self.bus._advanced()
        except Exception:
            log.exception("bus subscriber %s stopped unexpectedly at seq %d", self.name, self.position)
        finally:
            try:
                self.sub.close()  # a stateful subscriber commits what it holds, so its cursor is final
            except Exception:
                log.exception("closing bus subscriber %s failed", self.name)
            self._commit(force=True, idle=True)
            if self.forget:
                self.bus._cursors.forget(self.name)
            self.bus._advanced()

    def _waiting(self) -> int:
        """Batches durable after the one being handled (read without the lock: a hint)."""
        return max(0, self.bus._head - self._handling)

    def _handle(self, batch: BusBatch) -> bool | None:
        """True once handled; False when stopped first; None when the subscriber rewound (position moved back)."""
        delay = 0.1
        while not self._stop.is_set():
            try:
                self._handling = batch.seq
                self.sub.handle(batch)
                return True
            except RewindError as exc:
                self.errors += 1
                log.error("bus subscriber %s rewound to seq %d at batch %d: %s", self.name, exc.seq, batch.seq, exc)
                self.position = exc.seq
                self._disk = self._disk_held = None
                self._stop.wait(delay)
                return None
            except Exception:
                self.errors += 1
                log.exception("bus subscriber %s failed on batch %d; retrying in %.1fs", self.name, batch.seq, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
        return False

    def _commit(self, *, force: bool, idle: bool) -> None:
        """Write the cursor file: the cursor itself for a stateless subscriber; for a stateful one (whose
        own state holds the real cursor, and may commit it less often than it handles batches) what it has
        committed, which tells the next start which log segments to keep."""
        target = self.position
        if self.stateful:
            own = cast(StatefulSubscriber, self.sub).cursor()
            target = self.committed if own is None else min(own, self.position)
        if self.committed == target:
            return
        now = time.monotonic()
        if force or idle or now - self._last_commit >= CURSOR_COMMIT_INTERVAL:
            self.bus._cursors.write(self.name, target)
            self.committed = target
            self._last_commit = now
            self.bus._advanced()  # the floor may have risen: the log can let segments go

    def _next(self) -> BusBatch | None:
        want = self.position + 1
        bus = self.bus
        with bus._cond:
            if bus._head < want:
                bus._cond.wait(_IDLE_WAIT)
                if bus._head < want or self._stop.is_set():
                    return None
        if self.coalesce_wait > 0:
            pause = self._rest_until - time.monotonic()
            if pause > 0 and bus._head - want + 1 < _COALESCE_MAX_BATCHES:
                self._stop.wait(pause)
                if self._stop.is_set():
                    return None
        with bus._cond:
            ring = bus._ring
            if ring and ring[0].seq <= want <= ring[-1].seq:
                self._disk = self._disk_held = None
                first = want - ring[0].seq
                if self.coalesce_rows <= 0:
                    return ring[first]
                # Batches already waiting go together (one cursor step to the last of them).
                taken = [ring[first]]
                rows = taken[0].table.num_rows
                for i in range(first + 1, len(ring)):
                    if rows + ring[i].table.num_rows > self.coalesce_rows:
                        break
                    taken.append(ring[i])
                    rows += ring[i].table.num_rows
            else:
                taken = []
            head = bus._head
        if taken:
            if len(taken) == 1:
                return taken[0]
            table = pa.concat_tables([b.table for b in taken], promote_options="default")
            return BusBatch(taken[-1].seq, table)
        # Further behind than memory reaches (or replaying after a start): read the log's files — the batches
        # there go together too, or a subscriber that fell behind would pay its per-call cost per small batch.
        if self._disk is None:
            self._disk = bus._log.read_after(self.position, head)
            self._disk_held = None
        read: list[tuple[int, pa.Table]] = []
        rows = 0
        while self._disk is not None:
            item = self._disk_held if self._disk_held is not None else next(self._disk, None)
            self._disk_held = None
            if item is None:
                self._disk = None
                break
            seq, table = item
            if read and (rows + table.num_rows > self.coalesce_rows):
                self._disk_held = item  # the first of the next call
                break
            expected = read[-1][0] + 1 if read else want
            if seq != expected:
                log.warning(
                    "bus subscriber %s missed batches %d-%d: the ingest log no longer holds them",
                    self.name,
                    expected,
                    seq - 1,
                )
            read.append((seq, with_seq(seq, table)))
            rows += table.num_rows
            if self.coalesce_rows <= 0:
                break
        if not read:
            return None
        if len(read) == 1:
            return BusBatch(*read[0])
        return BusBatch(read[-1][0], pa.concat_tables([t for _, t in read], promote_options="default"))


class BatchBus:
    """Durable, deduplicated batches to named lossless and lossy subscribers (see bus/base.py)."""

    def __init__(self, cursors: CursorFiles, *, max_lag_bytes: int, memory_bytes: int) -> None:
        self._log: DurableLog = _Detached()
        self._cursors = cursors
        self.max_lag_bytes = max_lag_bytes
        self.memory_bytes = memory_bytes
        self._cond = threading.Condition()
        self._ring: deque[BusBatch] = deque()
        self._ring_bytes = 0
        self._head = 0
        self._followers: dict[str, _Follower] = {}
        self._lossy: dict[str, LossySubscriber] = {}
        self._lossy_offered: dict[str, list[int]] = {}  # name → [batches, lines, dropped lines]
        self._lossy_position: dict[str, int] = {}
        # Cursors found on disk hold the log until their subscriber is added again or `start` gives up on them.
        self._pins: dict[str, int] = cursors.all()
        self._started = False
        self._closed = False
        self.on_floor: Callable[[], None] | None = None  # the store releases log segments behind the floor
        self.backpressure_events = 0

    # --- state the store asks for ----------------------------------------------------------------

    def floor(self) -> int | None:
        """The lowest sequence number some lossless subscriber may still need replayed (None: no one)."""
        with self._cond:
            pins = [f.pin for f in self._followers.values()] + list(self._pins.values())
        return min(pins) if pins else None

    def lagging(self) -> str | None:
        """Why ingest must wait, when a lossless subscriber is more than `max_lag_bytes` behind; else None."""
        with self._cond:
            followers = list(self._followers.values())
        for f in followers:
            lag = self._log.bytes_after(f.position)
            if lag > self.max_lag_bytes:
                self.backpressure_events += 1
                return (
                    f"bus subscriber {f.name!r} is {lag} bytes behind (bus.max_lag_bytes = {self.max_lag_bytes}); "
                    "retry when it has caught up"
                )
        return None

    # --- publishing (the log-writer thread) -----------------------------------------------------

    def attach(self, durable_log: DurableLog, release: Callable[[], None]) -> None:
        """The store opened (and recovered) its log: batches up to its `last_seq` are durable; `release` lets
        the log drop what no consumer needs any more."""
        with self._cond:
            self._log = durable_log
            self._head = durable_log.last_seq
        self.on_floor = release

    def publish(self, items: list[tuple[int, pa.Table]]) -> None:
        """Batches that just became durable (stored schema, with `seq`), in sequence order."""
        if not items:
            return
        batches = [BusBatch(seq, table) for seq, table in items]
        with self._cond:
            for b in batches:
                self._ring.append(b)
                self._ring_bytes += b.table.nbytes
            while self._ring and self._ring_bytes > self.memory_bytes:
                self._ring_bytes -= self._ring.popleft().table.nbytes
            self._head = batches[-1].seq
            self._cond.notify_all()
            lossy = list(self._lossy.values())
        for sub in lossy:
            counts = self._lossy_offered[sub.name]
            for b in batches:
                try:
                    dropped = sub.offer(b)
                except Exception:
                    log.exception("lossy bus subscriber %s failed on batch %d", sub.name, b.seq)
                    dropped = b.table.num_rows
                counts[0] += 1
                counts[1] += b.table.num_rows
                counts[2] += dropped
                self._lossy_position[sub.name] = b.seq

    # --- subscribers --------------------------------------------------------------------------

    def add(self, sub: LosslessSubscriber | LossySubscriber, *, lossless: bool) -> None:
        """Start delivering to `sub` (a name not in use). A lossless one resumes from its cursor."""
        check_name(sub.name)
        with self._cond:
            if sub.name in self._followers or sub.name in self._lossy:
                raise ValueError(f"bus subscriber {sub.name!r} exists already")
            if self._closed:
                raise RuntimeError("the bus is closed")
            if not lossless:
                self._lossy[sub.name] = cast(LossySubscriber, sub)
                self._lossy_offered[sub.name] = [0, 0, 0]
                return
        follower = _Follower(self, cast(LosslessSubscriber, sub), self._start_position(sub), None)
        with self._cond:
            self._followers[sub.name] = follower
            self._pins.pop(sub.name, None)
        follower.start()

    def replace(self, sub: LosslessSubscriber) -> None:
        """Swap the lossless subscriber of the same name for `sub`, which goes on from where it stops."""
        with self._cond:
            old = self._followers.get(sub.name)
        if old is None:
            self.add(sub, lossless=True)
            return
        old.stop()
        follower = _Follower(self, sub, old.position, old)
        with self._cond:
            self._followers[sub.name] = follower
        follower.start()

    def remove(self, name: str) -> None:
        """Stop delivering to `name`; a lossless subscriber's cursor is forgotten (it no longer holds the log)."""
        with self._cond:
            follower = self._followers.pop(name, None)
            self._lossy.pop(name, None)
            self._lossy_offered.pop(name, None)
            self._lossy_position.pop(name, None)
        if follower is not None:
            follower.forget = True
            follower.stop()

    def names(self) -> list[str]:
        with self._cond:
            return [*self._followers, *self._lossy]

    def start(self) -> None:
        """Every subscriber configured at startup is added: cursors on disk that none claimed stop holding
        the ingest log (their subscriber is gone from the config)."""
        with self._cond:
            self._started = True
            unclaimed = dict(self._pins)
            self._pins.clear()
        for name, seq in unclaimed.items():
            log.warning(
                "bus cursor %r (at seq %d) belongs to no configured subscriber; it no longer holds the ingest log",
                name,
                seq,
            )
        self._advanced()

    def _start_position(self, sub: LosslessSubscriber | LossySubscriber) -> int:
        head = self._head
        own = sub.cursor() if isinstance(sub, StatefulSubscriber) else None
        kept = self._cursors.read(sub.name)
        start = own if own is not None else kept
        if start is None:
            start = head  # a new subscriber begins with the next batch
        if kept != start:
            self._cursors.write(sub.name, start)
        if start > head:
            log.warning("bus subscriber %s is at seq %d, past the log's newest (%d)", sub.name, start, head)
            start = head
        return start

    def _advanced(self) -> None:
        with self._cond:
            self._cond.notify_all()
        if self.on_floor is not None:
            self.on_floor()

    # --- status and shutdown --------------------------------------------------------------------

    def status(self) -> list[SubscriberStatus]:
        with self._cond:
            followers = list(self._followers.values())
            lossy = {name: (list(c), self._lossy_position.get(name, 0)) for name, c in self._lossy_offered.items()}
        out = [
            SubscriberStatus(
                f.name, True, f.position, self._log.bytes_after(f.position), f.batches, f.lines, f.errors, 0
            )
            for f in followers
        ]
        out += [
            SubscriberStatus(name, False, pos, 0, counts[0], counts[1], 0, counts[2])
            for name, (counts, pos) in lossy.items()
        ]
        return out

    def wait_caught_up(self, timeout: float = 10.0) -> bool:
        """Block until every lossless subscriber has handled the newest batch (tests, orderly shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                behind = [f for f in self._followers.values() if f.position < self._head and f.alive]
                if not behind:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, _IDLE_WAIT))

    def drain(self, limit: float = _DRAIN_LIMIT, stall: float = _DRAIN_STALL) -> bool:
        """Wait while the lossless subscribers behind the newest batch keep advancing: at most `limit` seconds,
        giving up when none advanced for `stall` seconds. True when every one caught up."""
        deadline = time.monotonic() + limit
        last: tuple[int, ...] | None = None
        since = time.monotonic()
        with self._cond:
            while True:
                behind = [f for f in self._followers.values() if f.position < self._head and f.alive]
                if not behind:
                    return True
                now = time.monotonic()
                positions = tuple(f.position for f in behind)
                if positions != last:
                    last, since = positions, now
                elif now - since >= stall:
                    return False
                if now >= deadline:
                    return False
                self._cond.wait(min(deadline - now, _IDLE_WAIT))

    def close(self, timeout: float = 10.0, drain: float = _DRAIN_LIMIT) -> None:
        """Stop every subscriber after its current batch and wait until each has closed (a warning every `timeout`
        seconds names the one still working); lossless cursors are committed. First, up to `drain`
        seconds for the lossless subscribers to handle what is durable (`drain`): a clean stop leaves the ingest
        log nothing to keep for them."""
        if drain > 0 and not self._closed:
            caught_up = self.drain(drain)
            if not caught_up:
                log.warning("bus: closing with lossless subscribers behind; they resume from their cursors at start")
        with self._cond:
            self._closed = True
            followers = list(self._followers.values())
            self._lossy.clear()
            self._cond.notify_all()
        for f in followers:
            f.stop()
        for f in followers:
            # Each stops after its current batch, then commits and closes (log metrics settle and compact their
            # file). The process must not exit while one is still inside DuckDB (that aborts it and leaves the
            # work half done), so wait for every one, saying which one is slow.
            f.join(timeout)
            while f.alive:
                log.warning("bus: waiting for subscriber %s to finish its batch and close", f.name)
                f.join(timeout)


class _Detached:
    """The log before `attach`: empty."""

    last_seq = 0

    def read_after(self, seq: int, until: int) -> Iterator[tuple[int, pa.Table]]:
        return iter(())

    def release(self, seq: int) -> None:
        pass

    def bytes_after(self, seq: int) -> int:
        return 0

    def size_bytes(self) -> int:
        return 0
