"""The only writer of the hot store: moves acknowledged batches from memory into DuckDB.

Batches arrive already durable (in the ingest log), so this thread is free to gather them for up to
`apply_interval` and write them in one large transaction — large enough that DuckDB writes compressed
row groups straight to the database file instead of its own WAL. The transaction also records the
highest sequence number applied, which is where log replay resumes after a crash.

Stored `seq` is dense: the rows of each transaction are numbered on from the store's counter (`_seq_state`), in
apply order (= arrival order), instead of keeping the in-memory `(batch << SEQ_ROW_BITS) + row` whose jump at
every batch made DuckDB bit-pack each vector of the column at 27 bits (3.4 bytes per line; dense: ~0). See
`number_rows` for why the two numberings never collide nor disagree on order.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from logwarden.model.normalize import int_attr_keys
from logwarden.model.schema import SEQ_COLUMN, SEQ_ROW_BITS, STORED_COLUMNS
from logwarden.store.arrival import MAX_BATCH_ROWS
from logwarden.store.base import PartitionKey, StoreClosedError
from logwarden.store.dedup import HWM_DDL, upsert_sql
from logwarden.store.duckdb import attrs_split, log_ids, tokens, typed
from logwarden.store.duckdb.partitions import create_table_sql, split_by_partition, table_name
from logwarden.store.duckdb.quarantine import Quarantine, is_storage_failure
from logwarden.threads import name_current_thread

log = logging.getLogger(__name__)

STATE_TABLE = "_ingest_state"
STATE_DDL = f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (applied_seq BIGINT NOT NULL)"
# The last stored `seq` given (number_rows); no row until the first apply of this format.
SEQ_STATE = "_seq_state"
SEQ_STATE_DDL = f"CREATE TABLE IF NOT EXISTS {SEQ_STATE} (last_seq BIGINT NOT NULL)"
# Failed attempts at a batch before its bad rows are looked for and quarantined.
MAX_ATTEMPTS = 3
# The store's catalog cache hook (catalog.CatalogCache.changing): a commit that creates a partition runs inside it.
CatalogChanging = Callable[[], contextlib.AbstractContextManager[None]]


def read_applied_seq(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(STATE_DDL)
    con.execute(SEQ_STATE_DDL)
    con.execute(HWM_DDL)
    tokens.create(con)
    typed.create(con)
    rows = con.execute(f"SELECT applied_seq FROM {STATE_TABLE}").fetchall()
    if not rows:
        con.execute(f"INSERT INTO {STATE_TABLE} VALUES (0)")
        return 0
    return int(rows[0][0])


def number_rows(con: duckdb.DuckDBPyConnection, items: list[tuple[int, pa.Table]]) -> list[tuple[int, pa.Table]]:
    """The batches in batch order, each with its stored `seq`: numbered on from the store's counter, which is
    advanced inside the caller's transaction (a rolled-back apply gives the same numbers again on replay).

    The first apply of a store (or of one written before this numbering) starts at `(applied_seq + 1) <<
    SEQ_ROW_BITS`: above every `(batch << SEQ_ROW_BITS) + row` stored before, as those batches were applied. Each
    batch adds at most 2**SEQ_ROW_BITS rows, so once batches up to k are applied the counter is below
    `(k + 1) << SEQ_ROW_BITS`, the lowest in-memory seq of a batch not yet applied: a read's union of stored
    rows and unapplied batches keeps seq unique within a tenant and in arrival order.
    """
    con.execute(SEQ_STATE_DDL)  # a no-op once read_applied_seq made it; callers that skipped it still work
    row = con.execute(f"SELECT last_seq FROM {SEQ_STATE}").fetchall()
    if row:
        last = int(row[0][0])
    else:
        applied = con.execute(f"SELECT max(applied_seq) FROM {STATE_TABLE}").fetchall()[0][0]
        last = ((int(applied or 0) + 1) << SEQ_ROW_BITS) - 1
    numbered: list[tuple[int, pa.Table]] = []
    for seq, given in sorted(items, key=lambda item: item[0]):  # stable: a batch's parts keep their order
        n = given.num_rows
        if n > MAX_BATCH_ROWS:
            raise ValueError(f"a batch of {n} rows exceeds {MAX_BATCH_ROWS}, the rows one batch may number")
        table = given.drop_columns([SEQ_COLUMN]) if SEQ_COLUMN in given.column_names else given
        seqs = pa.array(np.arange(last + 1, last + 1 + n, dtype=np.int64))
        numbered.append((seq, table.append_column(pa.field(SEQ_COLUMN, pa.int64()), seqs)))
        last += n
    con.execute(f"DELETE FROM {SEQ_STATE}")
    con.execute(f"INSERT INTO {SEQ_STATE} VALUES (?)", [last])
    return numbered


def _insert(
    con: duckdb.DuckDBPyConnection,
    items: list[tuple[int, pa.Table]],
    known_tables: set[str],
    retention_classes: frozenset[str],
) -> list[PartitionKey]:
    """Insert batches into their day partitions, inside the caller's transaction (`seq` numbered densely)."""
    by_table: dict[str, list[pa.Table]] = {}
    created: list[PartitionKey] = []
    for _seq, table in number_rows(con, items):
        for key, part in split_by_partition(table, retention_classes):
            name = table_name(key)
            if name not in known_tables and name not in by_table:
                created.append(key)
            by_table.setdefault(name, []).append(part)
    for key in created:
        con.execute(create_table_sql(key))
    for name, parts in by_table.items():
        # Keys every part's packer found integer-only: their BIGINT columns need no per-row check.
        ints = functools.reduce(frozenset.intersection, (int_attr_keys(part) for part in parts))
        con.register("_apply_batch", pa.concat_tables(parts))
        try:
            base = tokens.table_rows(con, name)  # token index hook: the rowid the first inserted row gets
            # Typed attribute columns (typed.py): widened or added first, then filled by the same INSERT.
            shredded, attrs = typed.prepare_columns(con, name, "_apply_batch", base, ints)
            if base == 0 and attrs_split.make(con, name, shredded):  # a new table keeps its columns' keys only there
                attrs = attrs_split.attrs_expr(con, name)
            only_typed = attrs_split.shredded_columns(attrs_split.ensure_current(con, name, shredded, attrs), shredded)
            stored = [c for c in STORED_COLUMNS if not (only_typed and c == "attrs")]
            targets, values = log_ids.insert_lists(stored, log_ids.is_split(con, name))
            con.execute(typed.insert_sql(name, targets, "_apply_batch", shredded, values, only_typed))
            tokens.index_appended(con, name, base)  # token index hook: bloom filters of the new rows
            con.execute(upsert_sql("_apply_batch"))
        finally:
            con.unregister("_apply_batch")
    return created


