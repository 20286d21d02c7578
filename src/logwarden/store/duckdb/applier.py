"""The only writer of the hot store: moves acknowledged batches from memory into DuckDB.

Batches arrive already durable (in the ingest log), so this thread is free to gather them for up to
`apply_interval` and write them in one large transaction — large enough that DuckDB writes compressed
row groups straight to the database file instead of its own WAL. The transaction also records the
highest sequence number applied, which is where log replay resumes after a crash.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from logwarden.store.base import PartitionKey
from logwarden.store.dedup import HWM_DDL, upsert_sql
from logwarden.store.duckdb import tokens
from logwarden.store.duckdb.partitions import create_table_sql, quote_ident, split_by_partition, table_name
from logwarden.telemetry.threads import name_current_thread

log = logging.getLogger(__name__)

STATE_TABLE = "_ingest_state"
STATE_DDL = f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (applied_seq BIGINT NOT NULL)"


def read_applied_seq(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(STATE_DDL)
    con.execute(HWM_DDL)
    tokens.create(con)
    rows = con.execute(f"SELECT applied_seq FROM {STATE_TABLE}").fetchall()
    if not rows:
        con.execute(f"INSERT INTO {STATE_TABLE} VALUES (0)")
        return 0
    return int(rows[0][0])


def apply_batches(
    con: duckdb.DuckDBPyConnection,
    items: list[tuple[int, pa.Table]],
    known_tables: set[str],
    retention_classes: frozenset[str] = frozenset(),
) -> list[PartitionKey]:
    """Insert batches into their day partitions and advance applied_seq, in one transaction."""
    by_table: dict[str, list[pa.Table]] = {}
    created: list[PartitionKey] = []
    for _, table in items:
        for key, part in split_by_partition(table, retention_classes):
            name = table_name(key)
            if name not in known_tables and name not in by_table:
                created.append(key)
            by_table.setdefault(name, []).append(part)
    con.execute("BEGIN TRANSACTION")
    try:
        for key in created:
            con.execute(create_table_sql(key))
        for name, parts in by_table.items():
            con.register("_apply_batch", pa.concat_tables(parts))
            base = tokens.table_rows(con, name)  # token index hook: the rowid the first inserted row gets
            con.execute(f"INSERT INTO {quote_ident(name)} SELECT * FROM _apply_batch")
            tokens.index_appended(con, name, base)  # token index hook: bloom filters of the new rows
            con.execute(upsert_sql("_apply_batch"))
            con.unregister("_apply_batch")
        con.execute(f"UPDATE {STATE_TABLE} SET applied_seq = ?", [max(seq for seq, _ in items)])
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    known_tables.update(table_name(k) for k in created)
    return created


@dataclass(slots=True)
class _Task:
    fn: Callable[[duckdb.DuckDBPyConnection], Any]
    future: Future[Any]


_STOP = object()


class Applier:
    """Applies queued batches every `interval` (or at `max_rows`), and runs maintenance tasks in between."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        interval: float,
        max_rows: int,
        known_tables: set[str],
        on_applied: Callable[[list[tuple[int, pa.Table]]], None],
        on_apply: Callable[[float, int], None] | None = None,
        retention_classes: frozenset[str] = frozenset(),
    ) -> None:
        self._con = con
        self._retention_classes = retention_classes
        self._interval = interval
        self._max_rows = max_rows
        self._known_tables = known_tables
        self._on_applied = on_applied
        self._on_apply = on_apply
        self._queue: queue.SimpleQueue[tuple[int, pa.Table] | _Task | object] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="logwarden-applier", daemon=True)
        self._thread.start()

    def enqueue(self, items: list[tuple[int, pa.Table]]) -> None:
        for item in items:
            self._queue.put(item)

    def run(self, fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> Future[Any]:
        """Apply what is queued, then run `fn(connection)` on this thread."""
        fut: Future[Any] = Future()
        if self._stopped.is_set():
            fut.set_exception(RuntimeError("store is closed"))
        else:
            self._queue.put(_Task(fn, fut))
        return fut

    def flush(self) -> Future[Any]:
        """Resolves once everything enqueued before the call is in DuckDB."""
        return self.run(lambda con: None)

    def forget_table(self, name: str) -> None:
        """Called on this thread after a partition table is dropped."""
        self._known_tables.discard(name)

    def stop(self) -> None:
        """Apply everything queued, then stop."""
        if not self._stopped.is_set():
            self._stopped.set()
            self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        name_current_thread("lw-applier")
        batch: list[tuple[int, pa.Table]] = []
        rows = 0
        deadline: float | None = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None  # the interval is over
            if isinstance(item, tuple):
                batch.append(item)
                rows += item[1].num_rows
                if deadline is None:
                    deadline = time.monotonic() + self._interval
                if rows < self._max_rows:
                    continue
            if batch:
                self._apply(batch)
                batch, rows, deadline = [], 0, None
            if isinstance(item, _Task):
                try:
                    item.future.set_result(item.fn(self._con))
                except Exception as exc:
                    item.future.set_exception(exc)
            elif item is _STOP:
                return

    def _apply(self, batch: list[tuple[int, pa.Table]]) -> None:
        delay = 0.1
        attempts = 0
        while True:
            started = time.perf_counter()
            attempts += 1
            try:
                apply_batches(self._con, batch, self._known_tables, self._retention_classes)
                break
            except Exception:
                # The batches are safe in the ingest log: keep them and try again, or at shutdown leave
                # them to the replay at the next start.
                if self._stopped.is_set() and attempts >= 3:
                    log.exception("giving up applying %d batches at shutdown; the log replays them", len(batch))
                    return
                log.exception("applying %d batches to the hot store failed; retrying in %.1fs", len(batch), delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        if self._on_apply:
            self._on_apply(time.perf_counter() - started, sum(t.num_rows for _, t in batch))
        self._on_applied(batch)
