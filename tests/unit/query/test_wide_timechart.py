"""Timecharts and histograms up to 65,536 buckets (`timechart span=1m` over 7 days), an automatic span."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from logwarden.model.normalize import BatchContext, normalize
from logwarden.query.engine import histogram, run_query
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.parser import parse
from logwarden.query.planner import MAX_BUCKETS, plan
from logwarden.store.duckdb import DuckDBStore
from tests.conftest import make_config

START = datetime(2026, 11, 1, tzinfo=UTC)
WEEK = START + timedelta(days=7)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DuckDBStore]:
    the_store = DuckDBStore(make_config(tmp_path))
    ts = [(START + timedelta(hours=h)).isoformat() for h in range(0, 7 * 24, 6)]
    raw = pa.table({"ts": ts, "msg": ["tick"] * len(ts)})
    await the_store.append(normalize(raw, BatchContext("default", "http", START)))
    await the_store.flush()
    try:
        yield the_store
    finally:
        await the_store.close()


async def test_one_minute_buckets_over_seven_days_are_filled(store: DuckDBStore) -> None:
    result = await run_query(store, "| timechart span=1m count()", tenant="default", start=START, end=WEEK)
    assert len(result.rows) == 7 * 24 * 60  # 10,080 buckets, past the old 10,000 cap
    assert sum(row[1] for row in result.rows) == 28
    assert result.rows[0] == [START, 1] and result.rows[1] == [START + timedelta(minutes=1), 0]


async def test_histogram_takes_as_many_buckets(store: DuckDBStore) -> None:
    hist = await histogram(store, "tick", tenant="default", start=START, end=WEEK, interval=60.0)
    assert len(hist.buckets) == 10_080 and hist.total == 28


def test_the_cap_is_65536_buckets() -> None:
    assert MAX_BUCKETS == 65_536
    end = START + timedelta(minutes=MAX_BUCKETS)
    assert plan(parse("| timechart span=1m count()"), tenant="t", start=START, end=end).plan.span == 60.0
    with pytest.raises(QuerySyntaxError, match="more than 65536 buckets") as caught:
        plan(parse("| timechart span=1m count()"), tenant="t", start=START, end=end + timedelta(minutes=1))
    assert caught.value.column == 3


def test_without_span_the_planner_picks_about_60_buckets() -> None:
    the_plan = plan(parse("| timechart count()"), tenant="t", start=START, end=START + timedelta(days=90))
    assert the_plan.plan.span == 172_800.0  # 2d: 45 buckets
