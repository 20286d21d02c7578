"""DuckDBStore: the embedded store — ingest log, DuckDB hot store (a table per tenant-day), Parquet archive.

Write path: `append` puts a batch in the ingest log (group fsync) and returns; the batch is searchable
from memory at once, and the applier moves it into DuckDB within `store.apply_interval`.
Read path: one DuckDB transaction lists the partitions and archive files it sees and reads the applied
sequence number, so in-memory batches are counted exactly when DuckDB does not hold them yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import orjson
import pyarrow as pa
from pydantic import ByteSize

from logwarden.config.model import Config
from logwarden.duckdb_settings import OFFLINE
from logwarden.model.schema import SEQ_ROW_BITS
from logwarden.plan.duckdb_filter import AttrRequest
from logwarden.plan.filter import Node as FilterNode
from logwarden.plan.filter import terms_filter
from logwarden.plan.nodes import META_TOTAL, ContextPlan, CountPlan, Plan, SearchPlan, meta_int
from logwarden.store import archive_encryption
from logwarden.store.archive import ParquetArchive
from logwarden.store.arrival import with_seq
from logwarden.store.base import (
    AppendResult,
    CountQuery,
    CountResult,
    LogConsumers,
    PartitionKey,
    SearchQuery,
    SearchResult,
    SqlAnswer,
    SqlReadError,
    SqlRequest,
    StoreBusyError,
    StoreClosedError,
    StoreMemoryError,
)
from logwarden.store.dedup import StreamDedup
from logwarden.store.duckdb import archive_index, attr_ranges, catalog, compact, delete, lines, log_ids, typed, word_udf
from logwarden.store.duckdb import tokens as tokens_index
from logwarden.store.duckdb.applier import (
    STATE_TABLE,
    Applier,
    apply_batches,
    apply_isolating,
    apply_max_bytes,
    read_applied_seq,
    storage_failing,
)
from logwarden.store.duckdb.attr_ranges import AttrRange
from logwarden.store.duckdb.execute import prepare
from logwarden.store.duckdb.maintenance import StoreMaintenance
from logwarden.store.duckdb.migrate import migrate
from logwarden.store.duckdb.partitions import table_name
from logwarden.store.duckdb.quarantine import QUARANTINE_DIR, Quarantine, QuarantineStatus
from logwarden.store.duckdb.search import SELECT_COLUMNS, source_sql
from logwarden.store.duckdb.sql import duckdb_message, parse_read_only
from logwarden.store.duckdb.sql_sandbox import SqlSandbox
from logwarden.store.log_writer import LogWriter
from logwarden.store.wal import IngestLog

log = logging.getLogger(__name__)
T = TypeVar("T")


class _ReadAbandonedError(Exception):
    """A read whose caller gave up before it started (nobody sees it: the awaiting task was cancelled)."""


DB_FILE = "hot.duckdb"
LOG_DIR = "ingest-log"

# Shorter ranges skip the token index: ts zone maps already limit them to a few row groups, and reading
# the bloom filters (~8 ms per word and day table) costs more than it saves (bench/query.py).
INDEX_MIN_RANGE = timedelta(hours=3)


def _and_test(filters: dict[str, str] | None, table: str, test: str) -> dict[str, str]:
    """`filters` (table name → predicate of its branch) with `test` ANDed to `table`'s."""
    out = filters if filters is not None else {}
    out[table] = f"{out[table]} AND {test}" if table in out else test
    return out