def apply_batches(
    con: duckdb.DuckDBPyConnection,
    items: list[tuple[int, pa.Table]],
    known_tables: set[str],
    retention_classes: frozenset[str] = frozenset(),
    changing: CatalogChanging = contextlib.nullcontext,
) -> list[PartitionKey]:
    """Insert batches (stored schema: with `seq`) into their partitions and advance applied_seq, in one
    transaction; one that creates a partition commits inside `changing()` (the store's catalog cache)."""
    con.execute("BEGIN TRANSACTION")
    try:
        created = _insert(con, items, known_tables, retention_classes)
        # greatest(): applied_seq never moves back, whatever order batches come in.
        con.execute(f"UPDATE {STATE_TABLE} SET applied_seq = greatest(applied_seq, ?)", [max(seq for seq, _ in items)])
        with changing() if created else contextlib.nullcontext():
            con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    known_tables.update(table_name(k) for k in created)
    return created


def probe_batches(
    con: duckdb.DuckDBPyConnection,
    items: list[tuple[int, pa.Table]],
    known_tables: set[str],
    retention_classes: frozenset[str] = frozenset(),
) -> Exception | None:
    """Try inserting `items` in a transaction that is always rolled back: None if it would apply, else why not."""
    try:
        con.execute("BEGIN TRANSACTION")
        _insert(con, items, set(known_tables), retention_classes)
        return None
    except Exception as exc:
        return exc
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")


def storage_failing(con: duckdb.DuckDBPyConnection, error: BaseException) -> bool:
    """Whether `error` came from the database or the disk rather than from the rows being applied."""
    if is_storage_failure(error):
        return True
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(f"UPDATE {STATE_TABLE} SET applied_seq = applied_seq")
        return False
    except Exception:
        return True
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")


def _probe_part(
    con: duckdb.DuckDBPyConnection, seq: int, known_tables: set[str], retention_classes: frozenset[str], part: pa.Table
) -> Exception | None:
    return probe_batches(con, [(seq, part)], known_tables, retention_classes)


def apply_isolating(
    con: duckdb.DuckDBPyConnection,
    items: list[tuple[int, pa.Table]],
    known_tables: set[str],
    retention_classes: frozenset[str],
    quarantine: Quarantine,
    on_applied: Callable[[list[tuple[int, pa.Table]]], None] | None = None,
    changing: CatalogChanging = contextlib.nullcontext,
) -> None:
    """Apply batches one at a time, in order; the rows of a batch that cannot be applied are quarantined
    (store/duckdb/quarantine.py) and the rest applied with dead letters standing for them.

    Raises on a storage failure; batches already applied were passed to `on_applied`, the rest were not.
    """
    for seq, table in items:
        one = [(seq, table)]
        try:
            apply_batches(con, one, known_tables, retention_classes, changing)
        except Exception as exc:
            if storage_failing(con, exc):
                raise
            log.warning("batch %d (%d rows) cannot be applied (%s); isolating its bad rows", seq, table.num_rows, exc)
            isolated = quarantine.isolate(
                seq,
                table,
                functools.partial(_probe_part, con, seq, known_tables, retention_classes),
            )
            if isolated is None:
                apply_batches(con, one, known_tables, retention_classes, changing)
            else:
                good = [(seq, part) for part in isolated.good]
                try:
                    apply_batches(con, [*good, (seq, isolated.dead_letters)], known_tables, retention_classes, changing)
                except Exception as dead_error:
                    if storage_failing(con, dead_error):
                        raise
                    # The dead letters themselves do not fit (a tenant no table can hold): the file keeps the rows.
                    log.error("dead letters of quarantined batch %d cannot be stored: %s", seq, dead_error)
                    if good:
                        apply_batches(con, good, known_tables, retention_classes, changing)
                    else:
                        con.execute(f"UPDATE {STATE_TABLE} SET applied_seq = greatest(applied_seq, ?)", [seq])
                quarantine.record(seq, isolated)
        if on_applied:
            on_applied(one)


