"""A start after a crash replays hot.duckdb's WAL without a network: an ALTER TABLE in the WAL (a typed attribute
column added to a day table) binds the generated `log_id` column's `printf` again, and DuckDB tried to download
the extension that holds it (linked in already) and failed the start."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from logwarden.duckdb_settings import OFFLINE
from logwarden.store.base import CountQuery
from logwarden.store.duckdb import DuckDBStore
from tests.conftest import make_config

CRASHING_WRITER = """
import asyncio, os, sys
from datetime import UTC, datetime
from pathlib import Path

import orjson

from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.store.duckdb import DuckDBStore
from tests.conftest import make_config


def batch(key, n):
    now = datetime.now(UTC)
    body = b"\\n".join(orjson.dumps({"ts": now.isoformat(), "msg": f"line {i}", key: i}) for i in range(n))
    return normalize(decode_json_body(body).records, BatchContext("default", "http", now))


async def main():
    store = DuckDBStore(make_config(Path(sys.argv[1]), **{"store.checkpoint_threshold": "1GiB"}))
    await store.append(batch("first", 100))
    await store.flush()
    await store.append(batch("second", 100))  # a new attribute: a typed column added to the day table
    await store.flush()
    os._exit(0)  # no checkpoint, no close: as if killed


asyncio.run(main())
"""


async def test_a_crash_after_a_new_typed_column_restarts_without_a_network(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(tmp_path)], check=True, cwd=root, timeout=120)
    wal = tmp_path / "data" / "hot.duckdb.wal"
    assert wal.exists() and wal.stat().st_size > 0  # the start below replays it
    store = DuckDBStore(make_config(tmp_path))
    try:
        # The writer stamps its lines with its own clock (a subprocess: not the tests' clock), so count over all time.
        counted = await store.count(
            CountQuery("default", datetime(2000, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))
        )
        assert counted.total == 200
        typed = store._db.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name LIKE 'logs$%' AND column_name LIKE '%second%'"
        ).fetchone()
        assert typed == (1,)  # the ALTER TABLE that made the replay bind log_id again
    finally:
        await store.close()


def test_offline_settings_still_load_the_linked_in_functions() -> None:
    con = duckdb.connect(":memory:", config=OFFLINE)
    assert con.execute("SELECT printf('%06x', 255)").fetchone() == ("0000ff",)
