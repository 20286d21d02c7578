"""Where series live: a DuckDB file of their own (`<data_dir>/logmetrics/series.duckdb`), in four tiers.

Why a file of its own rather than the log store or the metadata database: the log store's DuckDB has one
writer thread busy with ingest, and the metadata database is row-oriented SQLite/PostgreSQL; series are
small columnar rows read by range and rolled up in bulk — DuckDB's strength — and keeping them apart means a
roll-up never waits on ingest nor ingest on a roll-up. The subscriber's bus cursor is committed in the same
transaction as the points it covers, so a crash loses and doubles nothing (the bus replays after the cursor).

**Tiers.** Points are written at 10 s (tier 0); a background roll-up replaces each finished 1 m, 5 m and 1 h
bucket of the tier above by the merge of the finer tier's (counts and sums add, min and max combine, distribution
bins add), and records how far it got (`rollup.done_until`) in the same transaction: a roll-up interrupted
anywhere leaves the previous state and is simply done again. A late line for a bucket that is already rolled
up is added to the coarser tiers directly, with its commit. Each tier keeps its own retention.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from logwarden.logmetrics.aggregate import OTHER

DIR = "logmetrics"
FILE = "series.duckdb"


@dataclass(frozen=True, slots=True)
class Tier:
    """One resolution: its name (as `/query_range` reports it) and its width in seconds."""

    name: str
    seconds: int


TIERS = (Tier("10s", 10), Tier("1m", 60), Tier("5m", 300), Tier("1h", 3600))
ROLLUP_DELAY = 60  # seconds after its end (by the clock) before a bucket is rolled up: most late lines are in

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS points (tier UTINYINT, metric VARCHAR, tenant VARCHAR, labels VARCHAR, ts BIGINT, "
    "n DOUBLE, total DOUBLE, lo DOUBLE, hi DOUBLE, PRIMARY KEY (tier, metric, tenant, labels, ts))",
    "CREATE TABLE IF NOT EXISTS bins (tier UTINYINT, metric VARCHAR, tenant VARCHAR, labels VARCHAR, ts BIGINT, "
    "bin SMALLINT, n BIGINT, PRIMARY KEY (tier, metric, tenant, labels, ts, bin))",
    "CREATE TABLE IF NOT EXISTS cursors (name VARCHAR PRIMARY KEY, seq BIGINT)",
    "CREATE TABLE IF NOT EXISTS rollup (tier UTINYINT PRIMARY KEY, done_until BIGINT)",
)
_POINT_MERGE = (
    "ON CONFLICT DO UPDATE SET n = n + EXCLUDED.n, total = total + EXCLUDED.total, lo = least(lo, EXCLUDED.lo), "
    "hi = greatest(hi, EXCLUDED.hi)"
)
_BIN_MERGE = "ON CONFLICT DO UPDATE SET n = n + EXCLUDED.n"


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


class SeriesStore:
    """The tiered series of every log metric, and the subscriber's cursor. Writes are serialized (`_write`);
    reads run on cursors of their own, concurrently with them."""

    def __init__(self, path: Path, retention: Sequence[timedelta], *, memory_limit: str = "256MB") -> None:
        if len(retention) != len(TIERS):
            raise ValueError(f"one retention per tier ({len(TIERS)})")
        self.retention = [int(r.total_seconds()) for r in retention]
        path.parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(str(path), config={"threads": 1, "memory_limit": memory_limit})
        self._con.execute("SET TimeZone = 'UTC'")
        self._write = threading.Lock()
        self._local = threading.local()
        for statement in _SCHEMA:
            self._con.execute(statement)

    @classmethod
    def under(cls, data_dir: Path, retention: Sequence[timedelta]) -> SeriesStore:
        """The store of a server's data directory."""
        return cls(data_dir / DIR / FILE, retention)

    def reader(self) -> duckdb.DuckDBPyConnection:
        """This thread's read cursor."""
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cur", None)
        if cur is None:
            cur = self._local.cur = self._con.cursor()
        return cur

    def close(self) -> None:
        with self._write:
            self._con.close()

    # --- the subscriber's state -----------------------------------------------------------------

    def cursor(self, name: str) -> int | None:
        """The last bus sequence whose points are committed (None: never committed)."""
        row = self.reader().execute("SELECT seq FROM cursors WHERE name = ?", [name]).fetchone()
        return None if row is None else int(row[0])

    def known_series(self) -> dict[tuple[str, str], set[str]]:
        """The label combinations each (metric, tenant) has in the finest tier (what its cap counts)."""
        out: dict[tuple[str, str], set[str]] = {}
        rows = self.reader().execute("SELECT DISTINCT metric, tenant, labels FROM points WHERE tier = 0").fetchall()
        for metric, tenant, labels in rows:
            if _is_other(labels):
                continue
            out.setdefault((metric, tenant), set()).add(labels)
        return out

    def done_until(self) -> list[int | None]:
        """Per tier, the epoch second below which it is rolled up (tier 0: None, always complete)."""
        found = dict(self.reader().execute("SELECT tier, done_until FROM rollup").fetchall())
        return [None, *(found.get(t) for t in range(1, len(TIERS)))]

    def commit(self, name: str, seq: int | None, points: pa.Table, bins: pa.Table) -> None:
        """One transaction: points and bins (one row per key: `Pending.merged`) added to the finest tier (and to
        coarser tiers whose bucket is already rolled up) and the cursor `seq`."""
        with self._write:
            cur = self._con.cursor()
            try:
                cur.register("__lw_points", points)
                cur.register("__lw_bins", bins)
                cur.execute("BEGIN")
                done = dict(cur.execute("SELECT tier, done_until FROM rollup").fetchall())
                if points.num_rows:
                    cur.execute(f"INSERT INTO points SELECT 0, * FROM __lw_points {_POINT_MERGE}")
                if bins.num_rows:
                    cur.execute(f"INSERT INTO bins SELECT 0, * FROM __lw_bins {_BIN_MERGE}")
                for t, tier in enumerate(TIERS[1:], start=1):
                    until = done.get(t)
                    if until is None:
                        continue
                    w = tier.seconds
                    cur.execute(
                        f"INSERT INTO points SELECT {t}, metric, tenant, labels, ts - ts % {w} AS b, sum(n), "
                        f"sum(total), min(lo), max(hi) FROM __lw_points WHERE ts - ts % {w} < ? GROUP BY ALL "
                        f"{_POINT_MERGE}",
                        [until],
                    )
                    cur.execute(
                        f"INSERT INTO bins SELECT {t}, metric, tenant, labels, ts - ts % {w} AS b, bin, sum(n) "
                        f"FROM __lw_bins WHERE ts - ts % {w} < ? GROUP BY ALL {_BIN_MERGE}",
                        [until],
                    )
                if seq is not None:
                    cur.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?)", [name, seq])
                cur.execute("COMMIT")
            except BaseException:
                _rollback(cur)
                raise
            finally:
                cur.close()

    # --- background work ----------------------------------------------------------------------------

    def rollup(self, now: datetime) -> int:
        """Roll every finished bucket of each coarser tier up from the finer one; the tiers advanced."""
        advanced = 0
        for t in range(1, len(TIERS)):
            if self._rollup_tier(t, _epoch(now)):
                advanced += 1
        return advanced

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
                # Replace the range wholesale: done twice (a crash before the commit), it gives the same rows.
                for table in ("points", "bins"):
                    cur.execute(f"DELETE FROM {table} WHERE tier = ? AND ts >= ? AND ts < ?", [t, start, target])
                cur.execute(
                    f"INSERT INTO points SELECT {t}, metric, tenant, labels, ts - ts % {w} AS b, sum(n), sum(total), "
                    "min(lo), max(hi) FROM points WHERE tier = ? AND ts >= ? AND ts < ? GROUP BY ALL",
                    [source, start, target],
                )
                cur.execute(
                    f"INSERT INTO bins SELECT {t}, metric, tenant, labels, ts - ts % {w} AS b, bin, sum(n) "
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

    def checkpoint(self) -> None:
        """Fold DuckDB's WAL into the file (after a roll-up or an expiry moved many rows)."""
        with self._write:
            self._con.execute("CHECKPOINT")


def _is_other(labels: str) -> bool:
    return labels != "{}" and all(v == OTHER for v in _values(labels))


def _values(labels: str) -> list[str]:
    return [str(v) for v in orjson.loads(labels).values()]


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # nothing was begun, or DuckDB rolled back already
        cur.execute("ROLLBACK")
