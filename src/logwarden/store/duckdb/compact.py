"""Compaction of the hot store's DuckDB file: a fresh copy without free blocks, swapped in by one rename.

DuckDB never gives freed blocks back to the filesystem (it reuses them for later writes, but neither
`CHECKPOINT` nor `VACUUM` moves live blocks or truncates the file): after a day of ingest and a clean
stop about a third of `hot.duckdb` is free blocks, left by checkpoints rewriting the partial row groups
that every apply extends. Compaction copies every table into a new file next to it (`hot.duckdb.compact`),
table by table in rowid order, and replaces the old file with `os.replace` — after a clean close
(`compact_file`), or on the running server in two phases: `copy_snapshot` copies every day partition as one
read snapshot sees it while the applier goes on; `finish_live`, on the applier thread (the only writer),
appends the rows committed since and copies the small bookkeeping tables; then `swap_in` runs while
`SwapGate` holds reads off for the close, rename and reopen:

- **crash-safe**: until the rename the old file is untouched and complete (it was checkpointed, has no
  WAL, and nothing writes to it during the copy); the new file is checkpointed, closed and fsynced
  before the rename, and the directory after it. A kill at any point leaves either the old file or the
  new one, both whole; a leftover `hot.duckdb.compact` is deleted at the next open (`remove_leftovers`).
- **compressed**: day partitions are created with `USING COMPRESSION zstd` on `message` (and `log_id` in
  tables made before log ids were split, log_ids.py) (`partitions.ZSTD_COLUMNS`): about 40% fewer bytes for
  the message text than DuckDB's default dictionary/FSST choice. New partitions are created that way
  (`partitions.create_table_sql`); the copy gives it to partitions created before. The generated `log_id`
  column is not copied (`log_ids.copy_list`): its parts are.
- **same rowids**: rows are copied in rowid order with `preserve_insertion_order`, because the token
  index (`tokens.py`) addresses blocks of rowids. (A caller may order other tables otherwise, and give the
  copy smaller blocks: the log metrics' series file, logmetrics/store.py. Day partitions ordered by stream —
  service, host, ts — came out 15% larger on bench/peers.py's data, so they keep arrival order.) Every
  partition is checked after the copy (a hash of rowid, seq and log_id over all rows); a partition that does
  not match loses its token filters in the copy, so they are rebuilt at the next start instead of pointing
  at the wrong rows.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb

from logwarden.duckdb_settings import OFFLINE
from logwarden.store.duckdb import log_ids
from logwarden.store.duckdb.partitions import TABLE_PREFIX, ZSTD_COLUMNS, quote_ident
from logwarden.store.duckdb.tokens import BLOOM_TABLE, COVERAGE_TABLE
from logwarden.store.sql_quote import quote_literal
from logwarden.store.wal import fsync_dir

log = logging.getLogger(__name__)

COMPACT_SUFFIX = ".compact"
# A copy outlasts DuckDB's 2 s wait before it draws a progress bar on stdout: into the server's output (a session
# setting, so every connection a copy runs on sets it).
_NO_PROGRESS_BAR = "SET enable_progress_bar = false"
# Share of those columns' bytes zstd saves over DuckDB's dictionary/FSST (41% on messages, 51% on log ids).
ZSTD_GAIN = 0.43
# Compact when the copy would be at least this share smaller (free blocks plus the zstd estimate).
MIN_GAIN_RATIO = 0.15
# DuckDB memory of a closed-file compaction (at most the store's memory_limit). Measured on the 1M-line peers data
# (bench/peers.py), peak above the process's start: 512 MiB 520-570 MB in ~7 s, 256 MiB ~310 MB in ~9 s, 128 MiB
# ~185 MB in 10-16 s (the ORDER BY rowid sort spills). Without the sort the copy is left with ~35% free blocks.
COPY_MEMORY_LIMIT = 256 * 1024**2
_SRC = "_compact_src"
_DST = "_compact_dst"


@dataclass(frozen=True, slots=True)
class CompactionReport:
    """What one compaction did: the file size before and after, how long it took, and the tables copied."""

    bytes_before: int
    bytes_after: int
    seconds: float
    tables: int
    reindexed: tuple[str, ...] = ()  # partitions whose token filters are rebuilt at the next start
    blocked_seconds: float = 0.0  # how long reads waited (the swap on a running server)
    applier_seconds: float = 0.0  # how long the applier waited (catch-up, checkpoint and swap; running server)


class SwapGate:
    """Reads share the database; a swap takes it alone (writer first: a waiting swap holds new reads back)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._swapping = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._swapping)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._swapping)
            self._swapping = True
            self._cond.wait_for(lambda: self._readers == 0)
        try:
            yield
        finally:
            with self._cond:
                self._swapping = False
                self._cond.notify_all()


