"""What the hot store holds, read inside a transaction so that it matches that transaction's data.

Day partitions are the tables `logs$<encoded tenant>$<YYYYMMDD>` (partitions.encode_tenant; DuckDB's
catalog is versioned like rows, so a reader sees exactly the tables of its snapshot); archived Parquet
files are rows of `_archive_files`, added in the same transaction that drops the partition they replace;
`_archive_pending` remembers archive files being written, so a crash mid-archive leaves no stray copy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb

from logwarden.store.base import PartitionKey
from logwarden.store.duckdb.partitions import TABLE_PREFIX, encode_tenant, overlapping, parse_table_name

ARCHIVE_FILES = "_archive_files"
ARCHIVE_PENDING = "_archive_pending"

DDL = (
    f"CREATE TABLE IF NOT EXISTS {ARCHIVE_FILES} "
    "(tenant VARCHAR NOT NULL, day DATE NOT NULL, path VARCHAR PRIMARY KEY)",
    # Added after the first release: stores created before it get the column here.
    f"ALTER TABLE {ARCHIVE_FILES} ADD COLUMN IF NOT EXISTS retention_class VARCHAR DEFAULT ''",
    f"CREATE TABLE IF NOT EXISTS {ARCHIVE_PENDING} (path VARCHAR PRIMARY KEY)",
)


def create(con: duckdb.DuckDBPyConnection) -> None:
    for statement in DDL:
        con.execute(statement)


def hot_partitions(con: duckdb.DuckDBPyConnection, tenant: str | None = None) -> list[PartitionKey]:
    prefix = TABLE_PREFIX + (f"{encode_tenant(tenant)}$" if tenant else "")
    rows = con.sql(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND starts_with(table_name, $prefix)",
        params={"prefix": prefix},
    ).fetchall()
    keys = [parse_table_name(name) for (name,) in rows]
    return sorted((k for k in keys if k is not None), key=lambda k: (k.tenant, k.day))


def archived_partitions(con: duckdb.DuckDBPyConnection) -> list[PartitionKey]:
    rows = con.sql(
        f"SELECT DISTINCT tenant, day, retention_class FROM {ARCHIVE_FILES} ORDER BY tenant, day, retention_class"
    ).fetchall()
    return [PartitionKey(tenant, day, klass) for tenant, day, klass in rows]


def archived_files(con: duckdb.DuckDBPyConnection, tenant: str, first: date, last: date) -> list[str]:
    rows = con.sql(
        f"SELECT path FROM {ARCHIVE_FILES} WHERE tenant = $tenant AND day BETWEEN $first AND $last ORDER BY path",
        params={"tenant": tenant, "first": first, "last": last},
    ).fetchall()
    return [path for (path,) in rows]


def sources_for(
    con: duckdb.DuckDBPyConnection, tenant: str, start: datetime, end: datetime
) -> tuple[list[PartitionKey], list[str]]:
    """Hot partitions and archive files of `tenant` overlapping [start, end), in this transaction's view.

    One statement for both (every query pays it: about half the time of two); only the store's own database,
    not a compaction copy attached beside it."""
    first, last = _days(start, end)
    rows = con.execute(
        "SELECT table_name, NULL FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND starts_with(table_name, ?) "
        f"UNION ALL SELECT NULL, path FROM {ARCHIVE_FILES} WHERE tenant = ? AND day BETWEEN ? AND ?",
        [TABLE_PREFIX + f"{encode_tenant(tenant)}$", tenant, first, last],
    ).fetchall()
    keys = [parse_table_name(name) for name, _ in rows if name is not None]
    hot = overlapping([k for k in keys if k is not None], tenant, start, end)
    return hot, sorted(path for name, path in rows if name is None)


def _tenant_sources(con: duckdb.DuckDBPyConnection, tenant: str) -> tuple[list[PartitionKey], list[tuple[date, str]]]:
    """Every hot partition and archive file (day, path) of `tenant`, in this transaction's view."""
    rows = con.execute(
        "SELECT table_name, NULL, NULL FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND starts_with(table_name, ?) "
        f"UNION ALL SELECT NULL, day, path FROM {ARCHIVE_FILES} WHERE tenant = ?",
        [TABLE_PREFIX + f"{encode_tenant(tenant)}$", tenant],
    ).fetchall()
    keys = [parse_table_name(name) for name, _, _ in rows if name is not None]
    return [k for k in keys if k is not None], [(day, path) for name, day, path in rows if name is None]


@dataclass(frozen=True, slots=True)
class Ticket:
    """What a reader saw of the cache before its transaction began (see CatalogCache)."""

    generation: int
    quiet: bool


@dataclass(frozen=True, slots=True)
class _Entry:
    generation: int
    hot: list[PartitionKey]
    files: list[tuple[date, str]]


class CatalogCache:
    """The tenants' hot partitions and archive files, so a query does not read the catalog (~1.4 ms) every time.

    Every change of partitions or archive files runs inside `changing()`, which bumps a generation before and after
    the change commits (a seqlock). A reader takes a `ticket()` before BEGIN and calls `sources_for` after it: the
    cache answers only when no change was running at the ticket and the generation has not moved since, i.e. when
    the reader's snapshot holds exactly the changes finished before the ticket; otherwise the catalog is read in the
    snapshot, as without a cache. DuckDB takes a transaction's snapshot at its first statement, not at BEGIN, so
    `sources_for` pins it (`pin_snapshot`) before it looks at the generation. A change made outside `changing()`
    would go unseen until the next one: every writer of day tables or `_archive_files` on a running store must
    use it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._changing = 0
        self._entries: dict[str, _Entry] = {}

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Wrap a transaction (or autocommit statements) that creates or drops day tables or archive files."""
        with self._lock:
            self._generation += 1
            self._changing += 1
            self._entries.clear()
        try:
            yield
        finally:
            with self._lock:
                self._generation += 1
                self._changing -= 1
                self._entries.clear()

    def ticket(self) -> Ticket:
        """Taken before the reader's BEGIN."""
        with self._lock:
            return Ticket(self._generation, self._changing == 0)

    def sources_for(
        self, con: duckdb.DuckDBPyConnection, ticket: Ticket, tenant: str, start: datetime, end: datetime
    ) -> tuple[list[PartitionKey], list[str]]:
        """`sources_for` of this module, from the cache when the reader's snapshot (begun after `ticket`) allows."""
        # Pinned before the check: a change committed after it must not reach a snapshot the cache answers for.
        pin_snapshot(con)
        with self._lock:
            usable = ticket.quiet and ticket.generation == self._generation
            entry = self._entries.get(tenant) if usable else None
        if not usable:
            return sources_for(con, tenant, start, end)
        if entry is None or entry.generation != ticket.generation:
            hot, files = _tenant_sources(con, tenant)
            entry = _Entry(ticket.generation, hot, files)
            with self._lock:
                if self._generation == ticket.generation:  # a change since: its clear() must win
                    self._entries[tenant] = entry
        first, last = _days(start, end)
        return overlapping(entry.hot, tenant, start, end), sorted(p for day, p in entry.files if first <= day <= last)


def pin_snapshot(con: duckdb.DuckDBPyConnection) -> None:
    """Start the snapshot of `con`'s open transaction now (DuckDB starts it at the first statement that reads the
    database, not at BEGIN): a statement that binds a table of the store's database and reads no row."""
    con.execute(f"SELECT 1 FROM {ARCHIVE_FILES} LIMIT 0").fetchall()


def _days(start: datetime, end: datetime) -> tuple[date, date]:
    return start.astimezone(UTC).date(), end.astimezone(UTC).date()
