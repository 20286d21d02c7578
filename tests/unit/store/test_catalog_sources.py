"""catalog.sources_for: a query's hot partitions and archive files in one statement, from the store's own database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from logwarden.store.base import PartitionKey
from logwarden.store.duckdb import catalog
from logwarden.store.duckdb.partitions import create_table_sql

START = datetime(2026, 11, 20, 12, tzinfo=UTC)
END = datetime(2026, 11, 22, 12, tzinfo=UTC)


def test_partitions_and_files_of_the_tenant_in_the_range(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "hot.duckdb"))
    try:
        catalog.create(con)
        for key in (
            PartitionKey("default", date(2026, 11, 19)),  # before the range
            PartitionKey("default", date(2026, 11, 21)),
            PartitionKey("default", date(2026, 11, 22), "audit"),
            PartitionKey("Default", date(2026, 11, 21)),  # another tenant (case matters)
        ):
            con.execute(create_table_sql(key))
        con.executemany(
            f"INSERT INTO {catalog.ARCHIVE_FILES} (tenant, day, path) VALUES (?, ?, ?)",
            [
                ["default", date(2026, 11, 20), "b.parquet"],
                ["default", date(2026, 11, 20), "a.parquet"],
                ["default", date(2026, 11, 10), "old.parquet"],
                ["other", date(2026, 11, 20), "other.parquet"],
            ],
        )
        # A compaction copy attached beside the store has the same table names: they are not partitions here.
        con.execute(f"ATTACH '{tmp_path / 'hot.duckdb.compact'}' AS _compact_dst")
        con.execute(
            create_table_sql(PartitionKey("default", date(2026, 11, 21))).replace('EXISTS "', 'EXISTS _compact_dst."')
        )
        hot, files = catalog.sources_for(con, "default", START, END)
        assert hot == [
            PartitionKey("default", date(2026, 11, 22), "audit"),
            PartitionKey("default", date(2026, 11, 21)),
        ]
        assert files == ["a.parquet", "b.parquet"]
        assert catalog.sources_for(con, "nobody", START, END) == ([], [])
    finally:
        con.close()
