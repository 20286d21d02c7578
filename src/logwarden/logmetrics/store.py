"""Where series live: a DuckDB file of their own (`<data_dir>/logmetrics/series.duckdb`), in five tiers.

Why a file of its own rather than the log store or the metadata database: the log store's DuckDB has one
writer thread busy with ingest, and the metadata database is row-oriented SQLite/PostgreSQL; series are
small columnar rows read by range and rolled up in bulk — DuckDB's strength — and keeping them apart means a
roll-up never waits on ingest nor ingest on a roll-up. The subscriber's bus cursor is committed in the same
transaction as the points it covers, so a crash loses and doubles nothing (the bus replays after the cursor).

**Tiers.** Points are written at 10 s (tier 0); a background roll-up replaces each finished 1 m, 5 m, 1 h and 1 d
bucket of the tier above by the merge of the finer tier's (counts and sums add, min and max combine, distribution
bins add), and records how far it got (`rollup.done_until`) in the same transaction: a roll-up interrupted
anywhere leaves the previous state and is simply done again. A late line for a bucket that is already rolled
up is added to the coarser tiers directly, with its commit. Each tier keeps its own retention.

**Append, then settle.** A commit only appends (no UPDATE of the rows already there: that cost four times as
much), so a key (series, bucket, bin) may have a row per commit; every reader sums the rows of a key. The roll-up
to 1 m settles each finished 10 s bucket it reads into one row per key, and the span late lines appended to
below that is settled, in every tier, at the next roll-up.

**Series by number.** Points and bins carry their series' number (`series.sid`), not its metric, tenant and
labels: a scan reads integers; the writer keeps the numbers in memory, so a commit joins no label text. The
subscriber's commits also fill the remote-write outbox when it is on (logmetrics/remote_write.py), in the same
transaction.

**Size on disk.** Roll-ups delete and rewrite rows, and DuckDB never gives freed blocks back to the filesystem:
after a day of ingest about half the file was free blocks. `close` therefore copies the file without them
(the embedded store's compaction, store/duckdb/compact.py, handed in by the app factory: a fresh copy,
fsynced, swapped in by one rename) when that saves at least
`COMPACT_MIN_GAIN` of it, or the file still has DuckDB's default 256 KiB blocks: the copy has 64 KiB blocks
and its points and bins ordered by tier, day and series (`COMPACT_BLOCK_SIZE`, `COMPACT_ORDER`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, TypeVar

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from logwarden.duckdb_settings import OFFLINE
from logwarden.logmetrics.aggregate import OTHER
from logwarden.logmetrics.pending import Merged, SeriesKey

log = logging.getLogger(__name__)

DIR = "logmetrics"
FILE = "series.duckdb"
# `close` compacts the file from this size on, when the copy would be at least this share smaller (bench/peers.py,
# 2M lines over 25 h: 22.6 MB at the stop, 10.8 MB compacted in ~2 s).
COMPACT_MIN_BYTES = 4 * 1024**2
COMPACT_MIN_GAIN = 0.2
# The compacted copy's blocks and row order. A column segment that does not fill its block leaves the rest of it
# unused, and a points segment is tens of KiB: bench/disk.py's 2M lines took 11.0 MB in 256 KiB blocks, 8.7 MB in
# 64 KiB (19.3 MB in 32 KiB, 9.8 MB in 128 KiB). Within a tier and a day the rows of one series go together (sid is
# one run, its values side by side): 9.7 MB in 256 KiB blocks, 7.8 MB in 64 KiB; zone maps on the day still prune
# the time-range scans of roll-ups and queries (timed alike, within this machine's noise).
COMPACT_BLOCK_SIZE = 64 * 1024
COMPACT_ORDER = {"points": "tier, ts // 86400, sid, ts", "bins": "tier, ts // 86400, sid, ts, bin"}


class FileCompactor(Protocol):
    """Compaction of a DuckDB file (the embedded store's, store/duckdb/compact.py: given by the app factory, since
    nothing outside store/ imports the backend)."""

    def remove_leftovers(self, path: Path) -> None: ...

    def needs_compaction(self, path: Path, *, min_gain: float, min_bytes: int, block_size: int | None) -> bool: ...

    def compact_file(
        self, path: Path, *, threads: int, memory_limit: str, block_size: int | None, order_by: Mapping[str, str]
    ) -> object: ...


@dataclass(frozen=True, slots=True)
class Tier:
    """One resolution: its name (as `/query_range` reports it) and its width in seconds."""

    name: str
    seconds: int


TIERS = (Tier("10s", 10), Tier("1m", 60), Tier("5m", 300), Tier("1h", 3600), Tier("1d", 86400))
# The 1 d tier pre-merges each day's distribution bins (a 90-day percentile by day reads 90 rows per series and
# bin, not 2,160); it keeps the 1 h tier's retention unless given one of its own.
ROLLUP_DELAY = 60  # seconds after its end (by the clock) before a bucket is rolled up: most late lines are in

# Points and bins name their series by a number (`series.sid`), not by its labels: a range scan then reads and
# groups integers (a 90-day distribution query is a million bin rows), and a point costs a few bytes on disk.
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS series (sid INTEGER PRIMARY KEY, metric VARCHAR, tenant VARCHAR, labels VARCHAR, "
    "UNIQUE (metric, tenant, labels))",
    # No primary key: its index would be four fifths of the file. Commits append (a series and bucket may have a
    # row per commit: every reader sums them); the roll-up to 1 m settles each finished bucket of tier 0 into one
    # row (`_settle`). Rows arrive in time order (a compacted file: by tier, day, series): zone maps on `ts` prune.
    "CREATE TABLE IF NOT EXISTS points (tier UTINYINT, sid INTEGER, ts BIGINT, n DOUBLE, total DOUBLE, lo DOUBLE, "
    "hi DOUBLE)",
    "CREATE TABLE IF NOT EXISTS bins (tier UTINYINT, sid INTEGER, ts BIGINT, bin SMALLINT, n BIGINT)",
    # For people (and tests) reading the file: points and bins with their series' names, one row per key.
    "CREATE OR REPLACE VIEW series_points AS SELECT p.tier, s.metric, s.tenant, s.labels, p.ts, sum(p.n) AS n, "
    "sum(p.total) AS total, min(p.lo) AS lo, max(p.hi) AS hi FROM points p JOIN series s USING (sid) "
    "GROUP BY p.tier, s.metric, s.tenant, s.labels, p.ts",
    "CREATE OR REPLACE VIEW series_bins AS SELECT b.tier, s.metric, s.tenant, s.labels, b.ts, b.bin, "
    "sum(b.n)::BIGINT AS n FROM bins b JOIN series s USING (sid) GROUP BY b.tier, s.metric, s.tenant, s.labels, "
    "b.ts, b.bin",
    "CREATE TABLE IF NOT EXISTS cursors (name VARCHAR PRIMARY KEY, seq BIGINT)",
    "CREATE TABLE IF NOT EXISTS rollup (tier UTINYINT PRIMARY KEY, done_until BIGINT)",
    # Remote-write (logmetrics/remote_write.py): each commit's deltas per series wait in the outbox until pushed;
    # the totals pushed so far (what the next cumulative sample adds to) are kept with the outbox's cursor.
    "CREATE TABLE IF NOT EXISTS outbox_points (commit_no BIGINT, at_ms BIGINT, metric VARCHAR, tenant VARCHAR, "
    "labels VARCHAR, n DOUBLE, total DOUBLE)",
    "CREATE TABLE IF NOT EXISTS outbox_bins (commit_no BIGINT, metric VARCHAR, tenant VARCHAR, labels VARCHAR, "
    "bin SMALLINT, n BIGINT)",
    "CREATE TABLE IF NOT EXISTS remote_totals (metric VARCHAR, tenant VARCHAR, labels VARCHAR, n DOUBLE, "
    "total DOUBLE, at_ms BIGINT, PRIMARY KEY (metric, tenant, labels))",
    "CREATE TABLE IF NOT EXISTS remote_bins (metric VARCHAR, tenant VARCHAR, labels VARCHAR, bin SMALLINT, "
    "n BIGINT, PRIMARY KEY (metric, tenant, labels, bin))",
)
REMOTE_CURSOR = "\x1fremote_write"  # the outbox's cursor in `cursors`: the last commit folded into the totals
_T = TypeVar("_T")
_SERIES_TYPES = (pa.int32(), pa.string(), pa.string(), pa.string())


def _append(cur: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    """Append `rows` to `table` (an Arrow table of its columns, in order)."""
    if rows.num_rows:
        cur.register("__lw_in", rows)
        cur.execute(f"INSERT INTO {table} SELECT * FROM __lw_in")
        cur.unregister("__lw_in")


def _late_span(points: pa.Table, settled_until: int | None) -> tuple[int, int] | None:
    """The span of bucket starts of `points` below `settled_until` (late lines: appended after their settling)."""
    if settled_until is None or points.num_rows == 0:
        return None
    ts = points.column("ts").to_numpy()
    late = ts[ts < settled_until]
    return (int(late.min()), int(late.max())) if len(late) else None


def _set_cursor(cur: duckdb.DuckDBPyConnection, name: str, seq: int) -> None:
    """Record a cursor (an UPDATE: a third of what an upsert on the key costs)."""
    row = cur.execute("UPDATE cursors SET seq = ? WHERE name = ?", [seq, name]).fetchone()
    if row is None or int(row[0]) == 0:
        cur.execute("INSERT INTO cursors VALUES (?, ?)", [name, seq])


def _numbered(rows: pa.Table, ids: np.ndarray) -> pa.Table:
    """A commit's rows (`s`: the commit's series position) with their series numbers, as tier 0."""
    sid = pa.array(ids[rows.column("s").to_numpy()], pa.int32())
    tier = pa.repeat(pa.scalar(0, pa.uint8()), rows.num_rows)
    return pa.table([tier, sid, *rows.columns[1:]], names=["tier", "sid", *rows.column_names[1:]])


def _with_coarser(rows: pa.Table, coarser: list[tuple[int, int, int]]) -> pa.Table:
    """Tier-0 `rows` and, for each coarser tier rolled up past some of them (late lines), the same rows in that
    tier's buckets (readers sum rows of one key)."""
    if not coarser:
        return rows
    parts = [rows]
    ts = rows.column("ts").to_numpy()
    at = rows.column_names.index("ts")
    for tier, width, until in coarser:
        bucket = ts - ts % width
        late = bucket < until
        if late.any():
            picked = rows.filter(pa.array(late)).set_column(at, "ts", pa.array(bucket[late]))
            parts.append(picked.set_column(0, "tier", pa.repeat(pa.scalar(tier, pa.uint8()), picked.num_rows)))
    return pa.concat_tables(parts)


