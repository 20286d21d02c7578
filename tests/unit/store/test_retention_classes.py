"""Retention classes: lines routed to a class live in partitions of their own with the class's retention."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from logwarden.store.base import PartitionKey
from logwarden.store.duckdb import DuckDBStore
from tests.conftest import make_config
from tests.unit.store.test_duckdb_store import NOW, batch, day_records, search_all

OLD = date(2026, 11, 10)  # 11 days before NOW


def classed(day: date, n: int, klass: str | None, word: str) -> list[dict]:
    records = day_records(day, n, word)
    if klass is not None:
        for r in records:
            r["retention_class"] = klass
    return records


async def test_classes_partition_search_together_and_expire_on_their_own(tmp_path: Path) -> None:
    cfg = make_config(
        tmp_path,
        **{
            "store.retention_days": 7,
            "store.retention_classes": {"audit": 30, "debug": 1},
            "archive.enabled": False,
        },
    )
    store = DuckDBStore(cfg)
    try:
        yesterday = date(2026, 11, 19)
        await store.append(
            batch(
                classed(OLD, 2, "audit", "audit")
                + classed(OLD, 2, None, "plain")
                + classed(yesterday, 2, "debug", "debug")
                + classed(yesterday, 2, "nosuchclass", "unknown")
            )
        )
        await store.flush()
        hot, _ = store.partitions()
        assert sorted(hot, key=str) == sorted(
            [
                PartitionKey("default", OLD),
                PartitionKey("default", OLD, "audit"),
                PartitionKey("default", yesterday),
                PartitionKey("default", yesterday, "debug"),
            ],
            key=str,
        )
        # One search sees every class of the tenant.
        assert len(await search_all(store)) == 8
        report = await store.maintain(now=NOW)
        # 7 days for the tenant, 1 day for debug, 30 days for audit; an unknown class keeps the tenant's.
        assert sorted(report.dropped_hot, key=str) == sorted(
            [PartitionKey("default", OLD), PartitionKey("default", yesterday, "debug")], key=str
        )
        assert len(await search_all(store, "audit")) == 2
        assert len(await search_all(store, "unknown")) == 2
        assert await search_all(store, "plain") == []
        assert await search_all(store, "debug") == []
    finally:
        await store.close()


async def test_archived_classes_keep_their_own_files_and_retention(tmp_path: Path) -> None:
    cfg = make_config(
        tmp_path,
        **{"store.retention_days": 7, "store.retention_classes": {"audit": 30}, "archive.archive_after_days": 1},
    )
    store = DuckDBStore(cfg)
    try:
        day = date(2026, 11, 18)
        await store.append(batch(classed(day, 3, "audit", "audit") + classed(day, 3, None, "plain")))
        report = await store.maintain(now=NOW)
        assert sorted(report.archived, key=str) == sorted(
            [PartitionKey("default", day), PartitionKey("default", day, "audit")], key=str
        )
        root = Path(cfg.archive_root) / "tenant=default" / "date=2026-11-18"
        assert len(list(root.glob("part-*.parquet"))) == 1
        assert len(list((root / "class=audit").glob("part-*.parquet"))) == 1
        assert len(await search_all(store)) == 6
        # Ten days later the plain lines are past 7 days; the audit lines stay, files and all.
        later = NOW.replace(day=28)
        report = await store.maintain(now=later)
        assert report.dropped_archive == [PartitionKey("default", day)]
        assert list(root.glob("part-*.parquet")) == []
        assert len(list((root / "class=audit").glob("part-*.parquet"))) == 1
        assert len(await search_all(store, "audit")) == 3
        assert await search_all(store, "plain") == []
    finally:
        await store.close()

    # The class survives a restart (the catalog and the archive scan both know it).
    reopened = DuckDBStore(cfg)
    try:
        assert reopened.partitions()[1] == [PartitionKey("default", day, "audit")]
    finally:
        await reopened.close()
