"""The pattern recorder: a stateful, lossless bus subscriber that keeps every pattern's totals, level mix,
samples and per-minute line counts in the pattern store (patterns/store.py).

**Off the ingest path.** Ingest only assigns `pattern_id` (patterns/miner.py); the recorder sees each batch
after it is durable and deduplicated, aggregates it with polars into two small frames (per pattern; per
pattern, level and minute: no Python per line or per pattern), folds those into the store's deltas once per
commit (Python per pattern per commit, not per batch), and commits at most every `commit_interval` — or ten
times as long as the last commit took, when that is longer (up to 30 s): a commit costs per pattern — and
when stopping, and from a background thread when the stream goes idle.

**Exact counts.** A commit writes the counts and the bus cursor of the last batch they cover in one
transaction; after a crash the bus replays every batch after that cursor, so no line is lost or counted twice.
A failed batch or commit drops what is pending and rewinds the bus to the committed cursor (`RewindError`).

**Restart.** `restore_miner` hands the miner every stored template (least recently seen first), so lines of a
kind seen before the restart get the same id after it. A lost or new pattern store is rebuilt from the stored
lines (`rebuild`), keeping the ids they carry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.bus.base import BusBatch, RewindError
from logwarden.lazy import lazy_module
from logwarden.patterns.miner import PatternMiner
from logwarden.patterns.store import MAX_SAMPLES, PatternDelta, PatternStore, PendingPatterns

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")  # imported on first use (logwarden.lazy)

if TYPE_CHECKING:  # the protocol only: rules sits above ingest, which uses the miner
    from logwarden.rules.base import HistoryReader

log = logging.getLogger(__name__)

COLUMNS = ["ts", "tenant", "service", "level", "message", "pattern_id"]
COMMIT_DUTY = 10.0  # the gap after a commit is at least this many times the commit's duration
MAX_PARTS = 64  # batch aggregates held before they are merged into one (memory between commits)
MAX_COMMIT_GAP = 30.0  # seconds: how stale the pattern store may get under the heaviest load


class PatternRecorder:
    """The bus's lossless subscriber `patterns`."""

    name = "patterns"
    coalesce_rows = 128 * 1024  # waiting batches are aggregated together
    coalesce_wait = 0.25

    def __init__(
        self,
        store: PatternStore,
        miner: PatternMiner,
        *,
        retention_for: Callable[[str], int] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        commit_interval: timedelta = timedelta(seconds=2),
        maintain_interval: timedelta | None = timedelta(minutes=10),
    ) -> None:
        """`retention_for(tenant)` → days its patterns are kept (default: forever); `maintain_interval` None: no
        background thread (tests call `tick` and `maintain`)."""
        self.store = store
        self.miner = miner
        self.retention_for = retention_for
        self._clock = clock
        self._commit_interval = commit_interval.total_seconds()
        self._lock = threading.RLock()
        # Per batch since the last commit: (per pattern, per pattern/level/minute) aggregates (see _observe).
        self._parts: list[tuple[pl.DataFrame, pl.DataFrame]] = []
        self._seq = store.cursor(self.name)
        self._uncommitted: int | None = None
        self._last_commit = 0.0
        self._gap = self._commit_interval  # seconds until the next commit: see _commit
        self._closed = False
        self.commits = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if maintain_interval is not None:
            self._thread = threading.Thread(
                target=self._loop, args=(maintain_interval.total_seconds(),), name="lw-patterns", daemon=True
            )
            self._thread.start()

    def restore_miner(self) -> int:
        """Put every stored template back into the miner (call before the bus starts); returns how many."""
        saved = self.store.saved_templates()
        self.miner.restore(saved)
        return len(saved)

    def rebuild(self, history: HistoryReader, start: datetime, end: datetime) -> int:
        """When the pattern store is empty (new, or lost) and lines are stored: mine the stored lines of
        [start, end) in time order and record them, keeping the ids the lines carry (a mined template is renamed
        to the id its lines were stored with). Returns the lines read. Call before the bus starts."""
        if not self.store.is_empty():
            return 0
        read = 0
        renames: dict[tuple[str, str, str], str] = {}
        with self._lock:
            for page in history.scan("", start, end, [*COLUMNS, "source"]):
                if page.num_rows == 0:
                    continue
                stored = page.column("pattern_id")
                mined = self.miner.assign(page).column("pattern_id")
                pairs = pl.DataFrame(
                    {
                        "t": pl.Series(page.column("tenant")).cast(pl.String),
                        "s": pl.Series(page.column("service")).cast(pl.String).fill_null(""),
                        "mined": pl.Series(mined),
                        "stored": pl.Series(stored).cast(pl.String),
                    }
                ).filter(pl.col("stored").is_not_null() & pl.col("mined").is_not_null())
                for tenant, service, mined_id, stored_id in pairs.unique(["t", "s", "mined"]).iter_rows():
                    renames.setdefault((tenant, service, mined_id), stored_id)
                ids = pc.coalesce(pc.cast(stored, pa.string()), mined)
                self._observe(BusBatch(0, page.set_column(page.column_names.index("pattern_id"), "pattern_id", ids)))
                read += page.num_rows
            for (tenant, service, mined_id), stored_id in renames.items():
                if mined_id != stored_id:
                    self.miner.rename(tenant, service, mined_id, stored_id)
            if read:
                self._commit(None)
        log.info("patterns rebuilt from %d stored lines", read)
        return read

    # --- the bus contract -----------------------------------------------------------------------------

    def cursor(self) -> int | None:
        """The last batch whose patterns are committed (None: a new store starts at the newest batch)."""
        return self._seq

    def handle(self, batch: BusBatch) -> None:
        with self._lock:
            try:
                self._observe(batch)
                if self._seq is None or time.monotonic() - self._last_commit >= self._gap:
                    self._commit(batch.seq)
                else:
                    self._uncommitted = batch.seq  # replayed from the last commit after a crash
            except Exception as exc:
                committed = self._seq
                self._parts = []
                self._uncommitted = None
                if committed is None:
                    raise
                raise RewindError(committed, f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        with self._lock:
            if not self._closed:
                self._flush()
                self._closed = True

    # --- aggregation ----------------------------------------------------------------------------------

    def _observe(self, batch: BusBatch) -> None:
        """Aggregate one batch into two small frames (per pattern; per pattern, level and minute): polars only,
        no Python per pattern. They are folded into the store's deltas once per commit (`_fold`)."""
        table = batch.table
        if "pattern_id" not in table.column_names or table.column("pattern_id").null_count == table.num_rows:
            return
        lines = pl.from_arrow(table.select(COLUMNS))
        assert isinstance(lines, pl.DataFrame)
        lines = lines.filter(pl.col("pattern_id").is_not_null()).with_columns(
            pl.col("service").fill_null(""), pl.col("level").fill_null("")
        )
        per_pattern = lines.group_by("tenant", "pattern_id", maintain_order=True).agg(
            pl.col("service").first(),
            pl.col("ts").min().alias("first"),
            pl.col("ts").max().alias("last"),
            pl.len().alias("lines"),
            pl.col("message").drop_nulls().head(MAX_SAMPLES).alias("samples"),
        )
        counts = lines.group_by("tenant", "pattern_id", "level", pl.col("ts").dt.truncate("1m").alias("minute")).len()
        self._parts.append((per_pattern, counts))
        if len(self._parts) >= MAX_PARTS:  # a long gap between commits: keep one part, not one per batch
            self._parts = [self._merged()]

    def _merged(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The parts aggregated since the last commit as one part (same columns): one group-by each."""
        per_pattern = (
            pl.concat([p for p, _ in self._parts], rechunk=False)
            .group_by("tenant", "pattern_id", maintain_order=True)
            .agg(
                pl.col("service").first(),
                pl.col("first").min(),
                pl.col("last").max(),
                pl.col("lines").sum(),
                pl.col("samples").explode().drop_nulls().head(MAX_SAMPLES),
            )
        )
        counts = (
            pl.concat([c for _, c in self._parts], rechunk=False)
            .group_by("tenant", "pattern_id", "level", "minute")
            .agg(pl.col("len").sum())
        )
        return per_pattern, counts

    def _fold(self) -> PendingPatterns:
        """The deltas of every batch aggregated since the last commit: Python once per pattern per commit (not
        per batch)."""
        pending = PendingPatterns()
        if not self._parts:
            return pending
        per_pattern, counts = self._merged()
        for tenant, pattern_id, service, first, last, n, samples in per_pattern.iter_rows():
            pending.patterns[(tenant, pattern_id)] = PatternDelta(service, first, last, n, samples=list(samples))
        levels = counts.group_by("tenant", "pattern_id", "level").agg(pl.col("len").sum())
        for tenant, pattern_id, level, n in levels.iter_rows():
            pending.patterns[(tenant, pattern_id)].levels[level] += n
        minutes = counts.group_by("tenant", "pattern_id", "minute").agg(pl.col("len").sum())
        for tenant, pattern_id, minute, n in minutes.iter_rows():
            pending.minutes[(tenant, pattern_id, minute)] += n
        return pending

    # --- commits ------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Commit what is handled now (tests, and anyone reading the store right after)."""
        with self._lock:
            if not self._closed:
                self._flush()

    def _flush(self) -> None:
        if self._uncommitted is not None or self._parts:
            self._commit(self._uncommitted if self._uncommitted is not None else self._seq)

    def _commit(self, seq: int | None) -> None:
        pending = self._fold()
        evicted: list[PatternDelta] = []
        keys = [(tenant, delta.service, pattern_id) for (tenant, pattern_id), delta in pending.patterns.items()]
        for delta, text in zip(pending.patterns.values(), self.miner.template_texts(keys), strict=True):
            delta.template = text
            if text is None and delta.samples:
                evicted.append(delta)
        if evicted:  # evicted already: its first line, masked, stands in (one masking pass for all of them)
            for delta, text in zip(evicted, self.miner.masked_texts([d.samples[0] for d in evicted]), strict=True):
                delta.template = text
        began = time.monotonic()
        self.store.commit(self.name, seq, pending, self._clock())
        # A commit costs per pattern, not per line: under a stream of many patterns, commit less often so that
        # committing takes at most a tenth of the time (the counts stay exact; they show a little later).
        self._gap = max(self._commit_interval, min(COMMIT_DUTY * (time.monotonic() - began), MAX_COMMIT_GAP))
        self._parts = []
        self._uncommitted = None
        if seq is not None:
            self._seq = seq
        self._last_commit = time.monotonic()
        self.commits += 1

    # --- the background thread ----------------------------------------------------------------------

    def tick(self) -> None:
        """Commit what an idle stream left pending, once `commit_interval` has passed."""
        with self._lock:
            if not self._closed and time.monotonic() - self._last_commit >= self._gap:
                self._flush()

    def maintain(self) -> dict[str, int]:
        """Roll minute counts older than a day into hours; drop what is past each tenant's retention."""
        now = self._clock()
        rolled = self.store.rollup(now)
        expired = 0
        if self.retention_for is not None:
            retention_for = self.retention_for
            tenants = {t.tenant for t in self.store.saved_templates()}
            cutoffs = {t: now - timedelta(days=retention_for(t)) for t in tenants}
            expired = self.store.expire(cutoffs, now - timedelta(days=retention_for("")))
        return {"minutes_rolled_up": rolled, "patterns_expired": expired}

    def _loop(self, maintain_every: float) -> None:
        next_maintain = time.monotonic()
        while not self._stop.wait(min(self._commit_interval, 1.0)):
            try:
                self.tick()
                if time.monotonic() >= next_maintain:
                    self.maintain()
                    next_maintain = time.monotonic() + maintain_every
            except Exception:
                log.exception("patterns: background commit or maintenance failed; retrying")
