"""The Store conformance suite: what every backend (store/base.py `Store`) must answer, on one fixed dataset.

A backend joins by adding a factory to BACKENDS: given a config, it returns an open Store. DuckDB runs
now; the OpenSearch backend will run the same tests. Times are fixed (2026-11-20/21), never the wall clock:
the config keeps a century of retention except in the retention test, which passes its own `now`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from logwarden.config import Config
from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.plan.filter import Equals, FieldRef, MatchAll, Term
from logwarden.plan.nodes import (
    META_ANCHOR,
    META_SAMPLED,
    META_SPANS,
    META_TOTAL,
    META_TRUNCATED,
    AggregatePlan,
    ContextPlan,
    CountPlan,
    FieldsPlan,
    HistogramPlan,
    SearchPlan,
    TracePlan,
    TraceSummaryPlan,
    meta_int,
)
from logwarden.plan.table import Agg, Limit, Sort, SortKey, Stats, Timechart, Top
from logwarden.store.base import Store, StoreClosedError
from logwarden.store.duckdb import DuckDBStore
from tests.conftest import make_config

BACKENDS: dict[str, Callable[[Config], Store]] = {"duckdb": DuckDBStore}

DAY1, DAY2 = date(2026, 11, 20), date(2026, 11, 21)
RECEIVED = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
START = datetime(2026, 11, 20, tzinfo=UTC)
END = datetime(2026, 11, 22, tzinfo=UTC)


def _ts(day: date, hour: int, minute: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00Z"


# acme: 8 lines over two days; api and web on host h1, db on h2; one trace across api and db.
ACME: list[dict[str, Any]] = [
    {"ts": _ts(DAY1, 9), "msg": "boot ok", "service": "api", "host": "h1", "level": "info", "latency_ms": 5},
    {
        "ts": _ts(DAY1, 10),
        "msg": "request timeout",
        "service": "api",
        "host": "h1",
        "level": "error",
        "latency_ms": 900,
        "trace_id": "t1",
        "span_id": "s1",
    },
    {
        "ts": _ts(DAY1, 10),
        "msg": "query slow",
        "service": "db",
        "host": "h2",
        "level": "warn",
        "latency_ms": 300,
        "trace_id": "t1",
        "span_id": "s2",
    },
    {
        "ts": _ts(DAY1, 10),
        "msg": "request retried",
        "service": "api",
        "host": "h1",
        "level": "info",
        "latency_ms": 40,
        "trace_id": "t1",
        "span_id": "s1",
    },
    {"ts": _ts(DAY2, 8), "msg": "page served", "service": "web", "host": "h1", "level": "info", "latency_ms": 12},
    {
        "ts": _ts(DAY2, 9),
        "msg": "request timeout again",
        "service": "api",
        "host": "h1",
        "level": "error",
        "latency_ms": 950,
    },
    {"ts": _ts(DAY2, 9, 30), "msg": "page served", "service": "web", "host": "h1", "level": "info", "latency_ms": 15},
    {"ts": _ts(DAY2, 23, 59), "msg": "last line", "service": "api", "host": "h1", "level": "debug", "latency_ms": 1},
]
# Another tenant, same words and trace id: never visible to acme.
OTHER: list[dict[str, Any]] = [
    {"ts": _ts(DAY1, 10), "msg": "request timeout", "service": "api", "host": "h1", "level": "error", "trace_id": "t1"},
    {"ts": _ts(DAY2, 9), "msg": "secret", "service": "api", "host": "h1", "level": "info"},
]


def batch(records: list[dict[str, Any]], tenant: str, source: str = "http") -> pa.Table:
    body = b"\n".join(orjson.dumps(r) for r in records)
    return normalize(decode_json_body(body).records, BatchContext(tenant, source, RECEIVED))


@pytest.fixture(params=sorted(BACKENDS))
async def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    store = BACKENDS[request.param](make_config(tmp_path))
    yield store
    await store.close()


@pytest.fixture
async def store(empty_store: Store) -> Store:
    # Three appends: the first two lines of acme, the rest, the other tenant (arrival order = list order).
    await empty_store.append(batch(ACME[:2], "acme"))
    await empty_store.append(batch(ACME[2:], "acme"))
    await empty_store.append(batch(OTHER, "other"))
    return empty_store


def messages(table: pa.Table) -> list[str]:
    return [str(m) for m in table.column("message").to_pylist()]


# --- append ----------------------------------------------------------------------------------


async def test_append_reports_stored_and_resent_lines(empty_store: Store) -> None:
    lines = [{"ts": _ts(DAY1, 1, i), "msg": f"line {i}", "log_id": f"agent-1@{i}"} for i in range(4)]
    first = await empty_store.append(batch(lines[:3], "acme"))
    assert (first.stored, first.duplicates) == (3, 0)
    again = await empty_store.append(batch(lines, "acme"))  # 0..2 re-sent, 3 new
    assert (again.stored, again.duplicates) == (1, 3)
    table = await empty_store.execute(SearchPlan("acme", START, END, limit=100))
    assert sorted(table.column("log_id").to_pylist()) == [f"agent-1@{i}" for i in range(4)]


# --- search ----------------------------------------------------------------------------------


async def test_search_is_newest_first_in_reverse_arrival_order(store: Store) -> None:
    table = await store.execute(SearchPlan("acme", START, END, limit=100))
    assert meta_int(table, META_TOTAL) == 8
    # The three lines at DAY1 10:00 come back in reverse arrival order (ts, then seq).
    assert messages(table) == [m["msg"] for m in reversed(ACME)]


async def test_search_filter_limit_and_total(store: Store) -> None:
    table = await store.execute(SearchPlan("acme", START, END, Term("timeout"), limit=1))
    assert messages(table) == ["request timeout again"]
    assert meta_int(table, META_TOTAL) == 2


async def test_search_sort_and_fields(store: Store) -> None:
    plan = SearchPlan(
        "acme",
        START,
        END,
        Equals(FieldRef("service", True), "api"),
        sort=(SortKey("latency_ms", True),),
        fields=("message", "latency_ms"),
    )
    table = await store.execute(plan)
    assert table.column_names == ["message", "latency_ms"]
    assert [orjson.loads(v) for v in table.column("latency_ms").to_pylist()] == [950, 900, 40, 5, 1]


async def test_time_range_is_half_open(store: Store) -> None:
    at = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    inside = await store.execute(SearchPlan("acme", at, at + timedelta(microseconds=1)))
    assert meta_int(inside, META_TOTAL) == 3  # start is included
    before = await store.execute(SearchPlan("acme", at - timedelta(hours=1), at))
    assert meta_int(before, META_TOTAL) == 1  # end is not: only the 09:00 line
    empty = await store.execute(SearchPlan("acme", at, at))
    assert meta_int(empty, META_TOTAL) == 0 and empty.num_rows == 0


async def test_tenants_are_isolated(store: Store) -> None:
    other = await store.execute(SearchPlan("other", START, END))
    assert sorted(messages(other)) == ["request timeout", "secret"]
    acme = await store.execute(SearchPlan("acme", START, END, Term("secret")))
    assert acme.num_rows == 0
    trace = await store.execute(TracePlan("acme", START, END, "t1"))
    assert set(trace.column("tenant").to_pylist()) == {"acme"}
    nobody = await store.execute(SearchPlan("nobody", START, END))
    assert nobody.num_rows == 0 and meta_int(nobody, META_TOTAL) == 0


# --- count, histogram, fields, aggregations --------------------------------------------------


async def test_count_per_group(store: Store) -> None:
    table = await store.execute(CountPlan("acme", START, END, MatchAll(), by=("service",)))
    assert table.to_pylist() == [
        {"service": "api", "count": 5},
        {"service": "web", "count": 2},
        {"service": "db", "count": 1},
    ]
    assert meta_int(table, META_TOTAL) == 8
    cut = await store.execute(CountPlan("acme", START, END, MatchAll(), by=("service",), limit=1))
    assert cut.num_rows == 1 and meta_int(cut, META_TOTAL) == 8


async def test_histogram_buckets(store: Store) -> None:
    table = await store.execute(HistogramPlan("acme", START, END, 86_400.0))
    got = {row["bucket"].astimezone(UTC).date(): row["count"] for row in table.to_pylist()}
    assert got == {DAY1: 4, DAY2: 4}
    by = await store.execute(HistogramPlan("acme", START, END, 86_400.0, by=FieldRef("level", True)))
    errors = {row["bucket"].astimezone(UTC).date(): row["count"] for row in by.to_pylist() if row["value"] == "ERROR"}
    assert errors == {DAY1: 1, DAY2: 1}


async def test_fields_summary(store: Store) -> None:
    table = await store.execute(FieldsPlan("acme", START, END, sample=100, top=2))
    assert meta_int(table, META_SAMPLED) == 8
    fields = {row["name"]: row for row in table.to_pylist()}
    assert fields["service"]["core"] is True and fields["service"]["count"] == 8
    assert fields["service"]["top"] == [{"value": "api", "count": 5}, {"value": "web", "count": 2}]
    assert fields["latency_ms"]["core"] is False and fields["latency_ms"]["type"] == "integer"


async def test_stats_top_and_timechart(store: Store) -> None:
    stats = Stats(
        (Agg("count", None, "n"), Agg("max", FieldRef("latency_ms", False), "worst")), (FieldRef("host", True),)
    )
    table = await store.execute(AggregatePlan("acme", START, END, stats))
    assert table.to_pylist() == [{"host": "h1", "n": 7, "worst": 950.0}, {"host": "h2", "n": 1, "worst": 300.0}]
    sorted_cut = await store.execute(
        AggregatePlan("acme", START, END, stats, pipes=(Sort((SortKey("n", False),)), Limit(1)))
    )
    assert sorted_cut.column("host").to_pylist() == ["h2"]
    top = await store.execute(AggregatePlan("acme", START, END, Top(1, FieldRef("service", True))))
    assert top.to_pylist() == [{"service": "api", "count": 5, "percent": 62.5}]
    chart = Timechart(86_400.0, (Agg("count", None, "count"),))
    per_day = await store.execute(AggregatePlan("acme", START, END, chart, span=86_400.0))
    assert [(r["_time"].astimezone(UTC).date(), r["count"]) for r in per_day.to_pylist()] == [(DAY1, 4), (DAY2, 4)]


# --- context and trace -----------------------------------------------------------------------


async def test_context_of_one_line(store: Store) -> None:
    anchor_id = (await store.execute(SearchPlan("acme", START, END, Term("retried")))).column("log_id")[0].as_py()
    table = await store.execute(ContextPlan("acme", START, END, anchor_id, before=1, after=1))
    # Same host and service (api on h1), in stored order: the db line on h2 is not a neighbour.
    assert messages(table) == ["request timeout", "request retried", "request timeout again"]
    assert meta_int(table, META_ANCHOR) == 1
    missing = await store.execute(ContextPlan("acme", START, END, "no-such-id"))
    assert missing.num_rows == 0


async def test_trace_lines_and_summary(store: Store) -> None:
    table = await store.execute(TracePlan("acme", START, END, "t1"))
    assert messages(table) == ["request timeout", "query slow", "request retried"]
    assert meta_int(table, META_TRUNCATED) == 0
    cut = await store.execute(TracePlan("acme", START, END, "t1", limit=2))
    assert cut.num_rows == 2 and meta_int(cut, META_TRUNCATED) == 1
    summary = await store.execute(TraceSummaryPlan("acme", START, END, "t1"))
    assert [(r["service"], r["lines"], r["errors"], r["spans"]) for r in summary.to_pylist()] == [
        ("api", 2, 1, 1),
        ("db", 1, 0, 1),
    ]
    assert meta_int(summary, META_SPANS) == 2


# --- housekeeping ----------------------------------------------------------------------------


async def test_size_and_partitions(store: Store) -> None:
    await store.flush()
    assert store.size_bytes() > 0
    hot, _archived = store.partitions()
    assert {(k.tenant, k.day) for k in hot} == {("acme", DAY1), ("acme", DAY2), ("other", DAY1), ("other", DAY2)}


async def test_maintain_drops_partitions_past_retention(tmp_path: Path) -> None:
    for name, factory in BACKENDS.items():
        cfg = make_config(tmp_path / name, **{"store.retention_days": 1, "archive.enabled": False})
        store = factory(cfg)
        try:
            await store.append(batch(ACME, "acme"))
            # One day of retention on DAY2 + 1 day: DAY1 is past it, DAY2 is kept.
            report = await store.maintain(now=datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
            assert [(k.tenant, k.day) for k in report.dropped_hot] == [("acme", DAY1)]
            table = await store.execute(SearchPlan("acme", START, END, limit=100))
            assert messages(table) == [m["msg"] for m in reversed(ACME[4:])]
        finally:
            await store.close()


async def test_closed_store_refuses_work(empty_store: Store) -> None:
    await empty_store.close()
    with pytest.raises(StoreClosedError):
        await empty_store.execute(SearchPlan("acme", START, END))
    with pytest.raises(StoreClosedError):
        await empty_store.append(batch(ACME[:1], "acme"))
