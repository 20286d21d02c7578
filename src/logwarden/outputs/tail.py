"""Live tail: subscribers with filters, fed with each durable batch as it passes (never by polling the store).

`TailHub` is the bus's lossy subscriber `tail`: `offer` runs on the publishing thread for every durable,
deduplicated batch, so it only hands the batch to one worker thread (in order) and never raises or blocks. Per
batch the worker splits rows by tenant once, evaluates each subscriber's vectorized mask (a filter on
attributes may take milliseconds in DuckDB: kept off the event loop), and encodes only the matching rows to
JSON (once per row, shared by all subscribers that match it); the lines are then queued on the event loop.
Every subscriber has a bounded queue; a slow client loses its oldest lines, counted in `dropped`, and never
slows ingest down. When the worker falls `MAX_PENDING_BATCHES` behind, new batches skip the tail and their
lines count as dropped for every subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from logwarden.bus.base import BusBatch
from logwarden.model.schema import CORE_COLUMNS
from logwarden.model.scratch_db import thread_scratch_connection
from logwarden.plan.duckdb_filter import StoreFields
from logwarden.plan.rows import row_conditions, row_fields
from logwarden.query import ast
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.filter import RowFilter
from logwarden.query.parser import parse
from logwarden.query.planner import defined_fields

log = logging.getLogger(__name__)

# A vectorized filter: one boolean per row of a core-schema table (null counts as no match).
MaskFn = Callable[[pa.Table], pa.Array | pa.ChunkedArray]
# Per-line pipes after the filter (`compile_tail`): the matching rows → the lines to send, JSON-encoded.
ShapeFn = Callable[[pa.Table], list[bytes]]

DEFAULT_QUEUE_LINES = 10_000
DEFAULT_MAX_SUBSCRIBERS = 256
MAX_PENDING_BATCHES = 64


class TailClosedError(Exception):
    """The hub is shut down (server stopping) or full; no new subscriptions."""


class TailSubscription:
    """One live-tail client: a tenant, a filter, and a bounded queue of JSON-encoded lines."""

    def __init__(self, hub: TailHub, tenant: str, mask: MaskFn, max_lines: int, shape: ShapeFn | None = None) -> None:
        self.tenant = tenant
        self.mask = mask
        self.shape = shape
        self.max_lines = max_lines
        self.dropped = 0
        self.delivered = 0
        self.closed = False
        self._hub = hub
        self._queue: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._failed = False

    def offer(self, lines: list[bytes]) -> None:
        """Queue lines (event loop); beyond `max_lines` the oldest go and are counted in `dropped`."""
        if self.closed:
            return
        if len(lines) >= self.max_lines:
            self.dropped += len(self._queue) + len(lines) - self.max_lines
            self._queue.clear()
            self._queue.extend(lines[-self.max_lines :])
        else:
            overflow = len(self._queue) + len(lines) - self.max_lines
            for _ in range(max(0, overflow)):
                self._queue.popleft()
            self.dropped += max(0, overflow)
            self._queue.extend(lines)
        self._wake.set()

    async def next_lines(self, timeout: float) -> list[bytes] | None:
        """Queued lines; [] when `timeout` passed with none (time for a heartbeat); None once closed."""
        if not self._queue and not self.closed:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                return []
        if not self._queue:
            return None if self.closed else []
        lines = list(self._queue)
        self._queue.clear()
        self.delivered += len(lines)
        return lines

    def close(self) -> None:
        """Stop receiving; wakes a waiting reader, which then sees None."""
        if not self.closed:
            self.closed = True
            self._hub.unsubscribe(self)
        self._wake.set()

    def evaluate(self, table: pa.Table) -> pa.Array | None:
        """Row indices of `table` this subscriber wants, or None; a failing filter is logged once, not raised."""
        try:
            mask = self.mask(table)
        except Exception:
            if not self._failed:
                self._failed = True
                log.exception("live-tail filter failed on a batch; its lines are skipped")
            return None
        if isinstance(mask, pa.ChunkedArray):
            mask = mask.combine_chunks()
        if len(mask) != table.num_rows:
            return None
        indices = pc.indices_nonzero(pc.fill_null(mask, False))
        return indices if len(indices) else None


class TailHub:
    """All live-tail subscribers of one server: the bus's lossy subscriber `tail`."""

    name = "tail"

    def __init__(
        self,
        *,
        max_lines: int = DEFAULT_QUEUE_LINES,
        max_subscribers: int = DEFAULT_MAX_SUBSCRIBERS,
        max_pending: int = MAX_PENDING_BATCHES,
    ) -> None:
        self.max_lines = max_lines
        self.max_subscribers = max_subscribers
        self.max_pending = max_pending
        self._subscribers: list[TailSubscription] = []
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="lw-tail")
        self._pending = 0
        self._lock = threading.Lock()  # `_pending` changes on the publishing thread and the event loop

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self, tenant: str, mask: MaskFn, shape: ShapeFn | None = None) -> TailSubscription:
        """A new subscription (event loop); TailClosedError when shutting down or at `max_subscribers`.

        `shape` applies the query's per-line pipes (extract, json, logfmt, eval, where, fields) to the
        lines the mask selects; without it the stored lines are sent as they are."""
        if self._closed:
            raise TailClosedError("the server is shutting down")
        if len(self._subscribers) >= self.max_subscribers:
            raise TailClosedError(f"too many live-tail clients ({self.max_subscribers}); retry later")
        self._loop = asyncio.get_running_loop()
        sub = TailSubscription(self, tenant, mask, self.max_lines, shape)
        self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: TailSubscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)

    def offer(self, batch: BusBatch) -> int:
        """Hand a durable batch to the matching worker (any thread); returns the lines dropped (the worker is
        `max_pending` batches behind). Never raises and never waits."""
        table = batch.table
        subscribers = list(self._subscribers)
        loop = self._loop
        if not subscribers or table.num_rows == 0 or self._closed or loop is None or loop.is_closed():
            return 0
        with self._lock:
            if self._pending >= self.max_pending:
                for sub in subscribers:
                    sub.dropped += table.num_rows
                return int(table.num_rows)
            self._pending += 1
        if table.num_columns != len(CORE_COLUMNS):
            table = table.select(list(CORE_COLUMNS))  # the stored `seq` and internal markers are not shown
        try:
            future = self._worker.submit(self._match, table, subscribers)
        except RuntimeError:  # the worker is shut down: the server is stopping
            with self._lock:
                self._pending -= 1
            return 0
        future.add_done_callback(lambda f: _call_soon(loop, self._deliver, f))
        return 0

    def publish(self, table: pa.Table) -> None:
        """`offer` for a bare table (tests and in-process callers on the event loop)."""
        if self._subscribers:
            self._loop = self._loop or asyncio.get_running_loop()
        self.offer(BusBatch(0, table))

    async def drain(self) -> None:
        """Wait until every published batch has been matched and queued (tests, orderly shutdown)."""
        while self._pending:
            await asyncio.sleep(0.001)

    def _deliver(self, future: Future[list[tuple[TailSubscription, list[bytes]]]]) -> None:
        with self._lock:
            self._pending -= 1
        try:
            matches = future.result()
        except Exception:
            log.exception("live tail could not process a batch; ingest is unaffected")
            return
        for sub, lines in matches:
            sub.offer(lines)

    def _match(
        self, table: pa.Table, subscribers: list[TailSubscription]
    ) -> list[tuple[TailSubscription, list[bytes]]]:
        """Worker thread: each subscriber's matching lines of `table`, JSON-encoded."""
        out: list[tuple[TailSubscription, list[bytes]]] = []
        by_tenant: dict[str, list[TailSubscription]] = {}
        for sub in subscribers:
            by_tenant.setdefault(sub.tenant, []).append(sub)
        tenants = table.column("tenant")
        single = pc.count_distinct(tenants).as_py() == 1
        for tenant, subs in by_tenant.items():
            if single:
                part = table if tenants[0].as_py() == tenant else None
            else:
                part = table.filter(pc.equal(tenants, tenant))
            if part is None or part.num_rows == 0:
                continue
            wanted = [(sub, idx) for sub in subs if (idx := sub.evaluate(part)) is not None]
            shaped = [(sub, idx) for sub, idx in wanted if sub.shape is not None]
            wanted = [(sub, idx) for sub, idx in wanted if sub.shape is None]
            for sub, idx in shaped:
                lines = _shape(sub, part.take(idx))
                if lines:
                    out.append((sub, lines))
            if not wanted:
                continue
            union = wanted[0][1] if len(wanted) == 1 else pc.unique(pa.concat_arrays([idx for _, idx in wanted]))
            union = union.take(pc.array_sort_indices(union))
            # Python only for the matching rows, and each encoded once however many subscribers want it.
            positions = union.to_pylist()
            encoded = dict(zip(positions, map(encode_line, part.take(union).to_pylist()), strict=True))
            for sub, idx in wanted:
                out.append((sub, [encoded[i] for i in idx.to_pylist()]))
        return out

    def close(self) -> None:
        """Refuse new subscribers and end every stream (server shutdown)."""
        self._closed = True
        for sub in list(self._subscribers):
            sub.close()
        self._worker.shutdown(wait=False, cancel_futures=True)

    def close_threadsafe(self) -> None:
        """`close` from a signal handler or another thread: scheduled on the hub's event loop."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.close)
        else:
            self._closed = True


def _shape(sub: TailSubscription, rows: pa.Table) -> list[bytes]:
    """A subscriber's pipes over its matching rows; a failure is logged once and skips the batch."""
    assert sub.shape is not None
    try:
        return sub.shape(rows)
    except Exception:
        if not sub._failed:
            sub._failed = True
            log.exception("live-tail pipes failed on a batch; its lines are skipped")
        return []


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    """Schedule `fn` on `loop` unless it has closed meanwhile (a batch finishing during shutdown)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)


def encode_line(row: dict[str, Any]) -> bytes:
    """One line as the tail's JSON: attrs as an object, timestamps as RFC 3339 UTC."""
    attrs = row.get("attrs")
    if isinstance(attrs, str) and attrs:
        try:
            row["attrs"] = orjson.loads(attrs)
        except orjson.JSONDecodeError:
            row["attrs"] = {"_raw": attrs}
    else:
        row["attrs"] = {}
    return orjson.dumps(row, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)


