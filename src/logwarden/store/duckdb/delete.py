"""GDPR delete: remove a tenant's lines matching a filter from the hot store and rewrite the archive files holding any.

The filter is the search language's (`user_id:42`, `user_id:42 AND service:checkout`), without pipes, parsed by
the caller (api/routes/admin_delete.py `parse_delete_filter`) into a plan filter and a time range. It is compiled
to one DuckDB predicate on the stored columns (attributes read from the `attrs` JSON, which every table and file
holds whole), so it means exactly what a search means.

- **Ordering with ingest.** Every hot table is rewritten by a task on the applier thread, which first applies all
  that is queued: every line acknowledged before the delete reached that table is deleted with it, and nothing
  replayed later can bring it back (the ingest log only replays batches after the applied sequence number).
  Lines acknowledged after the delete began are new data and kept.
- **Hot tables.** One transaction per day table: its kept rows are copied into a new table of the same schema
  (typed attribute columns and zstd included) in rowid order, the old one dropped and the new one renamed, and
  the token filters rebuilt for the new rowids. A kill leaves the table as it was or as it is after.
- **Archive files.** Per file: the kept rows are written to a new file (temporary name, fsync, rename), its
  token filters built from it; then one transaction swaps it into the catalog for the old file and records the
  old path in `_archive_removing`; then the old file is removed. A kill before the swap leaves the new file in
  `_archive_pending` (removed at the next start); after it, the old file in `_archive_removing` (removed at the
  next start, before the archive root is reconciled, so it is never adopted again).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import duckdb

from logwarden.plan import filter as ast
from logwarden.plan.duckdb_filter import StoreFields, compile_node
from logwarden.plan.errors import QuerySyntaxError
from logwarden.store.base import PartitionKey
from logwarden.store.duckdb import archive_index, catalog, log_ids, typed
from logwarden.store.duckdb import tokens as tokens_index
from logwarden.store.duckdb.partitions import quote_ident, table_name
from logwarden.store.sql_quote import quote_literal

if TYPE_CHECKING:
    from logwarden.store.archive import ParquetArchive
    from logwarden.store.duckdb.store import DuckDBStore

log = logging.getLogger(__name__)

ARCHIVE_REMOVING = "_archive_removing"
_NEW_TABLE = "_lw_delete_copy"
# The widest range a filter without `_time` covers: every stored line.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)

_DATA_ERRORS = (duckdb.ConversionException, duckdb.OutOfRangeException, duckdb.InvalidInputException)

Progress = Callable[[str, int, int], None]
"""`on_progress(step, done, total)`: step is `hot <table>` or `archive <path>` as each one finishes."""


@dataclass(frozen=True, slots=True)
class DeleteFilter:
    """A compiled delete filter: the text as given, the predicate on stored rows and the days it may touch."""

    text: str
    predicate: str
    first: date
    last: date


@dataclass(slots=True)
class DeleteReport:
    """What a delete found (dry run) or removed: lines per hot table and per archive file, with matches only."""

    tenant: str
    where: str
    dry_run: bool
    hot: dict[str, int] = field(default_factory=dict)
    archive: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    compacted: bool = False

    @property
    def hot_lines(self) -> int:
        return sum(self.hot.values())

    @property
    def archive_lines(self) -> int:
        return sum(self.archive.values())

    def to_json(self) -> dict[str, Any]:
        """The report as the admin API and `logwarden delete --output json` show it."""
        return {
            "tenant": self.tenant,
            "where": self.where,
            "dry_run": self.dry_run,
            "lines": self.hot_lines + self.archive_lines,
            "hot_lines": self.hot_lines,
            "archive_lines": self.archive_lines,
            "hot_tables": [{"table": t, "lines": n} for t, n in sorted(self.hot.items())],
            "archive_files": [{"path": p, "lines": n} for p, n in sorted(self.archive.items())],
            "seconds": round(self.seconds, 3),
            "compacted": self.compacted,
        }


def compile_filter(node: ast.Node, tenant: str, start: datetime, end: datetime, text: str = "") -> DeleteFilter:
    """The predicate of a delete of `tenant`'s lines in [start, end) matching `node`; QuerySyntaxError for an
    empty filter (deleting every line of a tenant is retention's job, not a typo's)."""
    if isinstance(node, ast.MatchAll):
        raise QuerySyntaxError("a delete needs a filter (like user_id:42); an empty one would match every line", 1)
    start, end = max(start, EARLIEST), min(end, LATEST)
    tests = [
        f"tenant = {quote_literal(tenant)}",
        f"ts >= {_ts(start)}",
        f"ts < {_ts(end)}",
        compile_node(node, StoreFields()).sql(dialect="duckdb"),
    ]
    predicate = "(" + ") AND (".join(tests) + ")"
    return DeleteFilter(text, predicate, start.astimezone(UTC).date(), end.astimezone(UTC).date())


def _ts(value: datetime) -> str:
    return f"CAST('{value.astimezone(UTC).isoformat()}' AS TIMESTAMPTZ)"


def create(con: duckdb.DuckDBPyConnection) -> None:
    """The table of replaced archive files still to remove (a kill between the swap and the removal)."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {ARCHIVE_REMOVING} (path VARCHAR PRIMARY KEY)")


