"""The single writer thread of the hot store: group commit of concurrent appends.

Every append waits in a queue; the writer takes everything waiting (up to a row limit), writes it
in one transaction — one INSERT per day partition — and commits once. DuckDB syncs its WAL at
commit, so when the futures resolve every row in the group survives a kill -9. Under load the
queue fills while a commit runs, so the next commit is bigger: throughput rises with concurrency
while each request still waits at most about one commit.
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
from logwarden.store.duckdb.partitions import create_table_sql, quote_ident, split_by_partition, table_name
from logwarden.telemetry.threads import name_current_thread

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Append:
    batch: pa.Table
    future: Future[int]


@dataclass(slots=True)
class _Task:
    fn: Callable[[duckdb.DuckDBPyConnection], Any]
    future: Future[Any]


_STOP = object()


class GroupCommitWriter:
    """Owns the write connection; appends are group-committed, maintenance tasks run between commits."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        max_rows: int,
        on_partition_created: Callable[[PartitionKey], None],
        on_commit: Callable[[float, int], None] | None = None,
    ) -> None:
        self._con = con
        self._max_rows = max_rows
        self._on_partition_created = on_partition_created
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Append | _Task | object] = queue.SimpleQueue()
        self._known_tables: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="logwarden-writer", daemon=True)
        self._stopped = threading.Event()
        self._thread.start()

    def known_tables(self, names: set[str]) -> None:
        """Tables that already exist (found at start), so no CREATE is issued for them."""
        self._known_tables |= names

    def append(self, batch: pa.Table) -> Future[int]:
        fut: Future[int] = Future()
        if self._stopped.is_set():
            fut.set_exception(RuntimeError("store is closed"))
        else:
            self._queue.put(_Append(batch, fut))
        return fut

    def run(self, fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> Future[Any]:
        """Run `fn(connection)` on the writer thread, between group commits."""
        fut: Future[Any] = Future()
        if self._stopped.is_set():
            fut.set_exception(RuntimeError("store is closed"))
        else:
            self._queue.put(_Task(fn, fut))
        return fut

    def forget_table(self, name: str) -> None:
        """Called (on the writer thread) after a partition table is dropped."""
        self._known_tables.discard(name)

    def stop(self) -> None:
        """Finish everything queued, then stop the thread."""
        if not self._stopped.is_set():
            self._stopped.set()
            self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        name_current_thread("lw-writer")
        pending: list[_Append] = []
        while True:
            item = self._queue.get()
            stop = False
            tasks: list[_Task] = []
            rows = 0
            while True:
                if item is _STOP:
                    stop = True
                elif isinstance(item, _Task):
                    tasks.append(item)
                elif isinstance(item, _Append):
                    pending.append(item)
                    rows += item.batch.num_rows
                if rows >= self._max_rows or tasks:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if pending:
                self._commit(pending)
                pending = []
            for task in tasks:
                self._run_task(task)
            if stop:
                return

    def _commit(self, group: list[_Append]) -> None:
        started = time.perf_counter()
        by_table: dict[str, list[pa.Table]] = {}
        created: list[PartitionKey] = []
        for item in group:
            for key, part in split_by_partition(item.batch):
                name = table_name(key)
                if name not in self._known_tables and name not in by_table:
                    created.append(key)
                by_table.setdefault(name, []).append(part)
        con = self._con
        try:
            con.execute("BEGIN TRANSACTION")
            for key in created:
                con.execute(create_table_sql(key))
            for name, parts in by_table.items():
                batch = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
                con.register("_append_batch", batch)
                con.execute(f"INSERT INTO {quote_ident(name)} SELECT * FROM _append_batch")
                con.unregister("_append_batch")
            con.execute("COMMIT")
        except Exception as exc:
            log.exception("group commit of %d requests failed", len(group))
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            for item in group:
                item.future.set_exception(exc)
            return
        for key in created:
            self._known_tables.add(table_name(key))
            self._on_partition_created(key)
        elapsed = time.perf_counter() - started
        total = 0
        for item in group:
            item.future.set_result(item.batch.num_rows)
            total += item.batch.num_rows
        if self._on_commit:
            self._on_commit(elapsed, total)

    def _run_task(self, task: _Task) -> None:
        try:
            task.future.set_result(task.fn(self._con))
        except Exception as exc:
            task.future.set_exception(exc)
