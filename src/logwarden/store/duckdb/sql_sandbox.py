"""Run a validated user statement in a sandboxed worker process, over only the caller's rows.

The server reads the tenant's rows in [start, end) from one store snapshot — only the columns the
statement names — and streams them as Arrow to a worker (`sql_worker`), forked ahead of need (spares)
by a forkserver that has DuckDB imported (`sql_forkserver`). The worker has its own empty, locked,
in-memory DuckDB and an OS memory cap; the server kills it when the time limit passes. So nothing but
the tenant's rows exists where user SQL runs, a statement that allocates without bound only exhausts
its own cap, and a timeout always stops it. At most `sql.workers` statements run at once; beyond that
`SandboxBusyError`.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

import duckdb
import pyarrow as pa

from logwarden.config.model import SqlConfig
from logwarden.model.schema import DUCKDB_COLUMNS
from logwarden.store.base import (
    SandboxBusyError,
    SandboxError,
    SandboxUnavailableError,
    SqlAnswer,
    SqlFailedError,
    SqlMemoryError,
    SqlTimeoutError,
)
from logwarden.store.duckdb.sql import ReadOnlyQuery, referenced_columns
from logwarden.store.duckdb.sql_forkserver import ForkServerError, SqlForkServer
from logwarden.store.duckdb.sql_worker import WorkerJob, WorkerLimits, WorkerReply

_FEED_BATCH_ROWS = 65_536
# One forkserver per server process, shared by every sandbox; stopped when the process exits.
_FORKSERVER = SqlForkServer()
atexit.register(_FORKSERVER.close)
_KILL_WAIT = 5.0

RowReader = Callable[[Callable[[duckdb.DuckDBPyConnection, str | None, dict[str, Any]], None]], Awaitable[None]]
"""Runs `fn(cursor, from_sql, params)` inside one snapshot of the caller's rows (e.g. `store.read`)."""


SqlResult = SqlAnswer  # the name the sandbox's callers and tests use

__all__ = [
    "SandboxBusyError",
    "SandboxError",
    "SandboxUnavailableError",
    "SqlFailedError",
    "SqlMemoryError",
    "SqlResult",
    "SqlSandbox",
    "SqlTimeoutError",
]


class SqlSandbox:
    """Runs statements in worker processes, at most `config.workers` at once, with spares kept warm."""

    def __init__(self, config: SqlConfig) -> None:
        self.config = config
        self._limits = WorkerLimits(config.max_memory, config.threads, config.max_result_bytes)
        self._slots = threading.BoundedSemaphore(config.workers)
        self._lock = threading.Lock()
        self._spares: collections.deque[_Worker] = collections.deque()
        self._refilling = False
        self._closed = False
        self._refill_task: asyncio.Future[None] | None = None

    async def run(
        self, query: ReadOnlyQuery, read_rows: RowReader, *, start: datetime, end: datetime, limit: int, timeout: float
    ) -> SqlAnswer:
        """Run `query` over the rows `read_rows` gives in [start, end); raises a SandboxError subclass."""
        if not self._slots.acquire(blocking=False):
            raise SandboxBusyError(f"all {self.config.workers} SQL workers are busy; retry shortly")
        try:
            return await self._run(query, read_rows, start=start, end=end, limit=limit, timeout=timeout)
        finally:
            self._slots.release()

    def close(self) -> None:
        """Stop the spare workers; statements still running finish or time out on their own."""
        with self._lock:
            self._closed = True
            spares = list(self._spares)
            self._spares.clear()
        for worker in spares:
            worker.kill()
            worker.close()

    def _take(self) -> _Worker:
        """A spare worker, or a new one when none is ready (then spares are started for next time)."""
        with self._lock:
            spare = self._spares.popleft() if self._spares else None
        if spare is None:
            return _Worker.start(self._limits)
        if spare.is_alive():
            return spare
        spare.close()
        return _Worker.start(self._limits)

    def _refill(self) -> None:
        with self._lock:
            if self._refilling or self._closed:
                return
            self._refilling = True
        try:
            while True:
                with self._lock:
                    if self._closed or len(self._spares) >= self.config.workers:
                        return
                if not self._keep(_Worker.start(self._limits)):
                    return
        finally:
            with self._lock:
                self._refilling = False

    def _keep(self, worker: _Worker) -> bool:
        """Add a new spare unless the sandbox closed meanwhile (then stop it); whether it was kept."""
        with self._lock:
            if not self._closed:
                self._spares.append(worker)
                return True
        worker.kill()
        worker.close()
        return False

    async def _run(
        self, query: ReadOnlyQuery, read_rows: RowReader, *, start: datetime, end: datetime, limit: int, timeout: float
    ) -> SqlAnswer:
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        try:
            worker = await loop.run_in_executor(None, self._take)
        except (ForkServerError, OSError) as exc:
            raise SandboxUnavailableError(f"no SQL worker could be started ({exc}); retry shortly") from None
        columns = referenced_columns(query) if query.reads_logs else ()
        feed: asyncio.Future[None] | None = None
        replied: asyncio.Future[WorkerReply | None] | None = None
        try:
            try:
                worker.control.send(WorkerJob(query.sql, limit))
            except OSError:
                raise SandboxUnavailableError("the SQL worker stopped before its statement; retry shortly") from None
            if columns:
                feed = asyncio.ensure_future(read_rows(partial(_feed, worker.data, columns, start, end)))
            else:
                # The statement never reads logs: the worker gets an empty table, the store is not touched.
                feed = loop.run_in_executor(None, _send_empty, worker.data)
            replied = loop.run_in_executor(None, worker.wait, deadline)
            waiting: list[asyncio.Future[Any]] = [feed, replied]
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if feed.done() and feed.exception() is not None:
                # The snapshot could not be read: the worker must not answer over part of it.
                await loop.run_in_executor(None, worker.kill)
                feed.result()
            reply = await replied
        finally:
            # Kill first: that ends the feed's writes and the reply wait, then the pipes can close.
            await loop.run_in_executor(None, worker.kill)
            for pending in (replied, feed):
                if pending is not None:
                    with contextlib.suppress(Exception, asyncio.CancelledError):
                        await pending
            worker.close()
            # Replace the spare after the statement, not during it: forking competes for the same cores.
            self._refill_task = loop.run_in_executor(None, self._refill)  # kept: a future needs an owner
        return self._result(reply, worker, timeout)

    def _result(self, reply: WorkerReply | None, worker: _Worker, timeout: float) -> SqlAnswer:
        if worker.timed_out:
            raise SqlTimeoutError(f"the query ran longer than its time limit of {timeout:g} s and was stopped")
        memory = f"the query needed more memory than sql.max_memory allows ({_size(self.config.max_memory)})"
        if reply is None:
            # Died without a word: the OS cap (or a crash under it); never a reason to fail the server.
            raise SqlMemoryError(f"{memory}; its worker stopped")
        if reply.kind == "memory":
            raise SqlMemoryError(f"{memory}: {reply.message}")
        if reply.kind != "ok":
            raise SqlFailedError(f"query failed: {reply.message}")
        columns = [{"name": name, "type": kind} for name, kind in reply.columns]
        return SqlAnswer(columns, reply.rows_json, reply.row_count, reply.truncated)


