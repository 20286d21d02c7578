"""A decoder that raises DecodeError has its lines kept as dead letters: the request succeeds, nothing is lost,
and no decoder fault is ever mistaken for a store failure."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import orjson

from logwarden.ingest.ndjson import DecodedBody
from logwarden.ingest.sink import IngestSink
from logwarden.model.normalize import BatchContext
from logwarden.store.base import DecodeError
from logwarden.store.duckdb import DuckDBStore
from logwarden.telemetry.metrics import Metrics
from tests.conftest import make_config


def test_decode_error_lines_become_dead_letters(tmp_path: Path) -> None:
    store = DuckDBStore(make_config(tmp_path))
    pool = ThreadPoolExecutor(1)
    sink = IngestSink(store, Metrics(), pool)

    def decode() -> DecodedBody:
        raise DecodeError("frame 2 is truncated", [b"first bad frame", b"\xffsecond"])

    try:
        ctx = BatchContext("default", "http", datetime(2026, 3, 1, tzinfo=UTC))
        result = asyncio.run(sink.ingest(decode, ctx, raw_bytes=30))
        assert (result.accepted, result.rejected) == (0, 2)
        store.flush_blocking()
        cur = store._db.cursor()
        tables = [r[0] for r in cur.execute("SELECT table_name FROM duckdb_tables() WHERE NOT internal").fetchall()]
        found = []
        for name in tables:
            if name.startswith("_"):
                continue
            found += cur.execute(f'SELECT message, attrs FROM "{name}" ORDER BY seq').fetchall()
        assert [m for m, _ in found] == ["first bad frame", "\ufffdsecond"]
        assert orjson.loads(found[0][1])["error"] == "frame 2 is truncated"
    finally:
        store.close_blocking()
        pool.shutdown()