# --- per-line pipes --------------------------------------------------------------------------

TAIL_PIPES = "extract, json, logfmt, eval, where and fields"
_TAIL_TABLE = "_tail_rows"
_PIPE_NAMES = {ast.Stats: "stats", ast.Top: "top", ast.Rare: "rare", ast.Timechart: "timechart", ast.Sort: "sort"}


@dataclass(frozen=True, slots=True)
class TailQuery:
    """A live-tail query: its filter as a vectorized mask, and its per-line pipes (None without any)."""

    mask: MaskFn
    shape: ShapeFn | None = None


def compile_tail(text: str) -> TailQuery:
    """The search language for a live tail: the filter, then pipes that apply to each line on its own
    (`extract`, `json`, `logfmt`, `eval`, `where`, then `fields`) with the same meaning as in a search.

    QuerySyntaxError (a 400) for a malformed query, `_time`, or a pipe that needs more than one line."""
    query = parse(text)
    if query.time is not None:
        raise QuerySyntaxError("_time is not supported in a live tail; lines are filtered as they arrive", 1)
    rows = query.rows
    fields: tuple[str, ...] | None = None
    for pipe in query.pipes[len(rows) :]:
        if isinstance(pipe, ast.Fields) and fields is None:
            fields = pipe.names
            continue
        name = "limit" if isinstance(pipe, ast.Limit) else _PIPE_NAMES.get(type(pipe), "this pipe")
        raise QuerySyntaxError(
            f"| {name} cannot run on a live tail, which sends each line as it arrives: use {TAIL_PIPES}",
            pipe.column,
            name,
        )
    mask = RowFilter(text, ast.Query(query.filter)).mask
    if not rows and fields is None:
        return TailQuery(mask)
    return TailQuery(mask, _shape_fn(rows, fields))


