"""Searches for words use the token index: only row groups that may hold the words are read, and no
matching line is missed (lines in pruned groups, in memory, or in unindexed ranges)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from logwarden.model.normalize import BatchContext, normalize
from logwarden.query.engine import histogram, run_query
from logwarden.store.duckdb import DuckDBStore
from logwarden.store.duckdb.tokens import BLOCK_ROWS
from tests.conftest import make_config

pytestmark = pytest.mark.slow

DAY = datetime(2026, 11, 21, tzinfo=UTC)


def lines(messages: list[str], start: int) -> pa.Table:
    ts = [(DAY + timedelta(milliseconds=start + i)).isoformat() for i in range(len(messages))]
    raw = pa.table({"ts": ts, "msg": messages})
    return normalize(raw, BatchContext("default", "http", DAY))


async def test_needle_search_reads_only_candidate_row_groups_and_misses_nothing(tmp_path: Path) -> None:
    store = DuckDBStore(make_config(tmp_path, **{"store.apply_max_rows": 1_000_000}))
    try:
        n = BLOCK_ROWS * 2 + 1000
        messages = [f"filler line {i} ok" for i in range(n)]
        messages[BLOCK_ROWS + 17] = "disk zq7needle failed"  # second row group
        messages[5] = "zq7needle-prefix is another word"  # first row group, a different token
        await store.append(lines(messages, 0))
        await store.flush()
        await store.append(lines(["late zq7needle in memory"], n))  # not applied yet: read from memory

        seen: list[str] = []

        def capture(cur: Any, src: str | None, params: dict[str, Any]) -> None:
            seen.append(src or "")

        await store.read("default", DAY, DAY + timedelta(days=1), capture, tokens=["zq7needle"])
        assert "rowid BETWEEN" in seen[0]

        result = await run_query(store, "zq7needle", tenant="default", start=DAY, end=DAY + timedelta(days=1))
        assert sorted(h["message"] for h in result.hits) == [
            "disk zq7needle failed",
            "late zq7needle in memory",
            "zq7needle-prefix is another word",
        ]
        both = await run_query(store, "zq7needle failed", tenant="default", start=DAY, end=DAY + timedelta(days=1))
        assert [h["message"] for h in both.hits] == ["disk zq7needle failed"]
        either = await run_query(
            store, "zq7needle OR filler", tenant="default", start=DAY, end=DAY + timedelta(days=1), limit=1
        )
        assert either.total == (n - 2) + 3  # every filler line and every needle line
        hist = await histogram(store, "zq7needle", tenant="default", start=DAY, end=DAY + timedelta(days=1))
        assert hist.total == 3
    finally:
        await store.close()
