"""A read whose caller gives up (a role's query_timeout, a client gone) stops in DuckDB instead of running on in
its pool thread to the end, answering no one."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from logwarden.store.duckdb import DuckDBStore
from tests.conftest import make_config

# Summing 10^12 numbers takes DuckDB many minutes on these cores: only an interrupt ends it within the test.
ENDLESS = "SELECT sum(i) FROM range(1000000000000) t(i)"


async def test_a_cancelled_read_is_interrupted_in_duckdb(tmp_path: Path) -> None:
    store = DuckDBStore(make_config(tmp_path))
    started = threading.Event()
    ended: list[BaseException | None] = []

    def endless(cur: duckdb.DuckDBPyConnection, src: str | None, params: dict[str, Any]) -> object:
        started.set()
        try:
            return cur.execute(ENDLESS).fetchall()
        except BaseException as exc:
            ended.append(exc)
            raise

    now = datetime.now(UTC)
    try:
        task = asyncio.create_task(store.read("default", now - timedelta(hours=1), now, endless))
        assert await asyncio.to_thread(started.wait, 30)
        await asyncio.sleep(0.2)  # the statement is running
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        deadline = time.monotonic() + 10
        while not ended and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert ended, "the read kept running after its caller gave up"
        assert isinstance(ended[0], duckdb.InterruptException)
        # The store still answers reads.
        answer = await store.read(
            "default", now - timedelta(hours=1), now, lambda cur, s, p: cur.execute("SELECT 1").fetchone()
        )
        assert answer == (1,)
    finally:
        await store.close()