def _shape_fn(rows: tuple[ast.RowPipe, ...], fields: tuple[str, ...] | None) -> ShapeFn:
    """One DuckDB statement over the matching rows: the `where` pipes, then the fields to send."""
    resolver = row_fields(StoreFields(), rows)
    if fields is not None:
        refs = [(name, ast.FieldRef.parse(name)) for name in fields]
        projection = [exp.alias_(resolver.value(ref), name, quoted=True) for name, ref in refs]
        decode = [name for name, ref in refs if not ref.core]
    else:
        defined = dict.fromkeys(n for p in rows for n in defined_fields(p))
        projection = [exp.column(c, quoted=True) for c in CORE_COLUMNS]
        projection += [exp.alias_(resolver.value(ast.FieldRef(n, False)), n, quoted=True) for n in defined]
        decode = list(defined)
    select = exp.select(*projection).from_(exp.to_table(_TAIL_TABLE))
    conditions = row_conditions(StoreFields(), rows)
    if conditions:
        select = select.where(exp.and_(*conditions))
    sql = select.sql(dialect="duckdb")

    def shape(table: pa.Table) -> list[bytes]:
        cur = thread_scratch_connection()
        cur.register(_TAIL_TABLE, table)
        try:
            out: list[dict[str, Any]] = cur.sql(sql).to_arrow_table().to_pylist()
        finally:
            cur.unregister(_TAIL_TABLE)
        for row in out:
            for name in decode:
                raw = row.get(name)
                row[name] = orjson.loads(raw) if raw is not None else None
        if fields is not None:
            return [orjson.dumps(row, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC) for row in out]
        return [encode_line(row) for row in out]

    return shape