def compact_path(path: Path) -> Path:
    return path.with_name(path.name + COMPACT_SUFFIX)


def wal_path(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def remove_leftovers(path: Path) -> None:
    """Delete a half-written copy left by a compaction that was killed before its rename."""
    tmp = compact_path(path)
    for leftover in (tmp, wal_path(tmp)):
        if leftover.exists():
            log.warning("removing %s left by an interrupted compaction", leftover)
            leftover.unlink()


def gain_ratio(con: duckdb.DuckDBPyConnection) -> float:
    """Share of the connection's database file a compaction would save: its free blocks, plus the estimated
    zstd gain on partitions created without it."""
    _block_size, total, free = (
        int(v)
        for v in con.sql(
            "SELECT block_size, total_blocks, free_blocks FROM pragma_database_size() "
            "WHERE database_name = current_database()"
        ).fetchall()[0]
    )
    if not total:
        return 0.0
    plain_blocks = 0
    for name, sql in _tables(con, None):
        if name.startswith(TABLE_PREFIX) and _zstd_ddl(sql) != sql:
            listed = ", ".join(f"'{c}'" for c in ZSTD_COLUMNS)
            plain_blocks += int(
                con.sql(
                    f"SELECT count(DISTINCT block_id) FROM pragma_storage_info({quote_literal(name)}) "
                    f"WHERE column_name IN ({listed}) AND block_id >= 0"
                ).fetchall()[0][0]
            )
    return (free + ZSTD_GAIN * plain_blocks) / total


def needs_compaction(
    path: Path, *, min_gain: float = MIN_GAIN_RATIO, min_bytes: int = 0, block_size: int | None = None
) -> bool:
    """Whether a closed, checkpointed DuckDB file would shrink enough to be worth a copy (or, given `block_size`,
    has blocks of another size: the copy gives it that size)."""
    if not path.exists() or wal_path(path).exists() or path.stat().st_size < min_bytes:
        return False
    con = duckdb.connect(str(path), read_only=True, config=OFFLINE)
    try:
        return (block_size is not None and _file_block_size(con) != block_size) or gain_ratio(con) >= min_gain
    finally:
        con.close()


def _file_block_size(con: duckdb.DuckDBPyConnection) -> int:
    sql = "SELECT block_size FROM pragma_database_size() WHERE database_name = current_database()"
    return int(con.sql(sql).fetchall()[0][0])


def compact_file(
    path: Path,
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
    before_swap: Callable[[], None] | None = None,
    block_size: int | None = None,
    order_by: Mapping[str, str] | None = None,
) -> CompactionReport:
    """Rewrite the closed DuckDB file at `path` into a fresh file and swap it in (see the module doc).

    The database must be closed by every process and checkpointed (no `.wal` next to it): its WAL would
    otherwise be replayed onto the new file. `before_swap` runs after the copy is durable and before the
    rename (a test's failpoint). `block_size` gives the new file blocks of that size (DuckDB's default:
    256 KiB); `order_by` maps tables other than day partitions (whose rowids the token index needs) to the
    ORDER BY of their copy (default: rowid).
    """
    started = time.perf_counter()
    if wal_path(path).exists():
        raise RuntimeError(f"{path} has a WAL: checkpoint and close it before compacting")
    remove_leftovers(path)
    tmp = compact_path(path)
    before = path.stat().st_size
    settings: dict[str, str | bool | int | float | list[str]] = {"preserve_insertion_order": True, **OFFLINE}
    if threads:
        settings["threads"] = threads
    if block_size:
        settings["default_block_size"] = block_size
    settings["memory_limit"] = memory_limit or f"{COPY_MEMORY_LIMIT}B"
    con = duckdb.connect(str(tmp), config=settings)
    try:
        con.execute(_NO_PROGRESS_BAR)
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"ATTACH {quote_literal(str(path))} AS {_SRC} (READ_ONLY)")
        dst = str(con.sql("SELECT current_database()").fetchall()[0][0])
        tables, reindexed = copy_tables(con, _SRC, dst, order_by)
        con.execute(f"DETACH {_SRC}")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    _sync(tmp)
    if before_swap is not None:
        before_swap()
    swap_in(path)
    return make_report(path, before, started, tables, reindexed)


@dataclass(frozen=True, slots=True)
class SnapshotCopy:
    """Phase one of a live compaction: each partition's CREATE statement and the rows copied from it."""

    partitions: dict[str, tuple[str, int]]
    reindexed: tuple[str, ...]