@dataclass(frozen=True, slots=True)
class OutboxChunk:
    """Commits of the remote-write outbox up to `upto`, as the series they touched: `series` (metric, tenant,
    labels, n, total, at_ms: epoch ms) with their new totals, `bins` (metric, tenant, labels, bin, n) in full."""

    upto: int
    series: pa.Table
    bins: pa.Table


def per_tier(retention: Sequence[_T]) -> list[_T]:
    """One retention per tier: the config names the four first; the 1 d tier keeps the 1 h tier's."""
    if len(retention) == len(TIERS) - 1:
        return [*retention, retention[-1]]
    if len(retention) != len(TIERS):
        raise ValueError(f"one retention per tier ({len(TIERS)}, or {len(TIERS) - 1}: the 1 d tier as the 1 h)")
    return list(retention)


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


class SeriesStore:
    """The tiered series of every log metric, and the subscriber's cursor. Writes are serialized (`_write`);
    reads run on cursors of their own, concurrently with them."""

    def __init__(
        self,
        path: Path,
        retention: Sequence[timedelta],
        *,
        memory_limit: str = "256MB",
        compactor: FileCompactor | None = None,
    ) -> None:
        self.retention = [int(r.total_seconds()) for r in per_tier(retention)]
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._memory_limit = memory_limit
        self._compactor = compactor
        if compactor is not None:
            compactor.remove_leftovers(path)  # a copy whose compaction was killed before its swap
        self._con = duckdb.connect(str(path), config={"threads": 1, "memory_limit": memory_limit, **OFFLINE})
        self._con.execute("SET TimeZone = 'UTC'")
        self._write = threading.Lock()
        self._local = threading.local()
        _migrate_labelled_points(self._con)
        for statement in _SCHEMA:
            self._con.execute(statement)
        row = self._con.execute(
            "SELECT greatest((SELECT max(commit_no) FROM outbox_points), (SELECT max(commit_no) FROM outbox_bins), "
            "(SELECT seq FROM cursors WHERE name = ?))",
            [REMOTE_CURSOR],
        ).fetchall()[0]
        self._commit_no = 0 if row is None or row[0] is None else int(row[0])
        # Every series' number (commits alone add series, under `_write`).
        self._sids: dict[SeriesKey, int] = {
            (metric, tenant, labels): sid
            for sid, metric, tenant, labels in self._con.execute(
                "SELECT sid, metric, tenant, labels FROM series"
            ).fetchall()
        }
        self._next_sid = max(self._sids.values(), default=0) + 1
        self._late: tuple[int, int] | None = None  # event time late lines appended to below the settled range

    @classmethod
    def under(
        cls,
        data_dir: Path,
        retention: Sequence[timedelta],
        compactor: FileCompactor | None = None,
        memory_limit: int | None = None,
    ) -> SeriesStore:
        """The store of a server's data directory; `memory_limit` in bytes (`metrics.memory_limit`)."""
        if memory_limit is None:
            return cls(data_dir / DIR / FILE, retention, compactor=compactor)
        return cls(data_dir / DIR / FILE, retention, memory_limit=f"{memory_limit}B", compactor=compactor)

    def reader(self) -> duckdb.DuckDBPyConnection:
        """This thread's read cursor."""
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cur", None)
        if cur is None:
            cur = self._local.cur = self._con.cursor()
        return cur

    def close(self) -> None:
        """Settle the rows late lines appended since the last roll-up (a short run of old data — a backfill — would
        otherwise leave a row per commit and key in every tier until the next start's roll-up), close the file, then
        compact it when that is worth it (a failed settle or compaction leaves it as it was)."""
        try:
            self._settle_late()
        except Exception:
            log.exception("settling late series rows in %s failed; the next roll-up settles them", self._path)
        with self._write:
            self._con.close()
            compactor = self._compactor
            if compactor is None:
                return
            try:
                if compactor.needs_compaction(
                    self._path, min_gain=COMPACT_MIN_GAIN, min_bytes=COMPACT_MIN_BYTES, block_size=COMPACT_BLOCK_SIZE
                ):
                    compactor.compact_file(
                        self._path,
                        threads=1,
                        memory_limit=self._memory_limit,
                        block_size=COMPACT_BLOCK_SIZE,
                        order_by=COMPACT_ORDER,
                    )
            except Exception:
                log.exception("compacting %s failed; it stays as it was", self._path)

    # --- the subscriber's state -----------------------------------------------------------------

    def cursor(self, name: str) -> int | None:
        """The last bus sequence whose points are committed (None: never committed)."""
        row = self.reader().execute("SELECT seq FROM cursors WHERE name = ?", [name]).fetchone()
        return None if row is None else int(row[0])

    def known_series(self) -> dict[tuple[str, str], set[str]]:
        """The label combinations each (metric, tenant) has in the finest tier (what its cap counts)."""
        out: dict[tuple[str, str], set[str]] = {}
        rows = (
            self.reader()
            .execute("SELECT metric, tenant, labels FROM series WHERE sid IN (SELECT sid FROM points WHERE tier = 0)")
            .fetchall()
        )
        for metric, tenant, labels in rows:
            if _is_other(labels):
                continue
            out.setdefault((metric, tenant), set()).add(labels)
        return out

    def done_until(self) -> list[int | None]:
        """Per tier, the epoch second below which it is rolled up (tier 0: None, always complete)."""
        found = dict(self.reader().execute("SELECT tier, done_until FROM rollup").fetchall())
        return [None, *(found.get(t) for t in range(1, len(TIERS)))]

    def commit(self, name: str, seq: int | None, merged: Merged, *, outbox_at: int | None = None) -> None:
        """One transaction: `merged`'s points and bins added to the finest tier (and to coarser tiers whose
        bucket is already rolled up) and the cursor `seq`; with `outbox_at` (epoch ms), their sums per series also
        go to the remote-write outbox, stamped with it.

        Series numbers come from a map kept in memory (read at open; only commits add series): no join of label
        text per commit; a new series' row is inserted in the same transaction and enters the map once it
        committed."""
        with self._write:
            new: list[tuple[int, str, str, str]] = []
            ids = np.empty(len(merged.keys), dtype=np.int32)
            following = self._next_sid
            for i, key in enumerate(merged.keys):
                sid = self._sids.get(key)
                if sid is None:
                    sid = following
                    following += 1
                    new.append((sid, *key))
                ids[i] = sid
            cur = self._con.cursor()
            late: tuple[int, int] | None = None
            try:
                cur.execute("BEGIN")
                if new:
                    rows = pa.table(
                        [pa.array(c, t) for c, t in zip(zip(*new, strict=True), _SERIES_TYPES, strict=True)],
                        names=["sid", "metric", "tenant", "labels"],
                    )
                    cur.register("__lw_new_series", rows)
                    cur.execute("INSERT INTO series SELECT * FROM __lw_new_series")
                if not merged.empty:
                    done = dict(cur.execute("SELECT tier, done_until FROM rollup").fetchall())
                    # Every tier's rows of this commit: the finest, and each coarser one already rolled up there.
                    coarser = [(t, TIERS[t].seconds, done[t]) for t in range(1, len(TIERS)) if done.get(t) is not None]
                    late = _late_span(merged.points, done.get(1))
                    _append(cur, "points", _with_coarser(_numbered(merged.points, ids), coarser))
                    _append(cur, "bins", _with_coarser(_numbered(merged.bins, ids), coarser))
                if outbox_at is not None and not merged.empty:
                    self._outbox(cur, self._commit_no + 1, outbox_at, merged)
                if seq is not None:
                    _set_cursor(cur, name, seq)
                cur.execute("COMMIT")
            except BaseException:
                _rollback(cur)
                raise
            finally:
                cur.close()
            if outbox_at is not None and not merged.empty:
                self._commit_no += 1
            if late is not None:  # rows below what the roll-up settled: settled at the next one
                low, high = late if self._late is None else (min(late[0], self._late[0]), max(late[1], self._late[1]))
                self._late = (low, high)
            for sid, metric, tenant, labels in new:
                self._sids[(metric, tenant, labels)] = sid
            self._next_sid = following

    @staticmethod
    def _outbox(cur: duckdb.DuckDBPyConnection, number: int, at: int, merged: Merged) -> None:
        """The commit's sums per series (and bin) into the remote-write outbox."""
        if merged.series:
            keys, n, total = zip(*merged.series, strict=True)
            metric, tenant, labels = zip(*keys, strict=True)
            cur.register(
                "__lw_outbox",
                pa.table({"metric": metric, "tenant": tenant, "labels": labels, "n": n, "total": total}),
            )
            cur.execute(
                "INSERT INTO outbox_points SELECT ?, ?, metric, tenant, labels, n, total FROM __lw_outbox", [number, at]
            )
        if merged.series_bins:
            keys, index, count = zip(*merged.series_bins, strict=True)
            metric, tenant, labels = zip(*keys, strict=True)
            table = pa.table(
                {"metric": metric, "tenant": tenant, "labels": labels, "bin": pa.array(index, pa.int16()), "n": count}
            )
            cur.register("__lw_outbox_bins", table)
            cur.execute(
                "INSERT INTO outbox_bins SELECT ?, metric, tenant, labels, bin, n FROM __lw_outbox_bins", [number]
            )

    # --- the remote-write outbox ------------------------------------------------------------------

    def outbox_chunk(self, max_rows: int | None = None) -> OutboxChunk | None:
        """What the outbox holds after its cursor (the oldest commits, about `max_rows` point rows at most), per
        series touched: the new totals (those pushed before plus the deltas), the latest commit's time, and the
        series' every distribution bin. None when the outbox is empty."""
        cur = self.reader()
        if max_rows is None:
            row = cur.execute("SELECT max(commit_no) FROM outbox_points").fetchall()[0]
        else:  # the commit where the running row count passes max_rows (at least one whole commit)
            row = cur.execute(
                "SELECT coalesce(max(commit_no) FILTER (WHERE before < ?), min(commit_no)) FROM "
                "(SELECT commit_no, sum(count(*)) OVER (ORDER BY commit_no) - count(*) AS before "
                "FROM outbox_points GROUP BY commit_no)",
                [max_rows],
            ).fetchall()[0]
        if row is None or row[0] is None:
            return None
        upto = int(row[0])
        series = cur.sql(
            "SELECT o.metric, o.tenant, o.labels, any_value(coalesce(r.n, 0)) + sum(o.n) AS n, "
            "any_value(coalesce(r.total, 0)) + sum(o.total) AS total, "
            "greatest(max(o.at_ms), any_value(r.at_ms) + 1) AS at_ms FROM outbox_points o "
            "LEFT JOIN remote_totals r USING (metric, tenant, labels) WHERE o.commit_no <= ? "
            "GROUP BY o.metric, o.tenant, o.labels",
            params=[upto],
        ).to_arrow_table()
        bins = cur.sql(
            "WITH delta AS (SELECT metric, tenant, labels, bin, n FROM outbox_bins WHERE commit_no <= ?) "
            "SELECT metric, tenant, labels, bin, sum(n)::BIGINT AS n FROM (SELECT * FROM delta UNION ALL "
            "SELECT r.metric, r.tenant, r.labels, r.bin, r.n FROM remote_bins r SEMI JOIN "
            "(SELECT DISTINCT metric, tenant, labels FROM delta) d USING (metric, tenant, labels)) GROUP BY ALL",
            params=[upto],
        ).to_arrow_table()
        return OutboxChunk(upto, series, bins)

    def outbox_rows(self) -> int:
        """Point rows waiting in the remote-write outbox."""
        row = self.reader().execute("SELECT count(*) FROM outbox_points").fetchall()[0]
        return 0 if row is None else int(row[0])

    def outbox_done(self, chunk: OutboxChunk) -> None:
        """One transaction: `chunk`'s totals become those pushed, its commits leave the outbox, the cursor moves."""
        with self._write:
            cur = self._con.cursor()
            try:
                cur.register("__lw_series", chunk.series)
                cur.register("__lw_series_bins", chunk.bins)
                cur.execute("BEGIN")
                cur.execute(
                    "INSERT OR REPLACE INTO remote_totals "
                    "SELECT metric, tenant, labels, n, total, at_ms FROM __lw_series"
                )
                if chunk.bins.num_rows:
                    cur.execute("INSERT OR REPLACE INTO remote_bins SELECT * FROM __lw_series_bins")
                cur.execute("DELETE FROM outbox_points WHERE commit_no <= ?", [chunk.upto])
                cur.execute("DELETE FROM outbox_bins WHERE commit_no <= ?", [chunk.upto])
                cur.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?)", [REMOTE_CURSOR, chunk.upto])
                cur.execute("COMMIT")
            except BaseException:
                _rollback(cur)
                raise
            finally:
                cur.close()

    def outbox_clear(self) -> None:
        """Empty the outbox (remote-write turned off: nothing will read it)."""
        with self._write:
            self._con.execute("DELETE FROM outbox_points")
            self._con.execute("DELETE FROM outbox_bins")

    # --- background work ----------------------------------------------------------------------------

    def rollup(self, now: datetime) -> int:
        """Roll every finished bucket of each coarser tier up from the finer one; the tiers advanced. Then settle
        what late lines appended below the settled range since the last time (one row per key again)."""
        advanced = 0
        for t in range(1, len(TIERS)):
            if self._rollup_tier(t, _epoch(now)):
                advanced += 1
        self._settle_late()
        return advanced

    def _settle_late(self) -> None:
        """Every tier's rows in the span of event time late lines touched (remembered in memory: after a restart
        they are merely left unsettled, which readers do not notice)."""
        with self._write:
            if self._late is None:
                return
            low, high = self._late
            cur = self._con.cursor()
            try:
                cur.execute("BEGIN")
                for t, tier in enumerate(TIERS):
                    _settle(cur, low - low % tier.seconds, high + 1, t)
                cur.execute("COMMIT")
                self._late = None
            except BaseException:
                _rollback(cur)
                raise
            finally:
                cur.close()

    def _rollup_tier(self, t: int, now: int) -> bool:
        w = TIERS[t].seconds
        source = t - 1
        with self._write:
            cur = self._con.cursor()
            try:
                cur.execute("BEGIN")
                done = dict(cur.execute("SELECT tier, done_until FROM rollup").fetchall())
                target = (now - ROLLUP_DELAY) // w * w
                if source > 0:
                    if done.get(source) is None:
                        cur.execute("ROLLBACK")
                        return False
                    target = min(target, done[source] // w * w)
                start = done.get(t)
                if start is None:
                    row = cur.execute("SELECT min(ts) FROM points WHERE tier = ?", [source]).fetchone()
                    start = target if row is None or row[0] is None else int(row[0]) // w * w
                if target <= start and done.get(t) is not None:
                    cur.execute("ROLLBACK")
                    return False
                if source == 0:
                    _settle(cur, start, target)
                # Replace the range wholesale: done twice (a crash before the commit), it gives the same rows.
                for table in ("points", "bins"):
                    cur.execute(f"DELETE FROM {table} WHERE tier = ? AND ts >= ? AND ts < ?", [t, start, target])
                cur.execute(
                    f"INSERT INTO points SELECT {t}, sid, ts - ts % {w} AS b, sum(n), sum(total), min(lo), max(hi) "
                    "FROM points WHERE tier = ? AND ts >= ? AND ts < ? GROUP BY ALL",
                    [source, start, target],
                )
                cur.execute(
                    f"INSERT INTO bins SELECT {t}, sid, ts - ts % {w} AS b, bin, sum(n) "
                    "FROM bins WHERE tier = ? AND ts >= ? AND ts < ? GROUP BY ALL",
                    [source, start, target],
                )
                cur.execute("INSERT OR REPLACE INTO rollup VALUES (?, ?)", [t, max(target, start)])
                cur.execute("COMMIT")
                return True
            except BaseException:
                _rollback(cur)
                raise
            finally:
                cur.close()

    def expire(self, now: datetime) -> int:
        """Delete each tier's points older than its retention; the points deleted."""
        deleted = 0
        at = _epoch(now)
        with self._write:
            cur = self._con.cursor()
            try:
                for t, keep in enumerate(self.retention):
                    row = cur.execute("DELETE FROM points WHERE tier = ? AND ts < ?", [t, at - keep]).fetchone()
                    deleted += int(row[0]) if row else 0
                    cur.execute("DELETE FROM bins WHERE tier = ? AND ts < ?", [t, at - keep])
            finally:
                cur.close()
        return deleted

    def checkpoint(self) -> bool:
        """Fold DuckDB's WAL into the file (after a roll-up or an expiry moved many rows); False, and nothing done,
        while another write transaction is open (a query's or a commit's): DuckDB refuses then, and a later
        roll-up or its own WAL threshold folds it."""
        with self._write:
            try:
                self._con.execute("CHECKPOINT")
            except duckdb.TransactionException as exc:
                log.debug("series store checkpoint put off: %s", str(exc).splitlines()[0])
                return False
        return True


def _settle(cur: duckdb.DuckDBPyConnection, start: int, end: int, tier: int = 0) -> None:
    """A tier's rows in [start, end) (a row per commit that touched a key) replaced by one row per key."""
    settled = {
        "points": "SELECT tier, sid, ts, sum(n), sum(total), min(lo), max(hi) FROM points",
        "bins": "SELECT tier, sid, ts, bin, sum(n)::BIGINT FROM bins",
    }
    for table, grouped in settled.items():
        where = f"WHERE tier = {int(tier)} AND ts >= ? AND ts < ?"
        cur.execute(f"CREATE OR REPLACE TEMP TABLE __lw_settled AS {grouped} {where} GROUP BY ALL", [start, end])
        cur.execute(f"DELETE FROM {table} {where}", [start, end])
        cur.execute(f"INSERT INTO {table} SELECT * FROM __lw_settled")
        cur.execute("DROP TABLE __lw_settled")


def _migrate_labelled_points(con: duckdb.DuckDBPyConnection) -> None:
    """A file of the first layout (points and bins keyed by their labels) moved to numbered series, once."""
    columns = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'points'"
        ).fetchall()
    }
    if "labels" not in columns:
        return
    con.execute("BEGIN")
    try:
        con.execute("ALTER TABLE points RENAME TO points_v1")
        con.execute("ALTER TABLE bins RENAME TO bins_v1")
        for statement in _SCHEMA[:3]:
            con.execute(statement)
        con.execute(
            "INSERT INTO series SELECT row_number() OVER (ORDER BY metric, tenant, labels), * FROM "
            "(SELECT DISTINCT metric, tenant, labels FROM points_v1 UNION SELECT DISTINCT metric, tenant, labels "
            "FROM bins_v1)"
        )
        con.execute(
            "INSERT INTO points SELECT p.tier, s.sid, p.ts, p.n, p.total, p.lo, p.hi FROM points_v1 p "
            "JOIN series s USING (metric, tenant, labels)"
        )
        con.execute(
            "INSERT INTO bins SELECT b.tier, s.sid, b.ts, b.bin, b.n FROM bins_v1 b "
            "JOIN series s USING (metric, tenant, labels)"
        )
        con.execute("DROP TABLE points_v1")
        con.execute("DROP TABLE bins_v1")
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise


def _is_other(labels: str) -> bool:
    return labels != "{}" and all(v == OTHER for v in _values(labels))


def _values(labels: str) -> list[str]:
    return [str(v) for v in orjson.loads(labels).values()]


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # nothing was begun, or DuckDB rolled back already
        cur.execute("ROLLBACK")
