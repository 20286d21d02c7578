"""catalog.CatalogCache: queries skip the catalog read, yet see every partition and archive file change at once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from logwarden.store.base import PartitionKey
from logwarden.store.duckdb import DuckDBStore, catalog
from logwarden.store.duckdb.partitions import create_table_sql
from tests.conftest import make_config
from tests.unit.store.test_duckdb_store import NOW, batch, day_records, search_all

START = datetime(2026, 11, 20, tzinfo=UTC)
END = datetime(2026, 11, 23, tzinfo=UTC)
DAY1, DAY2 = date(2026, 11, 20), date(2026, 11, 21)


@pytest.fixture
def con(tmp_path: Path):  # type: ignore[no-untyped-def]
    c = duckdb.connect(str(tmp_path / "hot.duckdb"))
    catalog.create(c)
    yield c
    c.close()


def _read(cache: catalog.CatalogCache, con: duckdb.DuckDBPyConnection, ticket: catalog.Ticket) -> list[date]:
    con.execute("BEGIN TRANSACTION")
    try:
        hot, _ = cache.sources_for(con, ticket, "default", START, END)
        return sorted(k.day for k in hot)
    finally:
        con.execute("ROLLBACK")


def test_the_cache_answers_until_a_change(con: duckdb.DuckDBPyConnection) -> None:
    cache = catalog.CatalogCache()
    con.execute(create_table_sql(PartitionKey("default", DAY1)))
    assert _read(cache, con, cache.ticket()) == [DAY1]
    # A table created behind the cache's back is not seen: the second read came from the cache.
    con.execute(create_table_sql(PartitionKey("default", DAY2)))
    assert _read(cache, con, cache.ticket()) == [DAY1]
    with cache.changing():
        pass
    assert _read(cache, con, cache.ticket()) == [DAY1, DAY2]


def test_a_change_committed_between_ticket_and_begin_is_seen(con: duckdb.DuckDBPyConnection) -> None:
    cache = catalog.CatalogCache()
    con.execute(create_table_sql(PartitionKey("default", DAY1)))
    assert _read(cache, con, cache.ticket()) == [DAY1]
    ticket = cache.ticket()
    writer = con.cursor()
    try:
        with cache.changing():
            writer.execute(create_table_sql(PartitionKey("default", DAY2)))
    finally:
        writer.close()
    assert _read(cache, con, ticket) == [DAY1, DAY2]


def test_a_ticket_taken_during_a_change_reads_the_snapshot_and_caches_nothing(con: duckdb.DuckDBPyConnection) -> None:
    cache = catalog.CatalogCache()
    con.execute(create_table_sql(PartitionKey("default", DAY1)))
    with cache.changing():
        ticket = cache.ticket()
        # Begun before the change commits: the snapshot lacks it, and that answer must not be kept.
        assert _read(cache, con, ticket) == [DAY1]
        con.execute(create_table_sql(PartitionKey("default", DAY2)))
    assert _read(cache, con, cache.ticket()) == [DAY1, DAY2]


def test_a_change_committed_right_after_the_cache_answered_is_not_in_the_snapshot(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """DuckDB starts a snapshot at the transaction's first statement, not at BEGIN: a day table committed after
    the cache answered must not reach the reader's snapshot, whose rows would then disagree with its table list
    (the applier's batch leaves memory at that commit, and its rows were in no table the reader named)."""
    cache = catalog.CatalogCache()
    con.execute(create_table_sql(PartitionKey("default", DAY1)))
    assert _read(cache, con, cache.ticket()) == [DAY1]  # cached
    reader, writer = con.cursor(), con.cursor()
    try:
        ticket = cache.ticket()
        reader.execute("BEGIN TRANSACTION")
        hot, _ = cache.sources_for(reader, ticket, "default", START, END)
        with cache.changing():
            writer.execute(create_table_sql(PartitionKey("default", DAY2)))
        seen, _ = catalog.sources_for(reader, "default", START, END)  # the reader's snapshot itself
        reader.execute("ROLLBACK")
        assert [k.day for k in hot] == [DAY1]
        assert [k.day for k in seen] == [DAY1]
    finally:
        reader.close()
        writer.close()


def test_archive_files_come_from_the_cache_by_day(con: duckdb.DuckDBPyConnection) -> None:
    cache = catalog.CatalogCache()
    con.executemany(
        f"INSERT INTO {catalog.ARCHIVE_FILES} (tenant, day, path) VALUES (?, ?, ?)",
        [["default", DAY1, "b.parquet"], ["default", DAY1, "a.parquet"], ["default", date(2026, 11, 1), "old.parquet"]],
    )
    con.execute("BEGIN TRANSACTION")
    try:
        for _ in range(2):  # the second answer is the cache's
            assert cache.sources_for(con, cache.ticket(), "default", START, END) == ([], ["a.parquet", "b.parquet"])
    finally:
        con.execute("ROLLBACK")


async def test_a_query_right_after_a_new_day_table_sees_it(tmp_path: Path) -> None:
    store = DuckDBStore(make_config(tmp_path))
    try:
        await store.append(batch(day_records(DAY1, 3, "first")))
        await store.flush()
        assert len(await search_all(store)) == 3  # the tenant's catalog is cached now
        await store.append(batch(day_records(DAY2, 2, "second")))
        await store.flush()  # the rows are in the new table, no longer in memory
        assert len(await search_all(store)) == 5
        assert len(await search_all(store, "second")) == 2
    finally:
        await store.close()


async def test_a_query_right_after_retention_or_archive_sees_the_change(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"store.retention_days": 7, "archive.archive_after_days": 1})
    store = DuckDBStore(cfg)
    try:
        old, recent = date(2026, 11, 10), date(2026, 11, 18)
        await store.append(batch(day_records(old, 2, "old") + day_records(recent, 3, "recent")))
        await store.flush()
        assert len(await search_all(store)) == 5
        report = await store.maintain(now=NOW)
        assert report.dropped_hot == [PartitionKey("default", old)]
        assert report.archived == [PartitionKey("default", recent)]
        # A stale catalog would name a dropped table (an error) or miss the archive file.
        assert sorted(await search_all(store)) == [f"recent {i}" for i in range(3)]
        later = datetime(2026, 12, 1, tzinfo=UTC)
        report = await store.maintain(now=later)
        assert report.dropped_archive == [PartitionKey("default", recent)]
        assert await search_all(store) == []
    finally:
        await store.close()
