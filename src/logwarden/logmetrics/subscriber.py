"""The log metrics subscriber: every definition applied to each durable batch, as one stateful, lossless bus
subscriber (bus/base.py: StatefulSubscriber), like the rules engine.

**Exactly once.** The batches handled since the last commit wait in memory, and are aggregated together just
before it (or once `coalesce_rows` lines wait): the per-definition costs of an aggregation (a DuckDB pass, a
group-by per definition) are paid about once per commit, not once per bus call. Their points (`Pending`, merged
per series and 10 s bucket) are added to the series store at most every `commit_interval` (and when stopping) in
one transaction with the bus cursor of the last batch they cover. After a crash the bus replays every batch
after that cursor, and the same lines give the same points: nothing lost, nothing counted twice. A batch that
fails (or a failed commit) drops what is pending and rewinds the bus to the committed cursor (`RewindError`;
when the aggregation failed off the bus thread — a tick, a reload — at the next batch handed).

**Background.** A thread commits what an idle stream left pending, and every `compact_interval` rolls finished
buckets up into the coarser tiers and deletes what is past each tier's retention (logmetrics/store.py).

**Current values** (`/metrics/logs`): running totals since the server started, per series — counts, sums and
distribution bins — updated at each commit from what it committed (Prometheus counters: a restart is a reset).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from logwarden.bus.base import BusBatch, RewindError
from logwarden.config.logmetrics import MetricDefinition, RemoteWriteConfig
from logwarden.logmetrics.aggregate import BatchAggregator
from logwarden.logmetrics.pending import Merged, Pending, SeriesKey
from logwarden.logmetrics.remote_write import RemoteWriter
from logwarden.logmetrics.store import SeriesStore
from logwarden.logmetrics.user_definitions import UserDefinitions

log = logging.getLogger(__name__)
RELOAD_EVERY = 5.0  # seconds between two looks at `metrics.dir`


class SeriesTotal:
    """One series' running totals since start: lines, sum of values, and distribution bins."""

    __slots__ = ("bins", "count", "total")

    def __init__(self) -> None:
        self.count = 0.0
        self.total = 0.0
        self.bins: dict[int, int] = {}