def copy_snapshot(cur: duckdb.DuckDBPyConnection, path: Path) -> SnapshotCopy:
    """Live phase one, beside the applier: copy every partition, as one snapshot sees it, into path.compact.

    Partitions only grow (rows are appended; retention and archiving drop whole tables), so phase two
    (`finish_live`) need only append the rows committed since and copy the small bookkeeping tables.
    """
    remove_leftovers(path)
    cur.execute(_NO_PROGRESS_BAR)
    src = str(cur.sql("SELECT current_database()").fetchall()[0][0])
    cur.execute(f"ATTACH {quote_literal(str(compact_path(path)))} AS {_DST}")
    try:
        parts: dict[str, tuple[str, int]] = {}
        cur.execute("BEGIN TRANSACTION")
        for name, sql in _tables(cur, src):
            if name.startswith(TABLE_PREFIX):
                rows = int(cur.sql(f"SELECT count(*) FROM {src}.main.{quote_ident(name)}").fetchall()[0][0])
                _copy_table(cur, src, _DST, name, sql)
                parts[name] = (sql, rows)
        cur.execute("COMMIT")  # no CHECKPOINT here: it waits for the applier's write transactions (phase two has it)
        moved = tuple(name for name in parts if not _same_rows(cur, src, _DST, name, hi=parts[name][1]))
        return SnapshotCopy(parts, moved)
    except BaseException:
        _abandon(cur, path)
        raise


def finish_live(con: duckdb.DuckDBPyConnection, path: Path, snapshot: SnapshotCopy) -> tuple[int, tuple[str, ...]]:
    """Live phase two, on the applier thread (nothing else writes): checkpoint the database, bring the copy up
    to date and make it durable, ready for `swap_in` once the database is closed. Returns (tables, reindexed)."""
    try:
        con.execute(_NO_PROGRESS_BAR)
        # Most of the WAL into the file now, while reads go on; closing the database checkpoints the rest.
        _try_checkpoint(con)
        src = str(con.sql("SELECT current_database()").fetchall()[0][0])
        tables = _tables(con, src)
        present = {name for name, _ in tables}
        for name in snapshot.partitions.keys() - present:
            con.execute(f"DROP TABLE {_DST}.main.{quote_ident(name)}")
        reindexed = set(snapshot.reindexed) & present
        for name, sql in tables:
            copied = snapshot.partitions.get(name)
            quoted = quote_ident(name)
            now = int(con.sql(f"SELECT count(*) FROM {src}.main.{quoted}").fetchall()[0][0])
            if copied is not None and copied[0] == sql and now >= copied[1]:
                rows = copied[1]
                cols = log_ids.copy_list(con, name, src)  # not the generated log_id
                appended = f"SELECT {cols} FROM {src}.main.{quoted} WHERE rowid >= ? ORDER BY rowid"
                con.execute(f"INSERT INTO {_DST}.main.{quoted} ({cols}) {appended}", [rows])
                if not _same_rows(con, src, _DST, name, lo=rows):
                    reindexed.add(name)
                continue
            # New since the snapshot, changed (columns added), or a bookkeeping table: copied whole now.
            con.execute(f"DROP TABLE IF EXISTS {_DST}.main.{quoted}")
            _copy_table(con, src, _DST, name, sql)
            if name.startswith(TABLE_PREFIX) and not _same_rows(con, src, _DST, name):
                reindexed.add(name)
        _forget_filters(con, _DST, sorted(reindexed))
        con.execute(f"DETACH {_DST}")  # checkpoints the copy; `swap_in` refuses it if a WAL remained
    except BaseException:
        _abandon(con, path)
        raise
    _sync(compact_path(path))
    return len(tables), tuple(sorted(reindexed))


def _try_checkpoint(con: duckdb.DuckDBPyConnection) -> None:
    """CHECKPOINT, unless another connection is inside a write transaction (then the close does it)."""
    try:
        con.execute("CHECKPOINT")
    except duckdb.TransactionException as exc:
        log.info("checkpoint before compaction skipped: %s", exc)