class _Worker:
    """One worker process (a child of the forkserver) and the server's ends of its pipes."""

    def __init__(self, pid: int, pidfd: int | None, control: Connection, data: Connection) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.control = control
        self.data = data
        self.timed_out = False

    @classmethod
    def start(cls, limits: WorkerLimits) -> _Worker:
        control, worker_control = multiprocessing.Pipe(duplex=True)
        data_recv, data_send = multiprocessing.Pipe(duplex=False)
        try:
            pid = _FORKSERVER.spawn(worker_control.fileno(), data_recv.fileno(), limits)
        finally:
            # The worker has its own copies now: closing ours lets EOF reach either side.
            worker_control.close()
            data_recv.close()
        try:
            # A pidfd names this process and no other, even after it exits and its pid is reused.
            pidfd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:
            pidfd = None  # already gone: its pipes will say so
        return cls(pid, pidfd, control, data_send)

    def is_alive(self) -> bool:
        return self.pidfd is not None and not select.select([self.pidfd], [], [], 0)[0]

    def wait(self, deadline: float) -> WorkerReply | None:
        """The worker's reply, or None when it died or the deadline passed (then `timed_out`)."""
        if not self.control.poll(max(deadline - time.monotonic(), 0.0)):
            self.timed_out = True
            return None
        try:
            reply = self.control.recv()
        except (EOFError, OSError):
            return None
        return reply if isinstance(reply, WorkerReply) else None

    def kill(self) -> None:
        """Stop the worker if it still runs (idempotent) and wait until it is gone; pipes stay open."""
        if self.pidfd is None:
            return
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        select.select([self.pidfd], [], [], _KILL_WAIT)

    def close(self) -> None:
        """Release the pipes and the pidfd (after the feed and the reply wait are done)."""
        self.data.close()
        self.control.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def rows_sql(columns: tuple[str, ...], from_sql: str | None) -> str:
    """The statement that reads the tenant's rows for the worker: only `columns`, only [start, end)."""
    types = dict(DUCKDB_COLUMNS)
    if from_sql is None:
        # No partition overlaps the range: an empty relation of the same shape.
        cols = ", ".join(f"CAST(NULL AS {types[c].replace(' NOT NULL', '')}) AS {c}" for c in columns)
        return f"SELECT {cols} WHERE FALSE"
    return f"SELECT {', '.join(columns)} FROM {from_sql} WHERE ts >= $lw_start AND ts < $lw_end"


def _feed(
    data: Connection,
    columns: tuple[str, ...],
    start: datetime,
    end: datetime,
    cur: duckdb.DuckDBPyConnection,
    from_sql: str | None,
    params: dict[str, Any],
) -> None:
    """Stream the snapshot's rows to the worker (runs on the store's read thread, inside its snapshot)."""
    values = {**params, "lw_start": start, "lw_end": end} if from_sql is not None else {}
    reader = cur.sql(rows_sql(columns, from_sql), params=values).to_arrow_reader(_FEED_BATCH_ROWS)
    try:
        data.send_bytes(_plain_schema(reader.schema).serialize())
        for batch in reader:
            data.send_bytes(_plain(batch).serialize())
        data.send_bytes(b"")
    except (OSError, EOFError):
        # The worker stopped reading (it replied early, or was killed at its deadline): its reply says why.
        pass


def _send_empty(data: Connection) -> None:
    """An empty `logs` for a statement that never reads it."""
    schema = pa.schema([pa.field("ts", pa.timestamp("us", tz="UTC"))])
    with contextlib.suppress(OSError, EOFError):
        data.send_bytes(schema.serialize())
        data.send_bytes(b"")


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in schema])


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Dictionary columns decoded, so each batch is self-contained on the wire."""
    if not any(pa.types.is_dictionary(f.type) for f in batch.schema):
        return batch
    return batch.cast(_plain_schema(batch.schema))


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= factor:
            return f"{n / factor:g} {unit}"
    return f"{n} B"