class LogMetricsSubscriber:
    """The bus's lossless subscriber `logmetrics`."""

    name = "logmetrics"
    coalesce_rows = 128 * 1024  # batches waiting on the bus are aggregated together (per-definition costs per call)
    coalesce_wait = 1.0  # rests up to 1 s after a call (4 × its length): larger calls, metrics resolve to 10 s anyway
    nice = 5  # gives way to ingest when the cores are busy; catches up in larger calls

    def __init__(
        self,
        store: SeriesStore,
        definitions: Sequence[MetricDefinition],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        commit_interval: timedelta = timedelta(seconds=1),
        compact_interval: timedelta | None = timedelta(minutes=1),
        forget_interval: timedelta = timedelta(hours=1),
        remote_write: RemoteWriteConfig | None = None,
    ) -> None:
        """`store` is closed with the subscriber; `compact_interval` None: no background thread (tests call
        `tick`, `compact` and `remote.push`). Every `forget_interval` (at a compaction) the label combinations the
        caps count are re-read from the store, so series past the finest tier's retention stop counting.
        `remote_write`: each commit also fills the outbox a `RemoteWriter` pushes (logmetrics/remote_write.py)."""
        self.store = store
        self.definitions = {d.name: d for d in definitions}
        self._clock = clock
        self._commit_interval = commit_interval.total_seconds()
        self._forget_interval = forget_interval.total_seconds()
        self._last_forget = time.monotonic()
        self._lock = threading.RLock()
        self._aggregator = BatchAggregator(list(definitions), store.known_series())
        self._pending = Pending()
        self._waiting: list[pa.Table] = []  # batches handled, not aggregated yet (`_observe_waiting`)
        self._waiting_rows = 0
        self._failed: str | None = None  # why batches handled after the last commit were dropped (None: none were)
        self._seq = store.cursor(self.name)
        self._uncommitted: int | None = None
        self._last_commit = 0.0
        self.totals: dict[SeriesKey, SeriesTotal] = {}
        self.lines = 0  # lines handled and committed since start
        self.commits = 0
        self._closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.remote: RemoteWriter | None = None
        self.user_definitions: UserDefinitions | None = None  # where the API keeps its definitions (a server's)
        # The definitions anew when `metrics.dir` changed (None: unchanged); looked at every `RELOAD_EVERY`.
        self.watch: Callable[[], Sequence[MetricDefinition] | None] | None = None
        self._last_watch = time.monotonic()
        if remote_write is None:
            store.outbox_clear()  # remote-write turned off: nothing will read what waits there
        else:
            self.remote = RemoteWriter(store, self.definitions, remote_write)
            if compact_interval is not None:
                self.remote.start()
        if compact_interval is not None:
            self._thread = threading.Thread(
                target=self._loop, args=(compact_interval.total_seconds(),), name="lw-logmetrics", daemon=True
            )
            self._thread.start()

    @property
    def over_cap(self) -> int:
        """Groups of lines counted in a metric's `other` series since start (its cap was reached)."""
        return self._aggregator.over_cap

    # --- the bus contract -----------------------------------------------------------------------------

    def cursor(self) -> int | None:
        """The last batch whose points are committed (None: a new store starts at the newest batch)."""
        return self._seq

    def handle(self, batch: BusBatch) -> None:
        with self._lock:
            if self._failed is not None:  # an aggregation off the bus thread failed: the bus goes back first
                reason, self._failed = self._failed, None
                if self._seq is None:  # never committed: nothing waited before this batch (the first commits)
                    raise RuntimeError(reason)
                raise RewindError(self._seq, reason)
            try:
                # Batches wait (as their points would) and are aggregated together at the commit, or once
                # `coalesce_rows` wait: the per-definition costs of a call are paid about once a second, not per call.
                self._waiting.append(batch.table)
                self._waiting_rows += batch.table.num_rows
                due = self._seq is None or time.monotonic() - self._last_commit >= self._commit_interval
                if due or self._waiting_rows >= self.coalesce_rows:
                    self._observe_waiting()
                if due:
                    self._commit(batch.seq)
                else:
                    self._uncommitted = batch.seq  # replayed from the last commit after a crash: same points
            except Exception as exc:
                committed = self._seq
                self._forget_uncommitted()
                if committed is None:
                    raise
                raise RewindError(committed, f"{type(exc).__name__}: {exc}") from exc

    def _observe_waiting(self) -> None:
        """Aggregate the batches that wait into the pending points."""
        waiting, self._waiting, self._waiting_rows = self._waiting, [], 0
        if len(waiting) > 1:
            table = pa.concat_tables(waiting, promote_options="default")
        elif waiting:
            table = waiting[0]
        else:
            return
        self._aggregator.observe(table, self._pending)

    def _forget_uncommitted(self) -> None:
        """Back to the last commit: what was handled after it is handed again by the bus."""
        self._pending = Pending()
        self._waiting, self._waiting_rows = [], 0
        self._uncommitted = None

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        with self._lock:
            if not self._closed:
                self._closed = True
                try:
                    self._flush()
                finally:
                    self._aggregator.close()
                    try:
                        if self.remote is not None:
                            self.remote.close()
                    finally:
                        self.store.close()

    def replace_definitions(self, definitions: Sequence[MetricDefinition]) -> None:
        """Apply `definitions` from the next batch on: what is handled so far is committed under the old ones
        first. DefinitionError (nothing changed) when one does not compile. Series of a removed metric stay
        stored (queries no longer name them); a new one starts empty (no re-scan of the store)."""
        aggregator = BatchAggregator(list(definitions), {})
        with self._lock:
            if self._closed:
                raise RuntimeError("the log metrics are closed")
            self._flush()
            aggregator.known = self.store.known_series()
            aggregator.over_cap = self._aggregator.over_cap
            self._aggregator.close()
            self._aggregator = aggregator
            # In place: the remote writer and the routes hold this mapping.
            self.definitions.clear()
            self.definitions.update({d.name: d for d in definitions})

    # --- commits ------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Commit what is handled now (tests, and anyone reading the store right after)."""
        with self._lock:
            if not self._closed:
                self._flush()

    def _flush(self) -> None:
        if self._failed is not None:
            return  # nothing to commit until the bus has handed the batches again
        try:
            self._observe_waiting()
        except Exception as exc:
            # Off the bus thread (a tick, a reload, the stop): nothing after the last commit is kept, and the next
            # `handle` asks the bus for those batches again (at a restart, the store's cursor does).
            self._forget_uncommitted()
            self._failed = f"{type(exc).__name__}: {exc}"
            raise
        if self._uncommitted is not None or self._pending:
            self._commit(self._uncommitted if self._uncommitted is not None else self._seq)

    def _commit(self, seq: int | None) -> None:
        pending = self._pending
        merged = pending.merged()
        stamp = None if self.remote is None else int(self._clock().timestamp() * 1000)
        self.store.commit(self.name, seq, merged, outbox_at=stamp)
        self._pending = Pending()
        self._uncommitted = None
        if seq is not None:
            self._seq = seq
        self._last_commit = time.monotonic()
        self.commits += 1
        self.lines += pending.lines
        self._add_totals(merged)

    def _add_totals(self, merged: Merged) -> None:
        """Fold committed points into the running totals: one Python step per series (and bin), not per line."""
        for key, n, total in merged.series:
            found = self.totals.get(key)
            if found is None:
                found = self.totals[key] = SeriesTotal()
            found.count += n
            found.total += total
        for key, index, n in merged.series_bins:
            counts = self.totals[key].bins
            counts[index] = counts.get(index, 0) + n

    def snapshot(self) -> list[tuple[SeriesKey, float, float, dict[int, int]]]:
        """The current totals, copied (for the exposition, off the lock)."""
        with self._lock:
            return [(k, v.count, v.total, dict(v.bins)) for k, v in self.totals.items()]

    # --- the background thread ----------------------------------------------------------------------

    def tick(self) -> None:
        """Commit what an idle stream left pending, once `commit_interval` has passed."""
        with self._lock:
            if self._closed:
                return
            if time.monotonic() - self._last_commit >= self._commit_interval:
                self._flush()

    def compact(self) -> dict[str, Any]:
        """Roll finished buckets up and apply each tier's retention, by the clock."""
        now = self._clock()
        advanced = self.store.rollup(now)
        expired = self.store.expire(now)
        if advanced or expired:
            self.store.checkpoint()
        if time.monotonic() - self._last_forget >= self._forget_interval:
            with self._lock:
                # Committed first: the caps then count exactly what is stored, as after a restart.
                self._flush()
                self._aggregator.known = self.store.known_series()
            self._last_forget = time.monotonic()
        return {"tiers_advanced": advanced, "expired_points": expired}

    def reload(self) -> bool:
        """Apply `metrics.dir`'s definitions if a file changed (`watch`); a wrong set is logged and the one in force
        kept. Whether the definitions changed."""
        if self.watch is None:
            return False
        lock = self.user_definitions.lock if self.user_definitions is not None else threading.Lock()
        with lock:  # not while the API rewrites its definitions
            try:
                found = self.watch()
            except Exception as exc:
                log.error("log metrics: metrics.dir not reloaded, the definitions in force stay: %s", exc)
                return False
            if found is None:
                return False
            self.replace_definitions(found)
        log.info("log metrics: metrics.dir reloaded: %d definitions (%s)", len(found), ", ".join(d.name for d in found))
        return True

    def _loop(self, compact_every: float) -> None:
        next_compact = time.monotonic()
        while not self._stop.wait(min(self._commit_interval, compact_every, 1.0)):
            try:
                if time.monotonic() - self._last_watch >= RELOAD_EVERY:
                    self._last_watch = time.monotonic()
                    self.reload()
                self.tick()
                if time.monotonic() >= next_compact:
                    self.compact()
                    next_compact = time.monotonic() + compact_every
            except Exception:
                log.exception("log metrics: background commit or compaction failed; retrying")