def recover(con: duckdb.DuckDBPyConnection, archive: ParquetArchive) -> None:
    """At start, before the archive root is reconciled: remove the files a delete replaced but had not removed
    yet (else they would be adopted again, deleted lines and all)."""
    create(con)
    for (location,) in con.execute(f"SELECT path FROM {ARCHIVE_REMOVING}").fetchall():
        log.warning("removing archive file %s replaced by a delete", location)
        archive.remove_file(archive.path_of(location))
        con.execute(f"DELETE FROM {ARCHIVE_REMOVING} WHERE path = ?", [location])


# --- counting --------------------------------------------------------------------------------


def _hot_tables(cur: duckdb.DuckDBPyConnection, tenant: str, flt: DeleteFilter) -> list[str]:
    keys = catalog.hot_partitions(cur, tenant)
    return [table_name(k) for k in keys if k.tenant == tenant and flt.first <= k.day <= flt.last]


def _archive_files(cur: duckdb.DuckDBPyConnection, tenant: str, flt: DeleteFilter) -> list[tuple[str, PartitionKey]]:
    rows = cur.execute(
        f"SELECT path, tenant, day, retention_class FROM {catalog.ARCHIVE_FILES} "
        "WHERE tenant = ? AND day BETWEEN ? AND ? ORDER BY path",
        [tenant, flt.first, flt.last],
    ).fetchall()
    return [(str(path), PartitionKey(t, day, klass or "")) for path, t, day, klass in rows]


def count_matches(
    cur: duckdb.DuckDBPyConnection, archive: ParquetArchive, tenant: str, flt: DeleteFilter
) -> tuple[dict[str, int], dict[str, int]]:
    """Matching lines per hot table and per archive file (only those with matches), in one snapshot."""
    cur.execute("BEGIN TRANSACTION")
    try:
        hot = {
            name: n
            for name in _hot_tables(cur, tenant, flt)
            if (n := _count(cur, f"{quote_ident(name)} WHERE {flt.predicate}"))
        }
        files: dict[str, int] = {}
        for location, _ in _archive_files(cur, tenant, flt):
            with archive.relation(cur, location) as rel:
                n = _count(cur, f"{rel} WHERE {flt.predicate}")
            if n:
                files[location] = n
    finally:
        cur.execute("ROLLBACK")
    return hot, files


def _count(cur: duckdb.DuckDBPyConnection, source: str) -> int:
    return int(cur.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0])


# --- hot tables ------------------------------------------------------------------------------


def delete_hot(con: duckdb.DuckDBPyConnection, name: str, predicate: str) -> int:
    """Applier thread: remove the rows of day table `name` matching `predicate` in one transaction (the table is
    rewritten, its token filters built again); returns the lines removed."""
    con.execute("BEGIN TRANSACTION")
    try:
        listed = con.execute(
            "SELECT sql FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' "
            "AND table_name = ?",
            [name],
        ).fetchall()
        removed = _count(con, f"{quote_ident(name)} WHERE {predicate}") if listed else 0
        if removed:
            ddl = _renamed_ddl(str(listed[0][0]), name, _NEW_TABLE)
            con.execute(ddl)
            # A copy rather than DELETE: DuckDB's checkpoint may vacuum deleted rows and move rowids, which the
            # token filters address; rows copied in rowid order into a fresh table get filters built for them.
            cols = log_ids.copy_list(con, name)  # not the generated log_id
            con.execute(
                f"INSERT INTO {_NEW_TABLE} ({cols}) SELECT {cols} FROM {quote_ident(name)} "
                f"WHERE NOT coalesce({predicate}, false) ORDER BY rowid"
            )
            con.execute(f"DROP TABLE {quote_ident(name)}")
            con.execute(f"ALTER TABLE {_NEW_TABLE} RENAME TO {quote_ident(name)}")
            tokens_index.forget(con, name)
            tokens_index.index_appended(con, name, 0)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return removed


