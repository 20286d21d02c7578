"""DuckDBStore: the embedded hot store (one DuckDB file, one table per tenant-day) plus the archive."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import orjson
import pyarrow as pa

from logwarden.config.model import Config
from logwarden.store.archive import ParquetArchive
from logwarden.store.base import (
    CountQuery,
    CountResult,
    MaintenanceReport,
    PartitionKey,
    SearchQuery,
    SearchResult,
)
from logwarden.store.duckdb.partitions import overlapping, parse_table_name, quote_ident, table_name
from logwarden.store.duckdb.search import SELECT_COLUMNS, group_expr, source_sql, where_sql
from logwarden.store.duckdb.writer import GroupCommitWriter

log = logging.getLogger(__name__)
T = TypeVar("T")

DB_FILE = "hot.duckdb"
_PENDING_TABLE = "_archive_pending"


class DuckDBStore:
    """Hot store on DuckDB with group commit, day partitions, retention and a Parquet archive."""

    def __init__(
        self,
        config: Config,
        *,
        on_commit: Callable[[float, int], None] | None = None,
    ) -> None:
        self._config = config
        data_dir = Path(config.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_FILE
        settings: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": f"{config.store.memory_limit}B",
            "checkpoint_threshold": f"{config.store.checkpoint_threshold}B",
        }
        if config.store.threads:
            settings["threads"] = config.store.threads
        self._db = duckdb.connect(str(self.path), config=settings)
        # ICU is statically linked but only loaded once a connection exists.
        self._db.execute("SET TimeZone = 'UTC'")
        self.archive = ParquetArchive(
            config.archive_root,
            compression=config.archive.compression,
            storage_options=config.archive.storage_options,
        )
        if not self.archive.is_local:
            self._db.register_filesystem(self.archive.fs)
        self._db.execute(f"CREATE TABLE IF NOT EXISTS {_PENDING_TABLE} (path VARCHAR PRIMARY KEY)")
        self._recover_pending_archives()
        self._catalog_lock = threading.Lock()
        self._hot: set[PartitionKey] = set()
        names = {
            row[0]
            for row in self._db.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()
        }
        for name in names:
            key = parse_table_name(name)
            if key:
                self._hot.add(key)
        self.archive.scan()
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="logwarden-read")
        self._writer = GroupCommitWriter(
            self._db.cursor(),
            max_rows=config.store.group_commit_max_rows,
            on_partition_created=self._partition_created,
            on_commit=on_commit,
        )
        self._writer.known_tables({table_name(k) for k in self._hot})
        self._closed = False

    # --- writing -------------------------------------------------------------------------

    async def append(self, batch: pa.Table) -> int:
        """Durably store a core-schema batch; returns after its group commit."""
        return await asyncio.wrap_future(self._writer.append(batch))

    def append_blocking(self, batch: pa.Table) -> int:
        return self._writer.append(batch).result()

    def _partition_created(self, key: PartitionKey) -> None:
        with self._catalog_lock:
            self._hot.add(key)

    # --- catalog -------------------------------------------------------------------------

    def partitions(self) -> tuple[list[PartitionKey], list[PartitionKey]]:
        """(hot, archived) partition keys."""
        with self._catalog_lock:
            return sorted(self._hot, key=_key_order), sorted(self.archive.keys(), key=_key_order)

    def _snapshot(self, tenant: str, start: datetime, end: datetime) -> tuple[list[PartitionKey], list[str]]:
        with self._catalog_lock:
            hot = overlapping(list(self._hot), tenant, start, end)
            cold = overlapping(self.archive.keys(), tenant, start, end)
            files = [f for key in cold for f in self.archive.files(key)]
        return hot, files

    # --- reading -------------------------------------------------------------------------

    async def _read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        def run() -> T:
            cursor = self._db.cursor()
            try:
                try:
                    return fn(cursor)
                except duckdb.CatalogException:
                    # A partition moved to the archive (or was dropped) under us: plan again once.
                    return fn(cursor)
            finally:
                cursor.close()

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    async def search(self, query: SearchQuery) -> SearchResult:
        def run(cur: duckdb.DuckDBPyConnection) -> SearchResult:
            hot, files = self._snapshot(query.tenant, query.start, query.end)
            params: dict[str, Any] = {}
            src = source_sql(hot, files, params)
            if src is None:
                return SearchResult(0, [])
            where = where_sql(query.start, query.end, query.terms, query.equals, params)
            total = cur.sql(f"SELECT count(*) FROM {src} WHERE {where}", params=params).fetchall()[0][0]
            params["limit"] = query.limit
            table = cur.sql(
                f"SELECT {SELECT_COLUMNS} FROM {src} WHERE {where} ORDER BY ts DESC, log_id DESC LIMIT $limit",
                params=params,
            ).to_arrow_table()
            hits = table.to_pylist()
            for hit in hits:
                attrs = hit.get("attrs")
                hit["attrs"] = orjson.loads(attrs) if attrs else {}
            return SearchResult(int(total), hits)

        return await self._read(run)

    async def count(self, query: CountQuery) -> CountResult:
        def run(cur: duckdb.DuckDBPyConnection) -> CountResult:
            hot, files = self._snapshot(query.tenant, query.start, query.end)
            params: dict[str, Any] = {}
            src = source_sql(hot, files, params)
            if src is None:
                return CountResult(0, [])
            where = where_sql(query.start, query.end, query.terms, query.equals, params)
            exprs = [f"{group_expr(name, i, params)} AS {quote_ident(name)}" for i, name in enumerate(query.by)]
            params["limit"] = query.limit
            # The window total is computed before LIMIT, so it counts groups that are cut off too.
            select = ", ".join([*exprs, "count(*) AS count", "sum(count(*)) OVER () AS _total"])
            group = f"GROUP BY {', '.join(str(i + 1) for i in range(len(exprs)))}" if exprs else ""
            sql = f"SELECT {select} FROM {src} WHERE {where} {group} ORDER BY count DESC LIMIT $limit"
            rows = cur.sql(sql, params=params).to_arrow_table().to_pylist()
            total = int(rows[0].pop("_total")) if rows else 0
            for row in rows[1:]:
                row.pop("_total")
            return CountResult(total, [r for r in rows if r["count"]])

        return await self._read(run)

    # --- retention and archiving ---------------------------------------------------------

    async def maintain(self, now: datetime | None = None) -> MaintenanceReport:
        """Archive and drop whole day partitions according to retention and archive settings."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        cfg = self._config
        hot, archived = self.partitions()
        report = MaintenanceReport([], [], [])
        loop = asyncio.get_running_loop()
        for key in hot:
            if key.day < _cutoff(now, cfg.retention_days_for(key.tenant)):
                await asyncio.wrap_future(self._writer.run(functools.partial(self._drop_hot, key=key)))
                report.dropped_hot.append(key)
            elif (
                cfg.archive.enabled
                and key.day < _cutoff(now, cfg.archive_after_days_for(key.tenant))
                and await loop.run_in_executor(self._readers, self._archive_partition, key)
            ):
                report.archived.append(key)
        for key in archived:
            if key.day < _cutoff(now, cfg.retention_days_for(key.tenant)):
                await loop.run_in_executor(self._readers, self.archive.drop, key)
                report.dropped_archive.append(key)
        return report

    def _drop_hot(self, con: duckdb.DuckDBPyConnection, *, key: PartitionKey) -> None:
        name = table_name(key)
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")
        self._writer.forget_table(name)
        with self._catalog_lock:
            self._hot.discard(key)

    def _archive_partition(self, key: PartitionKey) -> bool:
        """Copy a hot partition to Parquet, then drop it if no rows arrived meanwhile (crash-safe)."""
        name = quote_ident(table_name(key))
        cur = self._db.cursor()
        try:
            row = cur.sql(f"SELECT count(*), min(log_id), max(log_id) FROM {name}").fetchall()[0]
            rows = int(row[0])
            digest = hashlib.sha1(f"{rows}|{row[1]}|{row[2]}".encode()).hexdigest()[:16]
            path = self.archive.part_path(key, digest)
            self._writer.run(
                lambda con: con.execute(f"INSERT OR IGNORE INTO {_PENDING_TABLE} VALUES (?)", [path])
            ).result()
            if rows:
                reader = cur.sql(f"SELECT {SELECT_COLUMNS} FROM {name} ORDER BY ts, log_id").to_arrow_reader(64 * 1024)
                self.archive.write(path, reader)
        finally:
            cur.close()

        def finish(con: duckdb.DuckDBPyConnection) -> bool:
            con.execute("BEGIN TRANSACTION")
            same = int(con.sql(f"SELECT count(*) FROM {name}").fetchall()[0][0]) == rows
            if same:
                con.execute(f"DROP TABLE {name}")
            con.execute(f"DELETE FROM {_PENDING_TABLE} WHERE path = ?", [path])
            con.execute("COMMIT")
            if same:
                self._writer.forget_table(table_name(key))
                with self._catalog_lock:
                    self._hot.discard(key)
                    if rows:
                        self.archive.add(key, path)
            return same

        done = bool(self._writer.run(finish).result())
        if not done:
            # Late rows arrived while copying: throw the copy away and try again next round.
            self.archive.remove_file(path)
        return done

    def _recover_pending_archives(self) -> None:
        """Remove archive files whose partition drop never committed (a crash mid-archive)."""
        for (path,) in self._db.execute(f"SELECT path FROM {_PENDING_TABLE}").fetchall():
            log.warning("removing incomplete archive file %s", path)
            self.archive.remove_file(path)
            self._db.execute(f"DELETE FROM {_PENDING_TABLE} WHERE path = ?", [path])

    # --- housekeeping --------------------------------------------------------------------

    def size_bytes(self) -> int:
        total = 0
        for p in (self.path, Path(str(self.path) + ".wal")):
            try:
                total += os.path.getsize(p)
            except OSError:
                continue
        return total + self.archive.size_bytes()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(None, self._writer.stop)
        self._readers.shutdown(wait=True)
        self._db.execute("CHECKPOINT")
        self._db.close()

    def close_blocking(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.stop()
        self._readers.shutdown(wait=True)
        self._db.execute("CHECKPOINT")
        self._db.close()


def _cutoff(now: datetime, days: int) -> date:
    """Partitions whose day is before this date are entirely older than `days` days."""
    return (now - timedelta(days=days)).date()


def _key_order(key: PartitionKey) -> tuple[str, date]:
    return key.tenant, key.day
