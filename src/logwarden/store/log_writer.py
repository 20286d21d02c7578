"""The acknowledgement path: batches are group-written to the ingest log, then handed on."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import pyarrow as pa

from logwarden.store.arrival import split_rows
from logwarden.store.base import AppendResult, StorageFailureError, StoreClosedError
from logwarden.store.dedup import StreamDedup
from logwarden.store.wal import IngestLog, encode_table
from logwarden.threads import name_current_thread

log = logging.getLogger(__name__)

_STOP = object()


@dataclass(slots=True)
class _Submit:
    table: pa.Table
    future: Future[AppendResult]


class LogWriter:
    """One thread: take every waiting batch, write them with one fdatasync, resolve their futures.

    `on_durable` receives the (seq, table) pairs before the futures resolve, so a batch is visible to
    readers no later than its acknowledgement.
    """

    def __init__(
        self,
        ingest_log: IngestLog,
        on_durable: Callable[[list[tuple[int, pa.Table]]], None],
        *,
        on_commit: Callable[[float, int], None] | None = None,
        max_group_bytes: int = 64 * 1024**2,
        dedup: StreamDedup | None = None,
    ) -> None:
        self._log = ingest_log
        self._dedup = dedup
        self._on_durable = on_durable
        self._on_commit = on_commit
        self._max_group_bytes = max_group_bytes
        self._queue: queue.SimpleQueue[_Submit | object] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="logwarden-log", daemon=True)
        self._thread.start()

    def submit(self, table: pa.Table) -> Future[AppendResult]:
        fut: Future[AppendResult] = Future()
        if self._stopped.is_set():
            fut.set_exception(StoreClosedError("store is closed"))
        else:
            self._queue.put(_Submit(table, fut))
        return fut

    def stop(self) -> None:
        """Write everything submitted so far, then stop."""
        if not self._stopped.is_set():
            self._stopped.set()
            self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        name_current_thread("lw-log")
        # _write resolves every future, with an exception if need be; nothing may end this loop early.
        while True:
            group: list[_Submit] = []
            size = 0
            stop = False
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stop = True
                elif isinstance(item, _Submit):
                    group.append(item)
                    size += item.table.nbytes
                if stop or size >= self._max_group_bytes:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if group:
                self._write(group)
            if stop:
                return

    def _write(self, group: list[_Submit]) -> None:
        # A caller that gave up (a cancelled request) before the write gets nothing written and no answer;
        # the others' futures are running from here on, so resolving them can never raise.
        group = [item for item in group if item.future.set_running_or_notify_cancel()]
        if not group:
            return
        started = time.perf_counter()
        results: list[AppendResult] = []
        tables: list[pa.Table] = []
        try:
            for item in group:
                table, duplicates = self._dedup.filter(item.table) if self._dedup is not None else (item.table, 0)
                results.append(AppendResult(table.num_rows, duplicates))
                if table.num_rows:
                    # Each batch numbers its rows within one seq block (store/arrival.py).
                    tables.extend(split_rows(table))
            payloads = [encode_table(t) for t in tables]
            try:
                seqs = self._log.append(payloads) if payloads else []
            except OSError as exc:
                # The disk, not the batch: callers answer "retry later" (503) for this and only this.
                raise StorageFailureError(f"writing to the ingest log failed: {exc}") from exc
            self._on_durable(list(zip(seqs, tables, strict=True)))
        except Exception as exc:
            log.exception("writing %d batches to the ingest log failed", len(group))
            for item in group:
                item.future.set_exception(exc)
            return
        rows = 0
        for item, result in zip(group, results, strict=True):
            item.future.set_result(result)
            rows += result.stored
        if self._on_commit:
            self._on_commit(time.perf_counter() - started, rows)