def _renamed_ddl(sql: str, old: str, new: str) -> str:
    """A table's CREATE statement (as duckdb_tables() shows it) for a table named `new`."""
    for written in (quote_ident(old), old):
        head = f"CREATE TABLE {written}("
        if sql.startswith(head):
            return f"CREATE TABLE {new}(" + sql[len(head) :]
    match = re.match(r"CREATE TABLE (\"(?:[^\"]|\"\")+\"|\S+?)\s*\(", sql)
    if match is None:
        raise ValueError(f"unexpected CREATE statement for {old}: {sql[:80]}")
    return f"CREATE TABLE {new}(" + sql[match.end() :]


# --- archive files ---------------------------------------------------------------------------


def _new_part_id(location: str, predicate: str, removed: int) -> str:
    return hashlib.sha1(f"{location}|{predicate}|{removed}".encode()).hexdigest()[:16]


def rewrite_file(
    store: DuckDBStore, location: str, key: PartitionKey, predicate: str, on_step: Callable[[str], None]
) -> int:
    """Rewrite one archive file without the rows matching `predicate` (read thread; the swap runs on the applier
    thread); returns the lines removed (0 when the file is gone or holds none any more)."""
    archive = store.archive
    cur = store._db.cursor()
    try:
        with archive.relation(cur, location) as rel:
            removed = _count(cur, f"{rel} WHERE {predicate}")
            total = _count(cur, rel)
        if not removed:
            return 0
        kept = total - removed
        new_path = new_location = ""
        written: list[typed.TypedColumn] = []
        segments = None
        if kept:
            new_path = archive.part_path(key, _new_part_id(location, predicate, removed))
            new_location = archive.location(new_path)
            store._applier.run(
                lambda con: con.execute(f"INSERT OR IGNORE INTO {catalog.ARCHIVE_PENDING} VALUES (?)", [new_path])
            ).result()
            # The rows keep their order in the file (the archive's (ts, seq, log_id) order); a new file is
            # encrypted with the current key when encryption is on, whatever the old one was.
            with archive.relation(cur, location, row_numbers=True) as rel:
                reader = cur.sql(
                    f"SELECT * EXCLUDE (file_row_number) FROM {rel} "
                    f"WHERE NOT coalesce({predicate}, false) ORDER BY file_row_number"
                ).to_arrow_reader(64 * 1024)
                written = typed.schema_columns(reader.schema)
                archive.write(new_path, reader, dictionary=[c.column for c in written if c.type == "VARCHAR"])
            on_step("archive.written")
            segments = archive_index.build(cur, new_location, archive=archive)
    finally:
        cur.close()

    def swap(con: duckdb.DuckDBPyConnection) -> bool:
        con.execute("BEGIN TRANSACTION")
        try:
            listed = _count(con, f"{catalog.ARCHIVE_FILES} WHERE path = {quote_literal(location)}")
            if listed:
                archive_index.forget(con, location)
                con.execute(f"DELETE FROM {catalog.ARCHIVE_FILES} WHERE path = ?", [location])
                con.execute(f"INSERT OR IGNORE INTO {ARCHIVE_REMOVING} VALUES (?)", [location])
                if new_location:
                    con.execute(
                        f"INSERT OR REPLACE INTO {catalog.ARCHIVE_FILES} (tenant, day, path, retention_class) "
                        "VALUES (?, ?, ?, ?)",
                        [key.tenant, key.day, new_location, key.retention_class],
                    )
                    assert segments is not None
                    archive_index.store(con, new_location, kept, segments)
                typed.record_file(con, new_location or location, written)
            if new_path:
                con.execute(f"DELETE FROM {catalog.ARCHIVE_PENDING} WHERE path = ?", [new_path])
            with store._catalog.changing():  # the store's catalog cache: the file list changes
                con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return bool(listed)

    swapped = bool(store._applier.run(swap).result())
    on_step("archive.swapped")
    if not swapped:
        # Retention dropped the file meanwhile: the copy is not wanted.
        if new_path:
            archive.remove_file(new_path)
        return 0
    archive.remove_file(archive.path_of(location))
    store._applier.run(lambda con: con.execute(f"DELETE FROM {ARCHIVE_REMOVING} WHERE path = ?", [location])).result()
    return removed