@dataclass(slots=True)
class _Task:
    fn: Callable[[duckdb.DuckDBPyConnection], Any]
    future: Future[Any]


_STOP = object()


def apply_max_bytes(memory_limit: int) -> int:
    """Arrow bytes that trigger a write before the interval is over: a quarter of the hot store's buffer pool, so a
    transaction's rows (which DuckDB holds there until the commit) fit beside the reads however long the lines."""
    return memory_limit // 4


class Applier:
    """Applies queued batches every `interval` (or at `max_rows` rows or `max_bytes` of Arrow data, whichever comes
    first: DuckDB holds a transaction's rows in its buffer pool until the commit, so a transaction must fit in it),
    and runs maintenance tasks in between."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        interval: float,
        max_rows: int,
        max_bytes: int | None = None,
        known_tables: set[str],
        on_applied: Callable[[list[tuple[int, pa.Table]]], None],
        quarantine: Quarantine,
        on_apply: Callable[[float, int], None] | None = None,
        retention_classes: frozenset[str] = frozenset(),
        catalog_changing: CatalogChanging = contextlib.nullcontext,
    ) -> None:
        self._con = con
        self._changing = catalog_changing
        self._quarantine = quarantine
        # Set when a batch could not be applied at shutdown: later batches must not pass it (applied_seq
        # would mark it applied); the ingest log replays them all at the next start.
        self._held = False
        self._retention_classes = retention_classes
        self._interval = interval
        self._max_rows = max_rows
        self._max_bytes = max_bytes if max_bytes is not None else 1 << 62
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
            fut.set_exception(StoreClosedError("store is closed"))
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
        rows = size = 0
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
                size += item[1].nbytes
                if deadline is None:
                    deadline = time.monotonic() + self._interval
                if rows < self._max_rows and size < self._max_bytes:
                    continue
            if batch:
                try:
                    self._apply(batch)
                except Exception:
                    # Nothing may end this thread; what was not applied stays in the ingest log.
                    log.exception("applying %d batches failed; holding later ones for the replay", len(batch))
                    self._held = True
                batch, rows, size, deadline = [], 0, 0, None
            if isinstance(item, _Task):
                _run_task(item, self._con)
            elif item is _STOP:
                self._fail_late_tasks()
                return

    def _fail_late_tasks(self) -> None:
        """Tasks queued after the stop marker (a race with `stop`) fail instead of waiting forever."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Task) and item.future.set_running_or_notify_cancel():
                item.future.set_exception(StoreClosedError("store is closed"))

    def _apply(self, batch: list[tuple[int, pa.Table]]) -> None:
        if self._held:
            return
        started = time.perf_counter()
        rows = sum(t.num_rows for _, t in batch)
        pending = list(batch)

        def applied_one(done: list[tuple[int, pa.Table]]) -> None:
            self._on_applied(done)
            pending[:] = [p for p in pending if p[0] != done[0][0]]

        delay = 0.1
        attempts = 0
        while pending:
            attempts += 1
            try:
                if attempts <= MAX_ATTEMPTS:
                    apply_batches(self._con, pending, self._known_tables, self._retention_classes, self._changing)
                    self._on_applied(pending)
                    pending = []
                else:
                    # Set aside what cannot be applied; batches leave `pending` as each one commits.
                    apply_isolating(
                        self._con,
                        list(pending),
                        self._known_tables,
                        self._retention_classes,
                        self._quarantine,
                        on_applied=applied_one,
                        changing=self._changing,
                    )
            except Exception:
                # The batches are safe in the ingest log: keep them and try again, or at shutdown leave
                # them (and every later batch) to the replay at the next start.
                if self._stopped.is_set() and attempts > MAX_ATTEMPTS:
                    log.exception("giving up applying %d batches at shutdown; the log replays them", len(pending))
                    self._held = True
                    return
                if attempts == MAX_ATTEMPTS:
                    log.exception("applying %d batches to the hot store failed; isolating them", len(pending))
                    continue
                log.exception("applying %d batches to the hot store failed; retrying in %.1fs", len(pending), delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        if self._on_apply:
            self._on_apply(time.perf_counter() - started, rows)


def _run_task(task: _Task, con: duckdb.DuckDBPyConnection) -> None:
    """Run a maintenance task unless its caller cancelled it; a cancelled future never raises here."""
    if not task.future.set_running_or_notify_cancel():
        return
    try:
        result = task.fn(con)
    except Exception as exc:
        task.future.set_exception(exc)
    else:
        task.future.set_result(result)
