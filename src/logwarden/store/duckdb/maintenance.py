"""Retention, archiving, compaction and the clean stop of the embedded store (DuckDBStore's maintenance half).

`StoreMaintenance` is a base class of `DuckDBStore` (store.py): the write and read paths live there, what
changes the set of partitions and files or closes them lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa

from logwarden.config.model import Config
from logwarden.memory import duckdb_memory, release_unused
from logwarden.store.archive import ParquetArchive
from logwarden.store.base import LogConsumers, MaintenanceReport, PartitionKey, StoreClosedError
from logwarden.store.dedup import HWM_TABLE, StreamDedup
from logwarden.store.duckdb import archive_index, catalog, compact, typed
from logwarden.store.duckdb import tokens as tokens_index
from logwarden.store.duckdb.applier import Applier, read_applied_seq
from logwarden.store.duckdb.compact import CompactionReport
from logwarden.store.duckdb.partitions import quote_ident, table_name
from logwarden.store.duckdb.search import SELECT_COLUMNS
from logwarden.store.log_writer import LogWriter
from logwarden.store.wal import IngestLog

log = logging.getLogger(__name__)
T = TypeVar("T")

# Buffer pool of the checkpoint at a clean stop (bench/peers.py, 2M lines: peak ~+250 MB at 512 MiB, ~+0 at 128 MiB).
CLOSE_CHECKPOINT_MEMORY_LIMIT = 128 * 1024**2


class StoreMaintenance:
    """Archiving and dropping day partitions, compacting hot.duckdb, and closing: DuckDBStore's second half."""

    # Compaction (compact.py) of hot.duckdb from compact_min_bytes on, when a copy would save at least
    # compact_min_gain of the file at a clean stop (up to compact_max_bytes: the copy takes ~2 s per 100 MB and a
    # stop must stay within a service manager's timeout), compact_live_min_gain on a running server (up to
    # compact_live_max_bytes: the applier waits for the catch-up and each round copies the whole file).
    compact_min_bytes = 32 * 1024**2
    compact_min_gain = compact.MIN_GAIN_RATIO
    compact_live_min_gain = 0.25
    compact_max_bytes = 2 * 1024**3
    compact_live_max_bytes = 1024**3

    # Set by DuckDBStore.__init__ (store.py).
    _config: Config
    path: Path
    archive: ParquetArchive
    ingest_log: IngestLog
    consumers: LogConsumers | None
    _gate: compact.SwapGate
    _maintaining: asyncio.Lock
    _db: duckdb.DuckDBPyConnection
    _applier_con: duckdb.DuckDBPyConnection
    _applier: Applier
    _catalog: catalog.CatalogCache
    _readers: ThreadPoolExecutor
    _dedup: StreamDedup
    _log_writer: LogWriter
    _lock: threading.Lock
    _closed: bool

    # DuckDBStore's methods this half calls.
    def _connect(self) -> duckdb.DuckDBPyConnection:
        raise NotImplementedError

    def _consumers_floor(self) -> int | None:
        raise NotImplementedError

    def partitions(self) -> tuple[list[PartitionKey], list[PartitionKey]]:
        raise NotImplementedError

    async def flush(self) -> None:
        raise NotImplementedError

    async def maintain(self, now: datetime | None = None) -> MaintenanceReport:
        """Archive and drop whole day partitions according to retention and archive settings, then compact
        hot.duckdb when enough of it is free blocks (one maintenance at a time)."""
        async with self._maintaining:
            report = await self._maintain_partitions(now)
            try:
                await self.compact_hot()
            except StoreClosedError:
                raise
            except Exception:
                # The old file stays in place until the rename: the store is only larger than it could be.
                log.exception("compacting %s failed; it stays as it was", self.path)
            return report

    async def compact_hot(self, *, force: bool = False) -> CompactionReport | None:
        """Rewrite hot.duckdb without its free blocks while serving (compact.py), if it is worth it or `force`.

        A read snapshot is copied beside the applier; the applier thread then appends what it committed
        since (ingest is acknowledged meanwhile, into the ingest log and memory); reads wait only for the
        close, rename and reopen.
        """
        size = self.path.stat().st_size
        if not force and not self.compact_min_bytes <= size <= self.compact_live_max_bytes:
            return None
        loop = asyncio.get_running_loop()
        if not force and await loop.run_in_executor(self._readers, self._with_cursor, compact.gain_ratio) < (
            self.compact_live_min_gain
        ):
            return None
        started = time.perf_counter()
        snapshot = await loop.run_in_executor(
            self._readers, self._with_cursor, functools.partial(compact.copy_snapshot, path=self.path)
        )
        finish = functools.partial(self._finish_compaction, snapshot=snapshot, started=started, before=size)
        return await asyncio.wrap_future(self._applier.run(finish))

    def _with_cursor(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        with self._gate.shared():
            cur = self._db.cursor()
            try:
                return fn(cur)
            finally:
                cur.close()

    def _finish_compaction(
        self, con: duckdb.DuckDBPyConnection, *, snapshot: compact.SnapshotCopy, started: float, before: int
    ) -> CompactionReport:
        """Applier thread: bring the copy up to date, then swap it in while reads wait."""
        applier_from = time.perf_counter()
        tables, reindexed = compact.finish_live(con, self.path, snapshot)
        with self._gate.exclusive(), self._catalog.changing():
            held = time.perf_counter()
            self._applier_con.close()
            self._db.close()
            try:
                compact.swap_in(self.path)
            finally:
                # Reopened whatever happened: the new file after the rename, else the old one untouched.
                self._db = self._connect()
                self._applier_con = self._db.cursor()
                self._applier._con = self._applier_con  # the applier's next apply or task uses the new file
            held = time.perf_counter() - held
        applier_held = time.perf_counter() - applier_from
        return compact.make_report(self.path, before, started, tables, reindexed, held, applier_held)

    async def _maintain_partitions(self, now: datetime | None) -> MaintenanceReport:
        now = (now or datetime.now(UTC)).astimezone(UTC)
        cfg = self._config
        await self.flush()
        hot, archived = self.partitions()
        report = MaintenanceReport([], [], [])
        loop = asyncio.get_running_loop()
        for key in hot:
            if key.day < _cutoff(now, cfg.retention_days_for(key.tenant, key.retention_class)):
                await asyncio.wrap_future(self._applier.run(functools.partial(self._drop_hot, key=key)))
                report.dropped_hot.append(key)
            elif (
                cfg.archive.enabled
                and key.day < _cutoff(now, cfg.archive_after_days_for(key.tenant))
                and await loop.run_in_executor(self._readers, self._archive_partition, key)
            ):
                report.archived.append(key)
        for key in archived:
            if key.day < _cutoff(now, cfg.retention_days_for(key.tenant, key.retention_class)):
                await loop.run_in_executor(self._readers, self._drop_archived, key)
                report.dropped_archive.append(key)
        # Streams silent for longer than any retention cannot be re-sent into stored data any more.
        longest = max(
            [
                cfg.store.retention_days,
                *(t.retention_days or 0 for t in cfg.store.tenants.values()),
                *cfg.store.retention_classes.values(),
            ]
        )
        horizon = now - timedelta(days=longest)
        await asyncio.wrap_future(
            self._applier.run(lambda con: con.execute(f"DELETE FROM {HWM_TABLE} WHERE updated < ?", [horizon]))
        )
        self._dedup.prune(horizon)
        return report

    def _drop_hot(self, con: duckdb.DuckDBPyConnection, *, key: PartitionKey) -> None:
        name = table_name(key)
        with self._catalog.changing():
            con.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")
        tokens_index.forget(con, name)
        self._applier.forget_table(name)

    def _drop_archived(self, key: PartitionKey) -> None:
        def forget(con: duckdb.DuckDBPyConnection) -> None:
            archive_index.forget_partition(
                con, "tenant = ? AND day = ? AND retention_class = ?", [key.tenant, key.day, key.retention_class]
            )
            with self._catalog.changing():
                con.execute(
                    f"DELETE FROM {catalog.ARCHIVE_FILES} WHERE tenant = ? AND day = ? AND retention_class = ?",
                    [key.tenant, key.day, key.retention_class],
                )

        # Out of the catalog first (new reads stop using the files), then off the filesystem.
        self._applier.run(forget).result()
        self.archive.drop(key)

    def _archive_partition(self, key: PartitionKey) -> bool:
        """Copy a hot partition to Parquet, then swap it for the file in one transaction (crash-safe)."""
        name = quote_ident(table_name(key))
        segments = pa.table({})
        written: list[typed.TypedColumn] = []
        cur = self._db.cursor()
        try:
            shredded = typed.table_columns(cur, [table_name(key)]).get(table_name(key), {}).values()
            row = cur.sql(f"SELECT count(*), min(log_id), max(log_id) FROM {name}").fetchall()[0]
            rows = int(row[0])
            digest = hashlib.sha1(f"{rows}|{row[1]}|{row[2]}".encode()).hexdigest()[:16]
            path = self.archive.part_path(key, digest)
            location = self.archive.location(path)
            self._applier.run(
                lambda con: con.execute(f"INSERT OR IGNORE INTO {catalog.ARCHIVE_PENDING} VALUES (?)", [path])
            ).result()
            if rows:
                # The typed attribute columns too (typed.py), recorded as the file's schema has them.
                columns = SELECT_COLUMNS + typed.select_list(shredded)
                ordered = f"SELECT {columns} FROM {name} ORDER BY ts, seq NULLS FIRST, log_id"
                reader = cur.sql(ordered).to_arrow_reader(64 * 1024)
                written = typed.schema_columns(reader.schema)
                self.archive.write(path, reader, dictionary=[c.column for c in written if c.type == "VARCHAR"])
                # Read back once: filters by the rows' positions in the file, committed with the swap.
                segments = archive_index.build(cur, location, archive=self.archive)
        finally:
            cur.close()

        def swap(con: duckdb.DuckDBPyConnection) -> bool:
            con.execute("BEGIN TRANSACTION")
            same = int(con.sql(f"SELECT count(*) FROM {name}").fetchall()[0][0]) == rows
            if same:
                con.execute(f"DROP TABLE {name}")
                tokens_index.forget(con, table_name(key))
                if rows:
                    con.execute(
                        f"INSERT OR REPLACE INTO {catalog.ARCHIVE_FILES} (tenant, day, path, retention_class) "
                        "VALUES (?, ?, ?, ?)",
                        [key.tenant, key.day, location, key.retention_class],
                    )
                    archive_index.store(con, location, rows, segments)
                    typed.record_file(con, location, written)
            con.execute(f"DELETE FROM {catalog.ARCHIVE_PENDING} WHERE path = ?", [path])
            with self._catalog.changing():
                con.execute("COMMIT")
            if same:
                self._applier.forget_table(table_name(key))
            return same

        done = bool(self._applier.run(swap).result())
        if not done:
            # Late rows arrived while copying: throw the copy away and try again next round.
            self.archive.remove_file(path)
        return done

    def _recover_pending_archives(self) -> None:
        """Remove archive files whose swap never committed (a crash mid-archive)."""
        for (path,) in self._db.execute(f"SELECT path FROM {catalog.ARCHIVE_PENDING}").fetchall():
            log.warning("removing incomplete archive file %s", path)
            self.archive.remove_file(path)
            self._db.execute(f"DELETE FROM {catalog.ARCHIVE_PENDING} WHERE path = ?", [path])

    def _reconcile_archive(self) -> None:
        """Make the catalog match the archive root: adopt files found there, forget files gone from it."""
        on_disk = {self.archive.location(p): key for key, paths in self.archive.scan().items() for p in paths}
        known = {path for (path,) in self._db.execute(f"SELECT path FROM {catalog.ARCHIVE_FILES}").fetchall()}
        for location in known - on_disk.keys():
            log.warning("archive file %s is gone; forgetting it", location)
            self._db.execute(f"DELETE FROM {catalog.ARCHIVE_FILES} WHERE path = ?", [location])
        for location in on_disk.keys() - known:
            key = on_disk[location]
            self._db.execute(
                f"INSERT INTO {catalog.ARCHIVE_FILES} (tenant, day, path, retention_class) VALUES (?, ?, ?, ?)",
                [key.tenant, key.day, location, key.retention_class],
            )

    # --- housekeeping --------------------------------------------------------------------

    def memory_bytes(self) -> dict[str, int]:
        """DuckDB's memory by `duckdb_memory()` tag (buffer pool blocks, hash tables, ...), for /metrics."""
        return self._with_cursor(duckdb_memory)

    def size_bytes(self) -> int:
        total = 0
        for p in (self.path, Path(str(self.path) + ".wal")):
            try:
                total += os.path.getsize(p)
            except OSError:
                continue
        return total + self.archive.size_bytes() + self.ingest_log.size_bytes()

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close_blocking)

    def close_blocking(self) -> None:
        """Write and apply everything acknowledged, checkpoint, and close (graceful shutdown)."""
        if self._closed:
            return
        self._closed = True
        self._log_writer.stop()
        # Everything acknowledged goes into DuckDB before the subscribers finish: the last write and their closing
        # work (the log metrics settle and compact their file) ran side by side, together the stop's peak memory.
        with contextlib.suppress(StoreClosedError):
            self._applier.flush().result()
        if self.consumers is not None:
            self.consumers.close()
        self._applier.stop()
        self._readers.shutdown(wait=True)
        release_unused()  # the applied batches' freed pages, before the checkpoint's spike (the stop's RSS peak)
        self._checkpoint_at_close()
        applied = read_applied_seq(self._db)
        floor = self._consumers_floor()
        self.ingest_log.close(applied if floor is None else min(applied, floor))
        self._applier_con.close()
        self._db.close()
        release_unused()  # the closed database's and the ingest's freed memory, before compaction takes its own
        self._compact_closed()

    def _checkpoint_at_close(self) -> None:
        """The last CHECKPOINT, in a small buffer pool: it was the stop's RSS peak (~+250 MB on bench/peers.py)."""
        limit = min(int(self._config.store.memory_limit), CLOSE_CHECKPOINT_MEMORY_LIMIT)
        try:
            self._db.execute(f"SET memory_limit = '{limit}B'")
        except duckdb.OutOfMemoryException:  # more than that is held already: the store's own limit
            self._db.execute("CHECKPOINT")
            return
        try:
            self._db.execute("CHECKPOINT")
        except duckdb.Error as exc:
            # A checkpoint out of memory invalidates the database (FatalException); its WAL is intact, so
            # open it again with the store's own limit, as any checkpoint while running had.
            log.warning("the checkpoint at close needed more than %d bytes (%s); again with memory_limit", limit, exc)
            with contextlib.suppress(duckdb.Error):
                self._applier_con.close()
            with contextlib.suppress(duckdb.Error):
                self._db.close()
            self._db = self._connect()
            self._applier_con = self._db.cursor()
            self._db.execute("CHECKPOINT")

    def _compact_closed(self) -> None:
        """After a clean close: rewrite hot.duckdb without its free blocks (crash-safe; failures only logged)."""
        try:
            size = self.path.stat().st_size
            if size <= self.compact_max_bytes and compact.needs_compaction(
                self.path,
                min_gain=self.compact_min_gain,
                min_bytes=self.compact_min_bytes,
                block_size=int(self._config.store.block_size),  # a file of another block size gets this one
            ):
                # A smaller buffer pool than the store's: the stop's peak memory (compact.COPY_MEMORY_LIMIT).
                limit = min(int(self._config.store.memory_limit), compact.COPY_MEMORY_LIMIT)
                compact.compact_file(
                    self.path,
                    threads=self._config.store.threads,
                    memory_limit=f"{limit}B",
                    block_size=int(self._config.store.block_size),
                )
        except Exception:
            # The old file is intact until the rename: the store stays usable, only larger.
            log.exception("compacting %s failed; it stays as it was", self.path)


def _cutoff(now: datetime, days: int) -> date:
    """Partitions whose day is before this date are entirely older than `days` days."""
    return (now - timedelta(days=days)).date()
