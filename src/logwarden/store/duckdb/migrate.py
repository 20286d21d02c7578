"""Upgrades a hot store written by an older logwarden, at open, before anything reads or writes it.

- Partition tables get the `seq` column (rows stored before it keep null: they sort first, then by log_id).
- Format 2 encodes the tenant in table names injectively (partitions.encode_tenant). Older stores named
  tables with the tenant as given, and DuckDB matches names case-insensitively, so `Gamma`'s rows could
  land in `gamma`'s table: every table is split by its rows' tenant column into the tables they belong in.
- Stream dedup marks are re-keyed by (tenant, stream) (store/dedup.py).
"""

from __future__ import annotations

import logging

import duckdb

from logwarden.model.schema import SEQ_COLUMN, STORED_COLUMNS
from logwarden.store.base import PartitionKey
from logwarden.store.dedup import SOURCE, migrate_hwm
from logwarden.store.duckdb import log_ids, tokens
from logwarden.store.duckdb.partitions import (
    TABLE_PREFIX,
    create_table_sql,
    parse_table_name,
    quote_ident,
    split_table_name,
    table_name,
)

log = logging.getLogger(__name__)

FORMAT_TABLE = "_store_format"
FORMAT = 2


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Bring the store to the current format (idempotent; cheap when there is nothing to do)."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {FORMAT_TABLE} (version INTEGER NOT NULL)")
    tokens.create(con)
    rows = con.execute(f"SELECT version FROM {FORMAT_TABLE}").fetchall()
    version = int(rows[0][0]) if rows else 1
    add_seq_columns(con)
    if version < 2:
        split_tenant_tables(con)
    if migrate_hwm(con, _stream_rows_sql(con)):
        log.info("stream dedup marks re-keyed by tenant")
    index_partitions(con)
    con.execute(f"DELETE FROM {FORMAT_TABLE}")
    con.execute(f"INSERT INTO {FORMAT_TABLE} VALUES (?)", [FORMAT])


def index_partitions(con: duckdb.DuckDBPyConnection) -> None:
    """Build the block filters of day tables written before them or in an older layout (one pass per table,
    each in its own transaction: a crash leaves the table read whole, and the next start builds it again)."""
    for name in _partition_tables(con):
        if not tokens.needs_rebuild(con, name):
            continue
        log.info("building the block index of %s", name)
        con.execute("BEGIN TRANSACTION")
        try:
            tokens.rebuild(con, name)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


def _partition_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND starts_with(table_name, ?) "
        "ORDER BY table_name",
        [TABLE_PREFIX],
    ).fetchall()
    return [name for (name,) in rows if split_table_name(name) is not None]


def add_seq_columns(con: duckdb.DuckDBPyConnection) -> None:
    """ALTER every partition table without a `seq` column (a catalog change: no data is rewritten)."""
    with_seq = {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_columns() WHERE schema_name = 'main' AND column_name = ?", [SEQ_COLUMN]
        ).fetchall()
    }
    missing = [name for name in _partition_tables(con) if name not in with_seq]
    for name in missing:
        con.execute(f"ALTER TABLE {quote_ident(name)} ADD COLUMN {SEQ_COLUMN} BIGINT")
    if missing:
        log.info("added the seq column to %d partition tables", len(missing))


def split_tenant_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Move every partition's rows into the table their own tenant column names (format 2 names)."""
    moved = 0
    for i, name in enumerate(_partition_tables(con)):
        split = split_table_name(name)
        assert split is not None
        _, day, klass = split
        tenants = [t for (t,) in con.execute(f"SELECT DISTINCT tenant FROM {quote_ident(name)}").fetchall()]
        targets = {t: table_name(PartitionKey(t, day, klass)) for t in tenants}
        if all(target == name for target in targets.values()) and (tenants or parse_table_name(name)):
            continue
        old = f"_migrating${i}"
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"ALTER TABLE {quote_ident(name)} RENAME TO {quote_ident(old)}")
            tokens.forget(con, name)
            for tenant, target in targets.items():
                con.execute(create_table_sql(PartitionKey(tenant, day, klass)))
                tokens.forget(con, target)
                columns, values = log_ids.insert_lists(STORED_COLUMNS, log_ids.is_split(con, target))
                con.execute(
                    f"INSERT INTO {quote_ident(target)} ({columns}) SELECT {values} FROM {quote_ident(old)} "
                    "WHERE tenant = ?",
                    [tenant],
                )
            con.execute(f"DROP TABLE {quote_ident(old)}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        moved += 1
        log.info("partition table %s split by tenant into %s", name, sorted(targets.values()))
    if moved:
        log.info("moved %d partition tables to tenant-encoded names", moved)


def _stream_rows_sql(con: duckdb.DuckDBPyConnection) -> str | None:
    """tenant, log_id and source of the native API's `<stream>@<offset>` lines in every hot partition."""
    selects = [
        f"SELECT tenant, log_id, source FROM {quote_ident(name)} WHERE source = '{SOURCE}' AND contains(log_id, '@')"
        for name in _partition_tables(con)
        if parse_table_name(name) is not None
    ]
    return " UNION ALL ".join(selects) if selects else None