def _abandon(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Give up a live copy: roll back, detach and delete it (the database itself was never touched)."""
    for statement in ("ROLLBACK", f"DETACH DATABASE IF EXISTS {_DST}"):
        with suppress(duckdb.Error):
            con.execute(statement)
    remove_leftovers(path)


def swap_in(path: Path) -> None:
    """Replace the closed database at `path` by its finished copy (one rename; both files are whole)."""
    tmp = compact_path(path)
    try:
        # A connection of this process still open would keep writing to the old file once it is renamed
        # over: a read-only open of a database open read-write here fails, so this finds one.
        duckdb.connect(str(path), read_only=True, config=OFFLINE).close()
    except duckdb.ConnectionException as exc:
        remove_leftovers(path)
        raise RuntimeError(f"{path} is still open in this process: not swapping") from exc
    if wal_path(path).exists() or wal_path(tmp).exists():
        # A WAL left beside the new file would be replayed onto it: keep the old file.
        remove_leftovers(path)
        raise RuntimeError(f"{path} or its copy has a WAL after checkpoint: not swapping")
    os.replace(tmp, path)
    fsync_dir(path.parent)


def copy_tables(
    con: duckdb.DuckDBPyConnection, src: str, dst: str, order_by: Mapping[str, str] | None = None
) -> tuple[int, tuple[str, ...]]:
    """Create every table of database `src` in `dst` (partitions with zstd columns) and copy its rows in
    rowid order (a table named in `order_by`, not a partition: in that order); returns (tables copied,
    partitions whose rows did not keep their rowids — their token filters are dropped in `dst`)."""
    order_by = order_by or {}
    tables = _tables(con, src)
    for name, sql in tables:
        partition = name.startswith(TABLE_PREFIX)
        _copy_table(con, src, dst, name, sql, "rowid" if partition else order_by.get(name, "rowid"))
    reindexed = tuple(
        name for name, _ in tables if name.startswith(TABLE_PREFIX) and not _same_rows(con, src, dst, name)
    )
    _forget_filters(con, dst, reindexed)
    return len(tables), reindexed


def _copy_table(con: duckdb.DuckDBPyConnection, src: str, dst: str, name: str, sql: str, order: str = "rowid") -> None:
    """Create `name` in `dst` as `sql` says (zstd columns for a partition) and copy its rows in `order`."""
    ddl = _zstd_ddl(sql) if name.startswith(TABLE_PREFIX) else sql
    con.execute(ddl.replace("CREATE TABLE ", f"CREATE TABLE {dst}.main.", 1))
    quoted = quote_ident(name)
    # ORDER BY rowid even with preserve_insertion_order: without it DuckDB's parallel insert leaves ~35% of the
    # new file as free blocks (measured on DuckDB 2.0 with the applier's small row groups).
    cols = log_ids.copy_list(con, name, src)  # not the generated log_id
    con.execute(f"INSERT INTO {dst}.main.{quoted} ({cols}) SELECT {cols} FROM {src}.main.{quoted} ORDER BY {order}")


def _forget_filters(con: duckdb.DuckDBPyConnection, dst: str, names: Sequence[str]) -> None:
    """Drop the token filters of partitions whose rows moved in the copy (rebuilt at the next start)."""
    for name in names:
        log.warning("compaction changed the row order of %s: its token filters are rebuilt at start", name)
        for table in (BLOOM_TABLE, COVERAGE_TABLE):
            con.execute(f"DELETE FROM {dst}.main.{table} WHERE tbl = ?", [name])


def make_report(
    path: Path,
    before: int,
    started: float,
    tables: int,
    reindexed: tuple[str, ...],
    blocked: float = 0.0,
    applier: float = 0.0,
) -> CompactionReport:
    """Log and return what a compaction of `path` that began at perf_counter() `started` did."""
    report = CompactionReport(
        before, path.stat().st_size, time.perf_counter() - started, tables, reindexed, blocked, applier
    )
    log.info(
        "compacted %s: %.1f MB → %.1f MB in %.1f s (applier held %.2f s, reads held %.3f s)",
        path,
        report.bytes_before / 1e6,
        report.bytes_after / 1e6,
        report.seconds,
        report.applier_seconds,
        report.blocked_seconds,
    )
    return report


def _sync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _tables(con: duckdb.DuckDBPyConnection, database: str | None) -> list[tuple[str, str]]:
    """(name, CREATE statement) of every user table in the main schema of `database` (default: the current)."""
    rows = con.sql(
        "SELECT table_name, sql FROM duckdb_tables() WHERE database_name = coalesce($db, current_database()) "
        "AND schema_name = 'main' AND NOT internal ORDER BY table_name",
        params={"db": database},
    ).fetchall()
    return [(str(name), str(sql)) for name, sql in rows]


def _zstd_ddl(sql: str) -> str:
    """A partition's CREATE TABLE with zstd on the ZSTD_COLUMNS (unchanged if they already say how)."""
    for column in ZSTD_COLUMNS:
        sql = re.sub(
            rf'(\(|, )("?){column}\2 VARCHAR(?! USING| GENERATED)',
            rf"\1\2{column}\2 VARCHAR USING COMPRESSION zstd",
            sql,
        )
    return sql


def _same_rows(
    con: duckdb.DuckDBPyConnection, src: str, dst: str, name: str, lo: int = 0, hi: int | None = None
) -> bool:
    """Whether the copy of `name` has its rows with rowid in [lo, hi) at the rowids they have in the source
    (what the token index needs)."""
    bound = "" if hi is None else f" AND rowid < {int(hi)}"
    fingerprint = "SELECT count(*), coalesce(sum(hash(rowid, seq, log_id)), 0) FROM {}.main.{} WHERE rowid >= {}{}"
    before = con.sql(fingerprint.format(src, quote_ident(name), int(lo), bound)).fetchall()[0]
    after = con.sql(fingerprint.format(dst, quote_ident(name), int(lo), bound)).fetchall()[0]
    return bool(before == after)
