"""DuckDBStore: partitions, search, counts, retention and the Parquet archive (with a fixed clock)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from logwarden.config import Config
from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.store.base import CountQuery, PartitionKey, SearchQuery
from logwarden.store.duckdb import DuckDBStore
from tests.conftest import make_config

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ALL_TIME = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def batch(records: list[dict], tenant: str = "default"):  # type: ignore[no-untyped-def]
    body = b"\n".join(orjson.dumps(r) for r in records)
    decoded = decode_json_body(body)
    return normalize(decoded.records, BatchContext(tenant, "http", NOW))


def day_records(day: date, n: int, word: str = "event") -> list[dict]:
    return [{"ts": f"{day.isoformat()}T{i % 24:02d}:00:00Z", "msg": f"{word} {i}", "service": "svc"} for i in range(n)]


async def search_all(store: DuckDBStore, *terms: str, tenant: str = "default") -> list[str]:
    result = await store.search(SearchQuery(tenant, *ALL_TIME, terms=terms, limit=10_000))
    assert result.total == len(result.hits)
    return [h["message"] for h in result.hits]


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = DuckDBStore(make_config(tmp_path))
    yield s
    await s.close()


async def test_partitions_by_tenant_and_day(store: DuckDBStore) -> None:
    d1, d2 = date(2026, 11, 20), date(2026, 11, 21)
    await store.append(batch(day_records(d1, 3) + day_records(d2, 2)))
    await store.append(batch(day_records(d2, 4), tenant="acme"))
    assert store.partitions() == ([], [])  # acknowledged and searchable, not yet applied
    assert len(await search_all(store, "event")) == 5
    await store.flush()
    hot, archived = store.partitions()
    assert hot == [PartitionKey("acme", d2), PartitionKey("default", d1), PartitionKey("default", d2)]
    assert archived == []
    assert len(await search_all(store, "event")) == 5
    assert len(await search_all(store, "event", tenant="acme")) == 4


async def test_time_range_prunes_partitions_and_orders_newest_first(store: DuckDBStore) -> None:
    await store.append(batch(day_records(date(2026, 11, 19), 2) + day_records(date(2026, 11, 21), 2)))
    start = datetime(2026, 11, 21, tzinfo=UTC)
    result = await store.search(SearchQuery("default", start, start + timedelta(days=1)))
    assert [h["message"] for h in result.hits] == ["event 1", "event 0"]
    assert result.hits[0]["ts"] > result.hits[1]["ts"]


async def test_search_terms_are_case_insensitive_and_all_required(store: DuckDBStore) -> None:
    await store.append(
        batch(
            [
                {"msg": "Connection REFUSED by db", "ts": "2026-11-21T01:00:00Z"},
                {"msg": "connection reset", "ts": "2026-11-21T01:00:01Z"},
                {"msg": "refused", "ts": "2026-11-21T01:00:02Z"},
            ]
        )
    )
    assert await search_all(store, "connection", "refused") == ["Connection REFUSED by db"]
    assert await search_all(store, "CONNECTION") == ["connection reset", "Connection REFUSED by db"]
    assert await search_all(store, "50%_off") == []


async def test_search_limit_keeps_total(store: DuckDBStore) -> None:
    await store.append(batch(day_records(date(2026, 11, 21), 20)))
    result = await store.search(SearchQuery("default", *ALL_TIME, limit=5))
    assert result.total == 20
    assert len(result.hits) == 5


async def test_count_by_core_and_attrs_fields(store: DuckDBStore) -> None:
    records = [
        {
            "ts": "2026-11-21T01:00:00Z",
            "service": "api",
            "level": "error",
            "msg": "a",
            "http": {"status": 500},
        },
        {
            "ts": "2026-11-21T01:00:01Z",
            "service": "api",
            "level": "error",
            "msg": "b",
            "http": {"status": 500},
        },
        {
            "ts": "2026-11-21T01:00:02Z",
            "service": "api",
            "level": "info",
            "msg": "c",
            "http": {"status": 200},
        },
        {"ts": "2026-11-21T01:00:03Z", "service": "web", "level": "info", "msg": "d"},
    ]
    await store.append(batch(records))
    result = await store.count(CountQuery("default", *ALL_TIME, by=("service", "level")))
    assert result.total == 4
    assert result.rows[0] == {"service": "api", "level": "ERROR", "count": 2}
    assert sorted((r["service"], r["level"], r["count"]) for r in result.rows) == [
        ("api", "ERROR", 2), ("api", "INFO", 1), ("web", "INFO", 1)
    ]  # fmt: skip
    by_status = await store.count(CountQuery("default", *ALL_TIME, by=("attrs.http.status",)))
    assert {r["attrs.http.status"]: r["count"] for r in by_status.rows} == {"500": 2, "200": 1, None: 1}
    limited = await store.count(CountQuery("default", *ALL_TIME, by=("service",), limit=1))
    assert limited.total == 4 and limited.rows == [{"service": "api", "count": 3}]


async def test_retention_drops_whole_partitions(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"store.retention_days": 3, "archive.enabled": False})
    store = DuckDBStore(cfg)
    try:
        old, edge, fresh = date(2026, 11, 17), date(2026, 11, 18), date(2026, 11, 21)
        await store.append(batch(day_records(old, 3, "old") + day_records(edge, 3, "edge") + day_records(fresh, 3)))
        report = await store.maintain(now=NOW)
        # 2026-11-17 ended more than 3 days before NOW; 2026-11-18 ends 2026-11-19 00:00, less than 3 days ago.
        assert report.dropped_hot == [PartitionKey("default", old)]
        assert [k.day for k in store.partitions()[0]] == [edge, fresh]
        assert await search_all(store, "old") == []
        assert len(await search_all(store, "edge")) == 3
        # Idempotent: nothing more to drop.
        assert (await store.maintain(now=NOW)).dropped_hot == []
    finally:
        await store.close()


async def test_per_tenant_retention_override(tmp_path: Path) -> None:
    cfg = make_config(
        tmp_path,
        **{
            "store.retention_days": 2,
            "store.tenants": {"keep": {"retention_days": 30}},
            "archive.enabled": False,
        },
    )
    store = DuckDBStore(cfg)
    try:
        old = date(2026, 11, 10)
        await store.append(batch(day_records(old, 2), tenant="keep"))
        await store.append(batch(day_records(old, 2), tenant="default"))
        report = await store.maintain(now=NOW)
        assert report.dropped_hot == [PartitionKey("default", old)]
        assert len(await search_all(store, "event", tenant="keep")) == 2
    finally:
        await store.close()


async def test_archive_writes_parquet_layout_and_stays_searchable(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"archive.archive_after_days": 1, "store.retention_days": 7})
    store = DuckDBStore(cfg)
    try:
        old, fresh = date(2026, 11, 18), date(2026, 11, 21)
        await store.append(batch(day_records(old, 50, "archived") + day_records(fresh, 5, "hot")))
        report = await store.maintain(now=NOW)
        assert report.archived == [PartitionKey("default", old)]
        hot, archived = store.partitions()
        assert hot == [PartitionKey("default", fresh)]
        assert archived == [PartitionKey("default", old)]
        files = list((Path(cfg.archive_root) / "tenant=default" / "date=2026-11-18").glob("part-*.parquet"))
        assert len(files) == 1
        meta = pq.ParquetFile(files[0]).metadata
        assert meta.num_rows == 50
        assert meta.row_group(0).column(0).compression == "ZSTD"
        # The same search API finds archived and hot lines together.
        assert len(await search_all(store, "archived")) == 50
        assert len(await search_all(store, "hot")) == 5
        counts = await store.count(CountQuery("default", *ALL_TIME, by=("service",)))
        assert counts.total == 55
        # Late data for an archived day goes hot again and is archived as a second part.
        await store.append(batch(day_records(old, 2, "late")))
        assert len(await search_all(store, "late")) == 2
        await store.maintain(now=NOW)
        assert len(list(files[0].parent.glob("part-*.parquet"))) == 2
        assert len(await search_all(store, "archived")) == 50
        assert len(await search_all(store, "late")) == 2
    finally:
        await store.close()


async def test_archive_survives_restart_and_retention_drops_it(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"archive.archive_after_days": 1, "store.retention_days": 5})
    store = DuckDBStore(cfg)
    await store.append(batch(day_records(date(2026, 11, 18), 10)))
    await store.maintain(now=NOW)
    await store.close()
    store = DuckDBStore(cfg)
    try:
        assert store.partitions() == ([], [PartitionKey("default", date(2026, 11, 18))])
        assert len(await search_all(store, "event")) == 10
        later = NOW + timedelta(days=3)
        report = await store.maintain(now=later)
        assert report.dropped_archive == [PartitionKey("default", date(2026, 11, 18))]
        assert not (Path(cfg.archive_root) / "tenant=default" / "date=2026-11-18").exists()
        assert await search_all(store, "event") == []
    finally:
        await store.close()


async def test_archive_to_fsspec_url(tmp_path: Path) -> None:
    import fsspec

    cfg = make_config(tmp_path, **{"archive.root": "memory://lw-archive-test", "archive.archive_after_days": 1})
    store = DuckDBStore(cfg)
    try:
        await store.append(batch(day_records(date(2026, 11, 18), 7)))
        await store.maintain(now=NOW)
        fs = fsspec.filesystem("memory")
        found = fs.glob("/lw-archive-test/tenant=default/date=2026-11-18/part-*.parquet")
        assert len(found) == 1
        assert len(await search_all(store, "event")) == 7
    finally:
        await store.close()
        fsspec.filesystem("memory").rm("/lw-archive-test", recursive=True)


async def test_interrupted_archive_is_cleaned_up_on_start(tmp_path: Path) -> None:
    """A crash after writing the Parquet file but before dropping the hot table leaves no duplicate."""
    cfg = make_config(tmp_path, **{"archive.archive_after_days": 1})
    store = DuckDBStore(cfg)
    await store.append(batch(day_records(date(2026, 11, 18), 4)))
    stray = store.archive.part_path(PartitionKey("default", date(2026, 11, 18)), "deadbeef")
    store._applier.run(lambda con: con.execute("INSERT INTO _archive_pending VALUES (?)", [stray])).result()
    Path(stray).parent.mkdir(parents=True)
    Path(stray).write_bytes(b"partial")
    await store.close()
    store = DuckDBStore(cfg)
    try:
        assert not Path(stray).exists()
        assert store.partitions()[1] == []
        assert len(await search_all(store, "event")) == 4
    finally:
        await store.close()


def test_config_rejects_archive_after_retention(tmp_path: Path) -> None:
    from logwarden.config import ConfigError

    with pytest.raises(ConfigError, match="archive_after_days"):
        make_config(tmp_path, **{"archive.archive_after_days": 9, "store.retention_days": 7})


def test_store_config_type(tmp_path: Path) -> None:
    assert isinstance(make_config(tmp_path), Config)


async def test_reads_see_each_line_once_while_batches_move_into_duckdb(tmp_path: Path) -> None:
    """Between acknowledgement and apply a batch lives in memory; no read may miss or double it."""
    import asyncio

    cfg = make_config(tmp_path, **{"store.apply_interval": "20ms"})
    store = DuckDBStore(cfg)
    try:
        expected = 0
        for round_ in range(30):
            # A new day each round: the apply creates a partition table while reads run.
            await store.append(batch(day_records(date(2026, 10, 1) + timedelta(days=round_), 7, f"r{round_}")))
            expected += 7
            result = await store.count(CountQuery("default", *ALL_TIME))
            assert result.total == expected
            await asyncio.sleep(0.005)
        await store.flush()
        assert store.unapplied_bytes == 0
        assert (await store.count(CountQuery("default", *ALL_TIME))).total == expected
    finally:
        await store.close()


CRASHING_WRITER = """
import asyncio, os, sys
from tests.unit.store.test_duckdb_store import batch, day_records, make_config
from logwarden.store.duckdb import DuckDBStore
from datetime import date
from pathlib import Path

async def main():
    cfg = make_config(Path(sys.argv[1]), **{"store.apply_interval": "1h"})
    store = DuckDBStore(cfg)
    await store.append(batch(day_records(date(2026, 11, 21), 5, "before")))
    await store.flush()  # in DuckDB: must not be replayed a second time
    await store.append(batch(day_records(date(2026, 11, 21), 4, "pending")))  # acknowledged, only in the log
    assert store.unapplied_bytes > 0
    os._exit(0)  # no apply, no checkpoint, no close: as if killed

asyncio.run(main())
"""


async def test_acknowledged_batches_survive_a_crash_before_apply(tmp_path: Path) -> None:
    """A process dies with batches in the log that DuckDB never got; the next start replays them once."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(tmp_path)], check=True, cwd=root, timeout=60)
    cfg = make_config(tmp_path)
    for _ in range(2):  # a second restart must not replay anything again
        store = DuckDBStore(cfg)
        try:
            assert store.unapplied_bytes == 0
            assert len(await search_all(store, "before")) == 5
            assert len(await search_all(store, "pending")) == 4
        finally:
            await store.close()
