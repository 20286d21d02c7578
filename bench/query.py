#!/usr/bin/env python3
"""Query latency benchmark: logwarden's search engine against the same queries hand-written in DuckDB SQL.

    python bench/query.py [--lines 10000000] [--runs 5] [--data-dir DIR] [--reload]

Steps: generate `--lines` realistic log lines inside DuckDB (vectorized, deterministic from `--seed`)
spanning `--hours` ending at load time, and write them through the store's own apply path
(`apply_batches`, the applier's transaction) into a real logwarden data dir — one table per
tenant-day, row groups as the server writes them. The data dir is cached by its parameters, so a
rerun skips loading. Then open `DuckDBStore` on it and time each query twice in the same process
and warm state: through logwarden's engine (the code behind `POST /api/v1/query`) and as plain
hand-written DuckDB SQL; results are checked equal. Progress goes to stderr; the LAST stdout line is
one JSON object (see bench/README.md for the keys).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from _common import dir_bytes, log
from logwarden.store.duckdb import catalog, tokens
from logwarden.store.duckdb.partitions import table_name
from logwarden.store.duckdb.store import DuckDBStore
from query_data import NEEDLE, NEEDLE_LINES, TENANT, Dataset, config_for, load_dataset

# --------------------------------------------------------------------------------------------
# Queries: ours (logwarden's engine, in-process) beside the same query hand-written in DuckDB SQL
# --------------------------------------------------------------------------------------------

AGG_TARGET_MS = 200.0
NEEDLE_TARGET_MS = 300.0
RATIO_TARGET = 1.3
HIT_LIMIT = 100
CONTEXT_LINES = 20


@dataclass(slots=True)
class Case:
    """One query: how ours runs it, how a person would write it in SQL, and a comparable result of each."""

    name: str
    what: str
    ours: Callable[[], Awaitable[Any]]
    hand: Callable[[], Any]
    target_ms: float | None = None
    engine: str = "logwarden.query.engine.run_query"
    timings: dict[str, list[float]] | None = None


class Bench:
    """The store opened on the data dir, a hand-SQL cursor on the same database, and the queries."""

    def __init__(self, ds: Dataset, memory_limit: str | None) -> None:
        self.ds = ds
        self.config = config_for(ds.data_dir, memory_limit)
        self.store = DuckDBStore(self.config)
        # The same DuckDB database instance the store reads from: same buffer pool, same threads.
        self.cur = self.store._db.cursor()
        self.end = ds.end + timedelta(seconds=1)  # half-open ranges that include the newest line
        self.tables = sorted(table_name(k) for k in catalog.hot_partitions(self.cur, TENANT))

    def src(self, start: datetime) -> str:
        """The tables a person would name for data from `start` on: the day partitions it overlaps."""
        days = {f"{d:%Y%m%d}" for d in _days_between(start, self.end)}
        parts = [f'SELECT * FROM "{t}"' for t in self.tables if t.rsplit("$", 1)[1] in days]
        return "(" + " UNION ALL ".join(parts) + ")"

    def hand(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        return self.cur.sql(sql, params=params or None).fetchall()

    async def ours(self, q: str, start: datetime) -> Any:
        from logwarden.query.engine import run_query

        return await run_query(
            self.store, q, tenant=TENANT, start=start, end=self.end, limit=HIT_LIMIT, now=self.ds.end
        )

    async def read(
        self, start: datetime, fn: Callable[[duckdb.DuckDBPyConnection, str | None, dict[str, Any]], Any]
    ) -> Any:
        return await self.store.read(TENANT, start, self.end, fn)


def _days_between(start: datetime, end: datetime) -> list[Any]:
    day, last, out = start.date(), end.date(), []
    while day <= last:
        out.append(day)
        day += timedelta(days=1)
    return out


def _hits(result: Any) -> tuple[int, list[str]]:
    return int(result.total), [h["log_id"] for h in result.hits]


def _table(result: Any, ncols: int) -> list[tuple[Any, ...]]:
    return [tuple(row[:ncols]) for row in result.rows]


def build_cases(b: Bench) -> list[Case]:
    e = b.end
    all_start = b.ds.end - timedelta(hours=b.ds.hours, minutes=1)
    hour = b.ds.end - timedelta(hours=1)
    day = b.ds.end - timedelta(hours=24)
    cases: list[Case] = []

    def hand_hits(start: datetime, where: str) -> tuple[int, list[str]]:
        # The page of newest hits; the total needs its own count only when the page is full. (A one-pass
        # `count(*) OVER ()` beside the LIMIT is about 2x slower in DuckDB 2.0: it materializes every match.)
        src, params = b.src(start), {"s": start, "e": e}
        rows = b.hand(
            f"SELECT log_id, * EXCLUDE (log_id) FROM {src} WHERE ts >= $s AND ts < $e AND {where} "
            f"ORDER BY ts DESC, log_id DESC LIMIT {HIT_LIMIT}",
            **params,
        )
        total = len(rows)
        if total >= HIT_LIMIT:
            total = b.hand(f"SELECT count(*) FROM {src} WHERE ts >= $s AND ts < $e AND {where}", **params)[0][0]
        return int(total), [r[0] for r in rows]  # log_id first: where it is among the columns depends on the layout

    async def needle_ours() -> Any:
        return _hits(await b.ours(NEEDLE, all_start))

    cases.append(
        Case(
            "needle",
            f"{NEEDLE} over all {b.ds.lines:,} lines ({NEEDLE_LINES} hits)",
            needle_ours,
            lambda: hand_hits(all_start, f"message ILIKE '%{NEEDLE}%'"),
            NEEDLE_TARGET_MS,
        )
    )

    async def phrase_ours() -> Any:
        return _hits(await b.ours('"connection refused"', hour))

    cases.append(
        Case(
            "phrase_last_hour",
            '"connection refused" over the last hour',
            phrase_ours,
            lambda: hand_hits(hour, "message ILIKE '%connection refused%'"),
        )
    )

    async def stats_ours() -> Any:
        return sorted(_table(await b.ours("level:error | stats count() by service", day), 2))

    cases.append(
        Case(
            "stats_errors_by_service_24h",
            "level:error | stats count() by service, last 24 h",
            stats_ours,
            lambda: sorted(
                b.hand(
                    f"SELECT service, count(*) FROM {b.src(day)} WHERE ts >= $s AND ts < $e AND level = 'ERROR' "
                    "GROUP BY service",
                    s=day,
                    e=e,
                )
            ),
            AGG_TARGET_MS,
        )
    )

    async def timechart_ours() -> Any:
        return [(t.astimezone(UTC), c) for t, c in _table(await b.ours("* | timechart span=1m count()", day), 2)]

    cases.append(
        Case(
            "timechart_1m_24h",
            "* | timechart span=1m count(), last 24 h",
            timechart_ours,
            # Buckets by integer math on epoch microseconds: date_trunc on TIMESTAMPTZ goes through ICU
            # calendars and costs ~20x more per row.
            lambda: [
                (t.astimezone(UTC), c)
                for t, c in b.hand(
                    "SELECT make_timestamptz(m * 60000000) AS t, c FROM (SELECT epoch_us(ts) // 60000000 AS m, "
                    f"count(*) AS c FROM {b.src(day)} WHERE ts >= $s AND ts < $e GROUP BY m) ORDER BY t",
                    s=day,
                    e=e,
                )
            ],
            AGG_TARGET_MS,
        )
    )

    async def top_ours() -> Any:
        return _table(await b.ours("-level:debug | top 10 host", day), 2)

    cases.append(
        Case(
            "top10_host_filtered_24h",
            "-level:debug | top 10 host, last 24 h (the filter keeps ~92% of lines)",
            top_ours,
            lambda: b.hand(
                f"SELECT host, count(*) AS c FROM {b.src(day)} WHERE ts >= $s AND ts < $e "
                "AND (level IS NULL OR level <> 'DEBUG') AND host IS NOT NULL "
                "GROUP BY host ORDER BY c DESC, host LIMIT 10",
                s=day,
                e=e,
            ),
            AGG_TARGET_MS,
        )
    )

    async def top_attr_ours() -> Any:
        return _table(await b.ours("status:>=500 | top 10 host", day), 2)

    cases.append(
        Case(
            "top10_host_attr_filter_24h",
            "status:>=500 | top 10 host, last 24 h (status is inside the attrs JSON)",
            top_attr_ours,
            lambda: b.hand(
                f"SELECT host, count(*) AS c FROM {b.src(day)} WHERE ts >= $s AND ts < $e "
                "AND TRY_CAST(json_extract_string(attrs, '$.status') AS DOUBLE) >= 500 AND host IS NOT NULL "
                "GROUP BY host ORDER BY c DESC, host LIMIT 10",
                s=day,
                e=e,
            ),
            AGG_TARGET_MS,
        )
    )

    # A line from the middle of the data, and a trace from near it.
    mid_table = b.tables[-1]
    mid_row = min(300_000, b.hand(f'SELECT count(*) FROM "{mid_table}"')[0][0] // 2)  # small loads too
    anchor_id, trace = b.hand(
        f'SELECT log_id, (SELECT trace_id FROM "{mid_table}" WHERE rowid >= {mid_row} AND trace_id IS NOT NULL '
        f'ORDER BY rowid LIMIT 1) FROM "{mid_table}" WHERE rowid = {mid_row}'
    )[0]
    retained = b.ds.end - timedelta(days=7)

    async def context_ours() -> Any:
        from logwarden.plan.nodes import ContextPlan

        table = await b.store.execute(ContextPlan(TENANT, retained, e, anchor_id, CONTEXT_LINES, CONTEXT_LINES))
        assert table.num_rows
        return table.column("log_id").to_pylist()

    def context_hand() -> Any:
        src = b.src(retained)
        ts, host, service = b.hand(
            f"SELECT ts, host, service FROM {src} WHERE log_id = $id AND ts >= $s AND ts < $e ORDER BY ts LIMIT 1",
            id=anchor_id,
            s=retained,
            e=e,
        )[0]
        same = "host = $h AND service = $v AND ts >= $s AND ts < $e"
        rows = b.hand(
            f"SELECT * FROM (SELECT log_id, ts FROM {src} WHERE {same} AND (ts, log_id) < ($t, $id) "
            f"ORDER BY ts DESC, log_id DESC LIMIT {CONTEXT_LINES}) "
            f"UNION ALL SELECT * FROM (SELECT log_id, ts FROM {src} WHERE {same} AND (ts, log_id) >= ($t, $id) "
            f"ORDER BY ts, log_id LIMIT {CONTEXT_LINES + 1}) ORDER BY ts, log_id",
            h=host,
            v=service,
            t=ts,
            id=anchor_id,
            s=retained,
            e=e,
        )
        return [r[0] for r in rows]

    cases.append(
        Case(
            "context",
            f"{CONTEXT_LINES} lines before and after one line, same host and service (log_id lookup over all data)",
            context_ours,
            context_hand,
            engine="store.execute(ContextPlan) (GET /api/v1/context)",
        )
    )

    async def trace_ours() -> Any:
        from logwarden.plan.nodes import TracePlan

        table = await b.store.execute(TracePlan(TENANT, retained, e, trace, 1000))
        return table.column("log_id").to_pylist()

    cases.append(
        Case(
            "trace",
            "every line of one trace_id over all data, in time order",
            trace_ours,
            lambda: [
                r[0]
                for r in b.hand(
                    f"SELECT log_id FROM {b.src(retained)} WHERE trace_id = $t AND ts >= $s AND ts < $e "
                    "ORDER BY ts, log_id",
                    t=trace,
                    s=retained,
                    e=e,
                )
            ],
            engine="store.execute(TracePlan) (GET /api/v1/trace)",
        )
    )
    return cases


async def time_cases(b: Bench, cases: list[Case], runs: int) -> None:
    """Warm up each case once (and check ours == hand), then alternate ours and hand `runs` times."""
    for case in cases:
        ours = await case.ours()
        hand = case.hand()
        if ours != hand:
            raise AssertionError(f"{case.name}: ours and hand-written differ:\n ours={ours!r}\n hand={hand!r}")
        log(f"{case.name}: results match ({_size(ours)} rows)")
        case.timings = {"ours": [], "hand": [], "rows": [_size(ours)]}
    for _ in range(runs):
        for case in cases:
            assert case.timings is not None
            t0 = time.perf_counter()
            ours = await case.ours()
            t1 = time.perf_counter()
            hand = case.hand()
            t2 = time.perf_counter()
            assert ours == hand, case.name
            case.timings["ours"].append((t1 - t0) * 1000)
            case.timings["hand"].append((t2 - t1) * 1000)


def _size(result: Any) -> int:
    if isinstance(result, tuple):  # (total, hits)
        return int(result[0])
    return len(result)


def report(b: Bench, cases: list[Case], runs: int) -> dict[str, Any]:
    queries: dict[str, Any] = {}
    for case in cases:
        assert case.timings is not None
        ours, hand = statistics.median(case.timings["ours"]), statistics.median(case.timings["hand"])
        ratio = ours / hand if hand else float("inf")
        entry: dict[str, Any] = {
            "what": case.what,
            "engine": case.engine,
            "ours_ms": round(ours, 1),
            "ours_max_ms": round(max(case.timings["ours"]), 1),
            "hand_ms": round(hand, 1),
            "hand_max_ms": round(max(case.timings["hand"]), 1),
            "ratio": round(ratio, 2),
            "rows": case.timings["rows"][0],
            "ratio_met": ratio <= RATIO_TARGET,
        }
        if case.target_ms is not None:
            entry["target_ms"] = case.target_ms
            entry["target_met"] = ours <= case.target_ms
        queries[case.name] = entry
    apparent, _allocated, _files = dir_bytes(b.ds.data_dir)
    threads = b.cur.sql("SELECT current_setting('threads')").fetchall()[0][0]
    return {
        "lines": b.ds.lines,
        "hours": b.ds.hours,
        "data_bytes": apparent,
        "load_s": round(b.ds.load_s, 1),
        "cores": os.cpu_count(),
        "duckdb_threads": int(threads),
        "duckdb_memory_limit_bytes": int(b.config.store.memory_limit),
        "runs": runs,
        "token_index_bytes": tokens.index_bytes(b.cur),
        "queries": queries,
        "all_targets_met": all(q.get("target_met", True) and q["ratio_met"] for q in queries.values()),
    }


async def run(args: argparse.Namespace, ds: Dataset) -> dict[str, Any]:
    b = Bench(ds, args.memory_limit)
    try:
        cases = build_cases(b)
        if args.only:
            cases = [c for c in cases if c.name in args.only.split(",")]
        await time_cases(b, cases, args.runs)
        return report(b, cases, args.runs)
    finally:
        b.cur.close()
        await b.store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--hours", type=float, default=25.0, help="time span of the data, ending at load time")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per query after one warm-up")
    ap.add_argument("--data-dir", help="parent of the cached data dirs (default /tmp/logwarden-bench-query)")
    ap.add_argument("--reload", action="store_true", help="regenerate the data even when cached")
    ap.add_argument(
        "--memory-limit", help="store.memory_limit for the query run, e.g. 4GB (default: the server's default)"
    )
    ap.add_argument("--only", help="comma-separated case names to run (default: all)")
    args = ap.parse_args()
    ds = load_dataset(args)
    out = asyncio.run(run(args, ds))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
