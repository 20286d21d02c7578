"""Day partitions compress message (and old tables their log_id) with zstd from their first checkpoint on."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from logwarden.store.base import PartitionKey
from logwarden.store.duckdb import compact
from logwarden.store.duckdb.partitions import ZSTD_COLUMNS, create_table_sql, quote_ident, table_name

KEY = PartitionKey("default", date(2026, 11, 21))


def test_new_partitions_store_zstd_columns_with_zstd(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "hot.duckdb"))
    try:
        con.execute(create_table_sql(KEY))
        name = quote_ident(table_name(KEY))
        con.execute(
            f"INSERT INTO {name} (ts, observed_ts, tenant, source, log_id_text, message) "
            "SELECT TIMESTAMPTZ '2026-11-21 00:00:00+00' + i * INTERVAL 1 SECOND, now(), 'default', 'http', "
            "'id-' || i, 'GET /api/v1/cart/' || (i % 977) || ' 200 in ' || (i % 97) || 'ms' FROM range(20000) t(i)"
        )
        con.execute("CHECKPOINT")
        used = dict(
            con.sql(
                f"SELECT column_name, list(DISTINCT compression) FROM pragma_storage_info({name!r}) "
                "WHERE segment_type = 'VARCHAR' GROUP BY 1"
            ).fetchall()
        )
        for column in ZSTD_COLUMNS:
            if column != "log_id":  # a generated column in new tables (log_ids.py): nothing stored
                assert used[column] == ["ZSTD"], used
        assert used["tenant"] != ["ZSTD"]  # the others keep DuckDB's own choice
        # Compaction expects nothing from recompressing them: its estimate is the free blocks alone.
        total, free = con.sql(
            "SELECT total_blocks, free_blocks FROM pragma_database_size() WHERE database_name = current_database()"
        ).fetchall()[0]
        assert compact.gain_ratio(con) == free / total
    finally:
        con.close()


def test_the_statement_says_it_as_duckdb_writes_it_back() -> None:
    con = duckdb.connect()
    try:
        con.execute(create_table_sql(KEY))
        stored = con.sql("SELECT sql FROM duckdb_tables()").fetchall()[0][0]
        assert compact._zstd_ddl(stored) == stored
        assert compact._zstd_ddl(create_table_sql(KEY)) == create_table_sql(KEY)
    finally:
        con.close()