# --- the whole delete ------------------------------------------------------------------------


async def delete_lines(
    store: DuckDBStore,
    tenant: str,
    node: ast.Node,
    start: datetime = EARLIEST,
    end: datetime = LATEST,
    *,
    where: str = "",
    dry_run: bool = False,
    compact: bool = False,
    on_progress: Progress | None = None,
    on_step: Callable[[str], None] | None = None,
) -> DeleteReport:
    """Count (dry run) or remove `tenant`'s lines in [start, end) matching `node` (the filter `where` as written)
    in the hot store and the archive.

    Runs while no maintenance does (archiving, retention and compaction wait for it). `on_step` is called at
    the crash-relevant points of each archive file (`archive.written`, `archive.swapped`): tests kill there. With
    `compact`, hot.duckdb is then compacted, so the removed rows' bytes leave its free blocks too."""
    flt = compile_filter(node, tenant, start, end, where)
    started = time.perf_counter()
    report = DeleteReport(tenant, where, dry_run)
    loop = asyncio.get_running_loop()
    step = on_step or (lambda _: None)
    async with store._maintaining:
        await store.flush()  # every line acknowledged so far is in a table the delete reads
        try:
            hot, files = await loop.run_in_executor(
                store._readers, store._with_cursor, lambda cur: count_matches(cur, store.archive, tenant, flt)
            )
        except _DATA_ERRORS as exc:
            # Nothing was changed yet: the filter is the user's to fix (a regex DuckDB refuses, a bad value).
            reason = str(exc).splitlines()[0]
            raise QuerySyntaxError(f"the filter cannot be evaluated on this data: {reason}", 1) from None
        if dry_run:
            report.hot, report.archive = hot, files
            report.seconds = time.perf_counter() - started
            return report
        total = len(hot) + len(files)
        done = 0
        for name in hot:
            removed = await asyncio.wrap_future(
                store._applier.run(functools.partial(delete_hot, name=name, predicate=flt.predicate))
            )
            if removed:
                report.hot[name] = removed
            done += 1
            if on_progress:
                on_progress(f"hot {name}", done, total)
        keys = dict(await loop.run_in_executor(store._readers, store._with_cursor, lambda cur: _keys(cur, files)))
        for location in files:
            removed = 0
            if location in keys:
                removed = await loop.run_in_executor(
                    store._readers, functools.partial(_shared, store, rewrite_file, location, keys[location], flt, step)
                )
            if removed:
                report.archive[location] = removed
            done += 1
            if on_progress:
                on_progress(f"archive {location}", done, total)
        if compact and report.hot:
            await store.compact_hot(force=True)
            report.compacted = True
    report.seconds = time.perf_counter() - started
    log.info(
        "deleted %d lines of tenant %s matching %r (%d hot tables, %d archive files) in %.1f s",
        report.hot_lines + report.archive_lines,
        tenant,
        where,
        len(report.hot),
        len(report.archive),
        report.seconds,
    )
    return report


def _keys(cur: duckdb.DuckDBPyConnection, files: dict[str, int]) -> list[tuple[str, PartitionKey]]:
    rows = cur.execute(
        f"SELECT path, tenant, day, retention_class FROM {catalog.ARCHIVE_FILES} WHERE list_contains(?, path)",
        [list(files)],
    ).fetchall()
    return [(str(path), PartitionKey(t, day, klass or "")) for path, t, day, klass in rows]


def _shared(
    store: DuckDBStore,
    fn: Callable[..., int],
    location: str,
    key: PartitionKey,
    flt: DeleteFilter,
    step: Callable[[str], None],
) -> int:
    # Holds the compaction swap gate shared, as reads do: the database file cannot be swapped under the copy.
    with store._gate.shared():
        return fn(store, location, key, flt.predicate, step)
