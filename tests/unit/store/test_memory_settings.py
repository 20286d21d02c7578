"""The hot store's DuckDB gets its memory settings from the config (issue 13: peak RSS during ingest).

Large apply transactions skip DuckDB's WAL, so the WAL-size checkpoint seldom runs during ingest and rows not yet
checkpointed fill DuckDB's buffer pool: `store.memory_limit` is what bounds them (docs/storage.md, Memory).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from logwarden.config.model import StoreConfig
from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.store.base import CountQuery
from logwarden.store.duckdb import DuckDBStore
from tests.conftest import make_config


def _settings(store: DuckDBStore) -> dict[str, str]:
    cur = store._db.cursor()
    try:
        rows = cur.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('memory_limit', 'checkpoint_threshold')"
        ).fetchall()
    finally:
        cur.close()
    return {str(name): str(value) for name, value in rows}


def test_default_memory_limit() -> None:
    # 512 MiB let a 2M-line load reach ~1.0-1.2 GB of RSS at its stop (bench/rss_probe.py).
    assert int(StoreConfig().memory_limit) == 256 * 1024**2


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, {"memory_limit": "256.0 MiB", "checkpoint_threshold": "64.0 MiB"}),
        (
            {"store.memory_limit": "96MiB", "store.checkpoint_threshold": "8MiB"},
            {"memory_limit": "96.0 MiB", "checkpoint_threshold": "8.0 MiB"},
        ),
    ],
)
async def test_settings_reach_duckdb(tmp_path: Path, overrides: dict[str, str], expected: dict[str, str]) -> None:
    store = DuckDBStore(make_config(tmp_path, **overrides))
    try:
        assert _settings(store) == expected
    finally:
        await store.close()


def _batch(now: datetime, start: int, lines: int) -> pa.Table:
    body = b"\n".join(
        orjson.dumps(
            {"ts": (now - timedelta(milliseconds=i)).isoformat(), "msg": f"line {i} from host-{i % 97} " + "y" * 150}
        )
        for i in range(start, start + lines)
    )
    return normalize(decode_json_body(body).records, BatchContext("default", "http", now))


async def test_ingest_beyond_memory_limit_is_stored(tmp_path: Path) -> None:
    """Far more rows than memory_limit, never checkpointed by WAL size while running: every line is stored."""
    limit = 24 * 1024**2
    config = make_config(tmp_path, **{"store.memory_limit": f"{limit}B", "store.checkpoint_threshold": "1GiB"})
    now = datetime.now(UTC)
    store = DuckDBStore(config)
    lines = sent_bytes = 0
    try:
        for start in range(0, 300_000, 20_000):
            batch = _batch(now, start, 20_000)
            await store.append(batch)
            await store.flush()
            lines += batch.num_rows
            sent_bytes += batch.nbytes
        counted = await store.count(CountQuery("default", now - timedelta(days=1), now + timedelta(seconds=1)))
    finally:
        await store.close()
    assert sent_bytes > 2 * limit
    assert counted.total == lines == 300_000


async def test_a_quarter_of_memory_limit_in_batch_bytes_triggers_a_write(tmp_path: Path) -> None:
    """Long lines make smaller writes: a write's rows must fit in DuckDB's buffer pool until its commit."""
    limit = 32 * 1024**2
    config = make_config(
        tmp_path,
        **{"store.memory_limit": f"{limit}B", "store.apply_interval": "1h", "store.apply_max_rows": 10_000_000},
    )
    now = datetime.now(UTC)
    store = DuckDBStore(config)
    try:
        small = _batch(now, 0, 1_000)
        await store.append(small)
        sent = small.nbytes
        assert store.unapplied_bytes >= small.nbytes  # neither the hour nor the rows are reached
        start = 1_000
        while sent < limit // 4:
            batch = _batch(now, start, 10_000)
            await store.append(batch)
            sent += batch.nbytes
            start += 10_000
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while store.unapplied_bytes >= limit // 4 and datetime.now(UTC) < deadline:
            await asyncio.sleep(0.05)
        assert store.unapplied_bytes < limit // 4  # written long before the hour is over
    finally:
        await store.close()


class ClosingConsumer:
    """The bus's part at a stop, reduced to what the store calls: it notes what was not yet in DuckDB at close."""

    def __init__(self) -> None:
        self.store: DuckDBStore | None = None
        self.unapplied_at_close: int | None = None

    def floor(self) -> int | None:
        return None

    def attach(self, log: object, release: object) -> None:
        pass

    def publish(self, items: list[tuple[int, pa.Table]]) -> None:
        pass

    def lagging(self) -> str | None:
        return None

    def close(self) -> None:
        assert self.store is not None
        self.unapplied_at_close = self.store.unapplied_bytes


async def test_a_clean_stop_writes_everything_before_the_subscribers_close(tmp_path: Path) -> None:
    """The last write and the subscribers' closing work (log metrics settle and compact) must not add up in memory."""
    consumer = ClosingConsumer()
    store = DuckDBStore(make_config(tmp_path, **{"store.apply_interval": "1h"}), consumers=consumer)
    consumer.store = store
    await store.append(_batch(datetime.now(UTC), 0, 5_000))
    assert store.unapplied_bytes > 0
    await store.close()
    assert consumer.unapplied_at_close == 0