class DuckDBStore(StoreMaintenance):
    """The embedded store: durable appends, consistent reads, retention and archiving (maintenance.py)."""

    _sql_sandbox: SqlSandbox | None = None  # made on the first SQL statement (its worker slots are shared)

    def __init__(
        self,
        config: Config,
        *,
        on_commit: Callable[[float, int], None] | None = None,
        on_apply: Callable[[float, int], None] | None = None,
        on_quarantine: Callable[[int], None] | None = None,
        consumers: LogConsumers | None = None,
    ) -> None:
        self._config = config
        data_dir = Path(config.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_FILE
        self.archive = ParquetArchive(
            config.archive_root,
            compression=config.archive.compression,
            storage_options=config.archive.storage_options,
            encryption=archive_encryption.from_config(config.archive.encryption),
        )
        compact.remove_leftovers(self.path)  # a copy whose compaction was killed before its swap
        self._gate = compact.SwapGate()  # reads share the database; a compaction's swap takes it alone
        self._maintaining = asyncio.Lock()
        self._db = self._connect()
        catalog.create(self._db)
        tokens_index.configure(self._db, config.store.indexed_fields)  # before migrate: it rebuilds to match
        migrate(self._db)
        self._recover_pending_archives()
        delete.recover(self._db, self.archive)  # files a delete replaced: gone before the root is reconciled
        self._reconcile_archive()
        for (location,) in self._db.execute(f"SELECT path FROM {catalog.ARCHIVE_FILES}").fetchall():
            self.archive.file_key(location)  # an encrypted file whose key is missing or wrong stops the start

        # Replay acknowledged batches that had not reached DuckDB when the process stopped.
        self.ingest_log = IngestLog(data_dir / LOG_DIR, segment_bytes=config.store.wal_segment_bytes)
        # The bus's subscribers may need batches the hot store already holds: their cursors keep the log.
        self.consumers = consumers
        known_tables = {table_name(k) for k in catalog.hot_partitions(self._db)}
        applied = read_applied_seq(self._db)
        classes = frozenset(config.store.retention_classes)
        self.quarantine = Quarantine(data_dir / QUARANTINE_DIR, on_quarantine=on_quarantine)
        replay: list[tuple[int, pa.Table]] = []
        replayed = 0
        max_bytes = apply_max_bytes(int(config.store.memory_limit))
        for seq, table in self.ingest_log.recover(applied, keep_after=self._consumers_floor()):
            replay.append((seq, with_seq(seq, table)))
            if (
                sum(t.num_rows for _, t in replay) >= config.store.apply_max_rows
                or sum(t.nbytes for _, t in replay) >= max_bytes
            ):
                self._replay(replay, known_tables, classes)
                replayed += sum(t.num_rows for _, t in replay)
                replay = []
        if replay:
            self._replay(replay, known_tables, classes)
            replayed += sum(t.num_rows for _, t in replay)
        if replayed:
            log.info("replayed %d acknowledged lines from the ingest log", replayed)
        self._applied_seq = read_applied_seq(self._db)
        self._release_log()
        if consumers is not None:
            consumers.attach(self.ingest_log, self._release_log)

        # Acknowledged batches not yet in DuckDB, visible to reads: seq → table with a __seq column.
        self._lock = threading.Lock()
        self._unapplied: dict[int, pa.Table] = {}
        self._unapplied_bytes = 0
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="logwarden-read")
        self._catalog = catalog.CatalogCache()  # every change of partitions or archive files below runs in changing()
        self._applier_con = self._db.cursor()
        self._applier = Applier(
            self._applier_con,
            interval=config.store.apply_interval.total_seconds(),
            max_rows=config.store.apply_max_rows,
            max_bytes=max_bytes,
            known_tables=known_tables,
            on_applied=self._applied,
            quarantine=self.quarantine,
            on_apply=on_apply,
            retention_classes=classes,
            catalog_changing=self._catalog.changing,
        )
        self._dedup = StreamDedup()
        self._dedup.load(self._db)
        self._log_writer = LogWriter(self.ingest_log, self._durable, on_commit=on_commit, dedup=self._dedup)
        self._closed = False

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """Open hot.duckdb (at start, and again after a compaction swapped the file)."""
        config = self._config
        settings: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": f"{config.store.memory_limit}B",
            "checkpoint_threshold": f"{config.store.checkpoint_threshold}B",
            # Every query that cares about order says ORDER BY; without the guarantee DuckDB inserts with
            # ~35% less CPU per row (measured in bench/ingest.py), which the 2-core ingest path needs.
            "preserve_insertion_order": False,
            # A new file's blocks, and those of a live compaction's copy (ATTACHed on this connection).
            "default_block_size": int(config.store.block_size),
            **OFFLINE,
        }
        if config.store.threads:
            settings["threads"] = config.store.threads
        db = duckdb.connect(str(self.path), config=settings)
        # ICU is statically linked but only loaded once a connection exists.
        db.execute("SET TimeZone = 'UTC'")
        if not self.archive.is_local:
            db.register_filesystem(self.archive.fs)
        word_udf.register(db)  # terms' Unicode word-boundary test (plan/duckdb_filter.py `_bounded`)
        return db

    def _replay(self, items: list[tuple[int, pa.Table]], known_tables: set[str], classes: frozenset[str]) -> None:
        """Apply replayed batches; a batch that cannot be applied goes through the quarantine, as live."""
        try:
            apply_batches(self._db, items, known_tables, classes)
        except Exception as exc:
            if storage_failing(self._db, exc):
                raise
            apply_isolating(self._db, items, known_tables, classes, self.quarantine)

    def _consumers_floor(self) -> int | None:
        return self.consumers.floor() if self.consumers is not None else None

    def _release_log(self) -> None:
        """Let the ingest log drop segments both the hot store and every lossless bus subscriber have passed."""
        floor = self._consumers_floor()
        self.ingest_log.release(self._applied_seq if floor is None else min(self._applied_seq, floor))

    def quarantine_status(self) -> QuarantineStatus:
        """Lines set aside in `<data_dir>/quarantine` because the hot store could not take them."""
        return self.quarantine.status()

    # --- writing -------------------------------------------------------------------------

    async def append(self, batch: pa.Table) -> AppendResult:
        """Durably store a core-schema batch: returns once it is in the ingest log (and searchable).

        Lines re-sent under a `<stream>@<offset>` log id already stored are dropped and counted.
        """
        if self._unapplied_bytes > self._config.store.max_unapplied_bytes:
            raise StoreBusyError(
                f"{self._unapplied_bytes} bytes wait to be applied to the hot store "
                f"(store.max_unapplied_bytes = {self._config.store.max_unapplied_bytes})"
            )
        behind = self.consumers.lagging() if self.consumers is not None else None
        if behind is not None:
            raise StoreBusyError(behind)
        return await asyncio.wrap_future(self._log_writer.submit(batch))

    async def flush(self) -> None:
        """Wait until everything acknowledged so far is in DuckDB."""
        await asyncio.wrap_future(self._applier.flush())

    def flush_blocking(self) -> None:
        self._applier.flush().result()

    @property
    def unapplied_bytes(self) -> int:
        return self._unapplied_bytes

    def _durable(self, items: list[tuple[int, pa.Table]]) -> None:
        """Log-writer thread: batches are durable and deduplicated; number their rows in arrival order
        (`seq`), make them visible, hand them to the applier and publish them on the bus."""
        stored = [(seq, with_seq(seq, table)) for seq, table in items]
        with self._lock:
            for seq, table in stored:
                self._unapplied[seq] = table
                self._unapplied_bytes += table.nbytes
        self._applier.enqueue(stored)
        if self.consumers is not None:
            self.consumers.publish(stored)

    def _applied(self, items: list[tuple[int, pa.Table]]) -> None:
        """Applier thread, after its commit: the in-memory copies and the log segments can go."""
        with self._lock:
            for seq, table in items:
                if self._unapplied.pop(seq, None) is not None:
                    self._unapplied_bytes -= table.nbytes
        self._applied_seq = max(self._applied_seq, *(seq for seq, _ in items))
        self._release_log()

    # --- reading -------------------------------------------------------------------------

    def partitions(self) -> tuple[list[PartitionKey], list[PartitionKey]]:
        """(hot, archived) partition keys as DuckDB sees them now."""
        with self._gate.shared():
            cur = self._db.cursor()
            try:
                return catalog.hot_partitions(cur), catalog.archived_partitions(cur)
            finally:
                cur.close()

    async def read(
        self,
        tenant: str,
        start: datetime,
        end: datetime,
        fn: Callable[[duckdb.DuckDBPyConnection, str | None, dict[str, Any]], T],
        tokens: Sequence[str] = (),
        attrs: Sequence[AttrRequest] = (),
        ranges: Sequence[AttrRange] = (),
        pushed: str = "",
        log_id: str | None = None,
    ) -> T:
        """Run `fn(cursor, from_sql, params)` in one snapshot of the tenant's rows that may lie in [start, end).

        from_sql is `(SELECT … UNION ALL …) AS logs` over the hot partitions, archive files and in-memory
        batches (None when there are none); params holds the values it binds. Partitions are pruned by
        day only: `fn` must still filter on ts. With `tokens` (words every wanted row's message holds
        whole), hot tables are narrowed to the row groups their token index says may hold them all:
        `fn` must still test the words. With `attrs`, every branch of from_sql also has those attribute
        columns (typed.py), read from a typed column where the table or file has one; `ranges` (numeric ranges
        the filter implies for attributes, attr_ranges.py) add a test of the typed column to a hot table's branch.
        `pushed` (a predicate on stored columns that `fn`'s own filter implies) is tested in each hot table's branch;
        with `log_id`, each hot table's branch holds only rows that may have that id (`fn` must still test it).
        """

        def attempt(cur: duckdb.DuckDBPyConnection) -> T:
            params: dict[str, Any] = {}
            # Taken before the DuckDB snapshot: a batch leaves this list only after its apply commits,
            # so whatever the snapshot lacks is here, and its batch seq > applied_seq drops what it has.
            with self._lock:
                unapplied = list(self._unapplied.values())
            relations: dict[str, str] = {}
            ticket = self._catalog.ticket()  # before BEGIN: see CatalogCache
            cur.execute("BEGIN TRANSACTION")
            try:
                hot, files = self._catalog.sources_for(cur, ticket, tenant, start, end)
                for i, location in enumerate(f for f in files if self.archive.is_encrypted(f)):
                    relations[location] = f"_lw_encrypted{i}"  # read through Arrow, which decrypts it
                    cur.register(relations[location], self.archive.dataset(location))
                row_filters = file_filters = None
                if tokens:
                    row_filters = tokens_index.table_filters(cur, [table_name(k) for k in hot], tokens, params)
                    plain = [f for f in files if f not in relations]  # encrypted files are read whole
                    file_filters = tokens_index.table_filters(
                        cur, plain, tokens, params, column=archive_index.ROW_COLUMN, prefix="_atok"
                    )
                columns = None
                if attrs:
                    layouts = typed.table_layouts(cur, [table_name(k) for k in hot])
                    typed_tables = {name: layout.columns for name, layout in layouts.items()}
                    # Of a table storing attrs split, a key without a column is read from its shape (attrs_split.py).
                    split = frozenset(name for name, layout in layouts.items() if layout.split)
                    columns = typed.SourceColumns(attrs, typed_tables, typed.file_columns(cur, files), split)
                    for name, test in attr_ranges.range_filters(typed_tables, ranges).items():
                        row_filters = _and_test(row_filters, name, test)
                for name in (table_name(k) for k in hot):
                    if pushed:
                        row_filters = _and_test(row_filters, name, pushed)
                    if log_id is not None:
                        row_filters = _and_test(
                            row_filters, name, log_ids.stored_test(log_id, log_ids.is_split(cur, name))
                        )
                extra = None
                if unapplied:
                    cur.register("_unapplied", pa.concat_tables(unapplied))
                    extra = (
                        f"SELECT {SELECT_COLUMNS}{columns.memory() if columns else ''} FROM _unapplied "
                        f"WHERE tenant = $tenant AND (seq >> {SEQ_ROW_BITS}) > (SELECT applied_seq FROM {STATE_TABLE})"
                    )
                src = source_sql(tenant, hot, files, params, extra, row_filters, file_filters, columns, relations)
                return fn(cur, src, params)
            finally:
                cur.execute("ROLLBACK")
                if unapplied:
                    cur.unregister("_unapplied")
                for name in relations.values():
                    cur.unregister(name)

        # The running read's cursor, interrupted when its caller gives up (a role's query_timeout, a client gone):
        # without it the read would run on in its pool thread to the end, answering no one.
        running: list[duckdb.DuckDBPyConnection] = []
        running_lock = threading.Lock()
        abandoned = threading.Event()

        def on_cursor() -> T:
            cur = self._db.cursor()
            with running_lock:
                running.append(cur)
            try:
                if abandoned.is_set():
                    raise _ReadAbandonedError("the reader gave up before the read started")
                return attempt(cur)
            except (duckdb.IOException, duckdb.HTTPException):
                # An archive file deleted by retention after this snapshot listed it: look again.
                return attempt(cur)
            finally:
                with running_lock:
                    running.remove(cur)
                cur.close()

        def run() -> T:
            try:
                with self._gate.shared():
                    return on_cursor()
            except duckdb.OutOfMemoryException:
                pass
            # Concurrent reads share one memory limit (a Discover page asks for hits, histogram and fields at
            # once): run this one again alone, holding new reads back, before calling it too big.
            with self._gate.exclusive():
                try:
                    return on_cursor()
                except duckdb.OutOfMemoryException:
                    limit = ByteSize(self._config.store.memory_limit).human_readable(decimal=False)
                    raise StoreMemoryError(
                        f"the query needs more memory than store.memory_limit ({limit}) even when it runs alone: "
                        "narrow the query or its time range, or raise store.memory_limit"
                    ) from None

        if self._closed:
            raise StoreClosedError("the store is closed: logwarden is stopping")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._readers, run)
        except asyncio.CancelledError:
            abandoned.set()
            with running_lock:
                for cur in running:
                    with contextlib.suppress(duckdb.Error):
                        cur.interrupt()
            raise
        except RuntimeError:
            # The read pool refuses work once close() has shut it down (the race with the check above).
            if self._closed:
                raise StoreClosedError("the store is closed: logwarden is stopping") from None
            raise

    # The name other modules used before `read` was public.
    _read = read

    async def execute(self, plan: Plan) -> pa.Table:
        """Answer a plan node with an Arrow table (shapes in logwarden.plan.nodes), in one snapshot.

        Raises QuerySyntaxError for a plan the user has to fix (an unknown column after an aggregation,
        a text compared with a number in the data).
        """
        if isinstance(plan, ContextPlan):
            return await self._context(plan)
        prepared = prepare(plan)  # compiled here, so a bad query fails before any read
        return await self.read(
            plan.tenant,
            plan.start,
            max(plan.end, plan.start),
            prepared.run,
            tokens=prepared.tokens,
            attrs=prepared.attrs,
            ranges=attr_ranges.plan_ranges(plan),
            pushed=prepared.pushed,
        )

    async def _context(self, plan: ContextPlan) -> pa.Table:
        """The anchor line first, in a read whose day tables hold only rows that may have its id (the virtual
        `log_id` would otherwise be spelled for every row in range: ~1 s at 2M lines), then its neighbours."""
        end = max(plan.end, plan.start)
        anchor = await self.read(
            plan.tenant,
            plan.start,
            end,
            lambda cur, src, params: lines.anchor_line(cur, src, params, plan),
            log_id=plan.log_id,
        )
        if anchor.num_rows == 0:
            return anchor
        return await self.read(
            plan.tenant, plan.start, end, lambda cur, src, params: lines.lines_around(cur, src, params, plan, anchor)
        )

    async def search(self, query: SearchQuery) -> SearchResult:
        """Lines whose message holds every term, newest first (a SearchPlan; attrs decoded)."""
        table = await self.execute(
            SearchPlan(query.tenant, query.start, query.end, terms_filter(query.terms, query.equals), query.limit)
        )
        hits = table.to_pylist()
        for hit in hits:
            attrs = hit.get("attrs")
            hit["attrs"] = orjson.loads(attrs) if attrs else {}
        return SearchResult(meta_int(table, META_TOTAL), hits)

    async def count(self, query: CountQuery) -> CountResult:
        """Matching lines counted per group (core columns or attrs keys), largest groups first (a CountPlan)."""
        plan = CountPlan(
            query.tenant, query.start, query.end, terms_filter(query.terms, query.equals), query.by, query.limit
        )
        table = await self.execute(plan)
        return CountResult(meta_int(table, META_TOTAL), table.to_pylist())

    async def run_sql(self, request: SqlRequest) -> SqlAnswer:
        """Read-only user SQL (SqlCapability): validated, then run in a sandboxed worker over the tenant's rows
        in [start, end) read from one snapshot."""
        query = parse_read_only(request.statement)
        if self._sql_sandbox is None:
            self._sql_sandbox = SqlSandbox(self._config.sql)

        async def read_rows(fn: Any) -> None:
            await self.read(request.tenant, request.start, request.end, fn)

        try:
            return await self._sql_sandbox.run(
                query, read_rows, start=request.start, end=request.end, limit=request.limit, timeout=request.timeout
            )
        except (duckdb.OutOfMemoryException, duckdb.IOException, duckdb.InterruptException) as exc:
            # Reading the snapshot itself failed: the server's trouble, and worth a retry.
            raise SqlReadError(f"the query could not read its rows: {duckdb_message(exc)}") from None

    def close_sql(self) -> None:
        """Stop the spare SQL worker processes (statements still running finish or time out)."""
        if self._sql_sandbox is not None:
            self._sql_sandbox.close()

    async def delete_lines(
        self,
        tenant: str,
        node: FilterNode,
        start: datetime = delete.EARLIEST,
        end: datetime = delete.LATEST,
        *,
        where: str = "",
        dry_run: bool = False,
        compact: bool = False,
        on_progress: delete.Progress | None = None,
    ) -> delete.DeleteReport:
        """GDPR delete (store/duckdb/delete.py): count or remove `tenant`'s lines in [start, end) matching the
        filter `node` (`where` as the user wrote it) in the hot store and the archive; `compact` then rewrites
        hot.duckdb without free blocks."""
        return await delete.delete_lines(
            self, tenant, node, start, end, where=where, dry_run=dry_run, compact=compact, on_progress=on_progress
        )
