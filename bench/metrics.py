#!/usr/bin/env python3
"""Log metrics benchmark: what 20 metric definitions cost ingest, and a 90-day range query over the 1 h tier.

    python bench/metrics.py [--bodies 64] [--rounds 3] [--server --duration 15 --clients 4]

1. **Subscriber cost** (in-process, same run, rounds interleaved, best of `--rounds`): process CPU per line of
   the ingest decode path (`to_core_batch`: decode + normalize of 1000-line NDJSON bodies) against the log
   metrics subscriber's `handle` on the same lines, with the built-in series only and with 20 definitions
   (counters, sums, histograms, a summary, labels from attributes and from an `extract` pipe). Batches are
   handed as the bus hands a busy subscriber (coalesced, `--coalesce` bodies per call) and one body per call;
   the attribute texts shared with the rules engine (query/batch_attrs.py) are forgotten before each run. The
   attributes ingest decoded (query/batch_attrs.py `ATTR_COLUMNS`) are read as the server reads them; the case
   `twenty_parsed` forgets them first (the JSON parsed, as for batches replayed after a restart), and
   `ingest_decode_not_recording` decodes without keeping them (a server whose subscribers read no attribute).
   The subscriber runs on its own thread, off the request path: the ratio is the share of a core it takes
   for each core ingest spends decoding (the server also writes DuckDB, so the true share is lower).
2. **Real servers** (`--server`, `--server-only`): `logwarden serve` with `metrics.enabled: false`, with the
   built-in series only, and with the 20 definitions on top, all three started at once and loaded in turn by
   `--clients` keep-alive clients for `--duration` s, `--rounds` times, the cases interleaved (each round starts
   one case further on); acknowledged lines/s of each, the server's CPU seconds per acknowledged line (from the
   start of the load until the server is idle again: every line stored and counted), and how long after the load
   the subscriber's `logs_total` held every acknowledged line (polled by a query every 0.2 s; the server's CPU
   for those queries, measured on the idle server after each run, is left out of its CPU per line and shown as
   `*_polls_cpu_us_per_line`), and the server's resident memory once idle after it (`*_rss_mib`): medians and
   per-round values. The ratios to `off` are taken per round, between
   runs next to each other, and given as median and spread (min, max).
   The bodies are made anew before each load, so their event times stay within the minute before it (bodies
   resent unchanged for minutes become late lines for the coarser tiers, see logmetrics/store.py).
   `--together`: in each round the three servers are loaded at the same time (`--clients` each), so that a
   machine whose load swings within seconds weighs on every case alike.
3. **90-day query**: a series store pre-populated with 90 days of the 1 h tier (12 services × 5 statuses for a
   counter, a histogram by service with ~40 bins per hour), rolled up into the 1 d tier as the server does;
   median time of `query_range` for rate by service at 1 h steps (1 h tier), p95 by service and sum at 1 d
   steps (1 d tier), and p95 by service at 1 h steps (1 h tier: a million bin rows). `--query-only`: just this.

Prints one JSON object on stdout (the last line); progress on stderr. Timings on shared machines are noisy:
compare the ratios.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psutil
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import Server, log  # noqa: E402
from logwarden.bus.base import BusBatch  # noqa: E402
from logwarden.config.logmetrics import MetricDefinition  # noqa: E402
from logwarden.ingest.ndjson import decode_json_body  # noqa: E402
from logwarden.ingest.sink import to_core_batch  # noqa: E402
from logwarden.logmetrics.aggregate import builtin_definitions  # noqa: E402
from logwarden.logmetrics.query import RangeQuery, query_range  # noqa: E402
from logwarden.logmetrics.store import SeriesStore  # noqa: E402
from logwarden.logmetrics.subscriber import LogMetricsSubscriber  # noqa: E402
from logwarden.model.normalize import BatchContext  # noqa: E402
from logwarden.query.batch_attrs import ATTR_COLUMNS, SHARED_TEXTS  # noqa: E402
from logwarden.store.arrival import with_seq  # noqa: E402

SERVICES = ["checkout", "cart", "payments", "inventory", "search", "auth", "shipping", "notifier", "gateway",
            "reports", "recommend", "ledger"]  # fmt: skip
LEVELS = ["info"] * 8 + ["warn", "error"]
STATUSES = ["200"] * 14 + ["201", "404", "500", "503"]
RETENTION = [timedelta(days=15), timedelta(days=90), timedelta(days=730), timedelta(days=730)]


def twenty_definitions() -> list[dict[str, Any]]:
    """Twenty metrics of every type, as a user would write them (the built-in two come on top)."""
    defs: list[dict[str, Any]] = [
        {"name": "errors", "query": "level:error", "labels": ["service"]},
        {"name": "warnings", "query": "level:warn", "labels": ["service", "host"]},
        {"name": "http_requests", "query": 'GET OR POST | extract "status=(?P<status>\\d+)"', "labels": ["status"]},
        {"name": "server_errors", "query": "status:>=500", "labels": ["service", "route"]},
        {"name": "not_found", "query": "status:404", "labels": ["route"]},
        {"name": "request_ms", "type": "histogram", "field": "latency_ms", "labels": ["service"]},
        {"name": "request_ms_by_route", "type": "histogram", "field": "latency_ms", "labels": ["route"]},
        {"name": "request_ms_summary", "type": "summary", "field": "latency_ms"},
        {"name": "response_bytes", "type": "sum", "field": "bytes", "labels": ["service"]},
        {"name": "response_bytes_dist", "type": "histogram", "field": "bytes", "labels": ["status"]},
        {"name": "took_ms", "type": "sum", "query": 'took | extract "took (?P<t>\\d+)ms"', "field": "t"},
        {"name": "db_lines", "query": "db OR query", "labels": ["service"]},
        {"name": "cache_misses", "query": '"cache miss"', "labels": ["host"]},
        {"name": "timeouts", "query": "timeout", "labels": ["service"]},
        {"name": "payments_errors", "query": "service:payments level:error", "labels": ["host"]},
        {"name": "checkout_ms", "type": "histogram", "query": "service:checkout", "field": "latency_ms"},
        {"name": "gateway_status", "query": "service:gateway", "labels": ["status"]},
        {"name": "slow_requests", "query": "latency_ms:>500", "labels": ["service", "route"]},
        {"name": "users", "query": "_exists_:user_id", "labels": ["service"], "max_series": 100},
        {"name": "lines_by_host", "query": "*", "labels": ["host"]},
    ]
    return defs


def bodies(n: int, lines: int = 1000, seed: int = 11) -> list[bytes]:
    """`n` NDJSON bodies of `lines` lines each, a minute of event time before now."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    out = []
    for _ in range(n):
        rows = []
        for _ in range(lines):
            service = rng.choice(SERVICES)
            status = rng.choice(STATUSES)
            route = f"/api/v1/{rng.choice(['orders', 'cart', 'users', 'items', 'search'])}/{{id}}"
            ms = round(rng.lognormvariate(3.5, 1.1), 1)
            kind = rng.random()
            if kind < 0.6:
                msg = f"GET {route} status={status} took {int(ms)}ms"
            elif kind < 0.75:
                msg = f"db query on orders took {int(ms)}ms"
            elif kind < 0.85:
                msg = f"cache miss for key user:{rng.randrange(10_000)}"
            else:
                msg = f"upstream timeout after {int(ms)}ms" if rng.random() < 0.2 else "worker heartbeat ok"
            row: dict[str, Any] = {
                "ts": (now - timedelta(seconds=rng.uniform(0, 60))).isoformat(),
                "service": service,
                "host": f"{service[:3]}-{rng.randrange(6)}",
                "level": rng.choice(LEVELS),
                "msg": msg,
                "status": int(status),
                "route": route,
                "latency_ms": ms,
                "bytes": rng.randrange(200, 50_000),
            }
            if rng.random() < 0.3:
                row["user_id"] = f"u{rng.randrange(5000)}"
            rows.append(row)
        out.append(b"\n".join(orjson.dumps(r) for r in rows))
    return out


def subscriber_cost(raw: list[bytes], rounds: int, coalesce: int) -> dict[str, Any]:
    ctx = BatchContext("default", "http", datetime.now(UTC))
    # As a server with an attribute-reading subscriber: ingest keeps its decoded columns (its subscribers come later).
    reader = _Reader()
    ATTR_COLUMNS.want(reader)
    tables = [to_core_batch(decode_json_body(b), ctx).table for b in raw]
    lines = sum(t.num_rows for t in tables)
    builtin = builtin_definitions()
    full = builtin + [MetricDefinition.model_validate(d) for d in twenty_definitions()]

    def metrics(definitions: list[MetricDefinition], per_call: int, decoded: bool = True) -> float:
        """CPU seconds of handing every table to a subscriber (opened and closed outside the timing) and
        committing what it holds; `decoded` False: without ingest's decoded attribute columns."""
        if not decoded:
            ATTR_COLUMNS.clear()
        with tempfile.TemporaryDirectory() as tmp:
            sub = LogMetricsSubscriber(
                SeriesStore(Path(tmp) / "s.duckdb", RETENTION), definitions, compact_interval=None
            )
            calls = []
            for i in range(0, len(tables), per_call):
                group = tables[i : i + per_call]
                stored = pa.concat_tables([with_seq(i + j + 1, t) for j, t in enumerate(group)])
                calls.append(BusBatch(i + len(group), stored))
            # Attribute texts parsed in an earlier run would be read from the shared cache (same Arrow buffers).
            SHARED_TEXTS.clear()
            began = time.process_time()
            for call in calls:
                sub.handle(call)
            sub.flush()
            spent = time.process_time() - began
            sub.close()
        if not decoded:  # decoded again (the same texts): the other cases find the columns
            for b in raw:
                to_core_batch(decode_json_body(b), ctx)
        return spent

    def ingest(recording: bool = True) -> float:
        """CPU seconds of decoding every body; `recording` False: as a server whose subscribers read no attribute."""
        if not recording:
            ATTR_COLUMNS.want(reader, False)
        began = time.process_time()
        for b in raw:
            to_core_batch(decode_json_body(b), ctx)
        spent = time.process_time() - began
        if not recording:
            ATTR_COLUMNS.want(reader)
            for b in raw:  # the other cases find the columns
                to_core_batch(decode_json_body(b), ctx)
        return spent

    cases = {
        "ingest_decode": ingest,
        "ingest_decode_not_recording": lambda: ingest(recording=False),
        "builtin_coalesced": lambda: metrics(builtin, coalesce),
        "twenty_coalesced": lambda: metrics(full, coalesce),
        "twenty_per_body": lambda: metrics(full, 1),
        "twenty_parsed": lambda: metrics(full, coalesce, decoded=False),
    }
    best = {name: float("inf") for name in cases}
    for r in range(rounds):
        for name, fn in cases.items():
            best[name] = min(best[name], fn())
        log(f"round {r + 1}: " + ", ".join(f"{k} {v * 1e6 / lines:.2f} µs/line" for k, v in best.items()))
    per_line = {k: round(v * 1e6 / lines, 3) for k, v in best.items()}
    return {
        "lines": lines,
        "cpu_us_per_line": per_line,
        "twenty_vs_decode_ratio": round(best["twenty_coalesced"] / best["ingest_decode"], 3),
        "twenty_per_body_vs_decode_ratio": round(best["twenty_per_body"] / best["ingest_decode"], 3),
        "builtin_vs_decode_ratio": round(best["builtin_coalesced"] / best["ingest_decode"], 3),
        "twenty_parsed_vs_decode_ratio": round(best["twenty_parsed"] / best["ingest_decode"], 3),
        "decode_recording_vs_not_ratio": round(best["ingest_decode"] / best["ingest_decode_not_recording"], 3),
    }


class _Reader:
    """Stands for an attribute-reading subscriber (`ATTR_COLUMNS.want` holds readers weakly)."""


def _load(port: int, raw: list[bytes], seconds: float, clients: int) -> int:
    acked = [0] * clients
    stop = time.monotonic() + seconds

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = k
        while time.monotonic() < stop:
            body = raw[i % len(raw)]
            i += clients
            conn.request("POST", "/api/v1/ingest", body, {"Content-Type": "application/x-ndjson"})
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                acked[k] += body.count(b"\n") + 1
            else:
                time.sleep(float(resp.getheader("Retry-After") or 1))
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(acked)


def _logs_total(port: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/api/v1/metrics/query_range?metric=logs_total&fn=sum&start=now-1h&end=now%2B5m&step=1h")
        body = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    return sum(v for s in body.get("series", []) for _, v in s["values"])


def _query_cpu(server: Server, runs: int = 5) -> float:
    """The server's CPU seconds per `_logs_total` query, on the idle server (the median of `runs`)."""
    spent = []
    for _ in range(runs):
        began = _cpu(server.pid)
        _logs_total(server.port)
        spent.append(_cpu(server.pid) - began)
    return statistics.median(spent)


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) the server process has used so far."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _settle(pid: int, quiet: float = 0.05, every: float = 0.5, limit: float = 60) -> float:
    """Wait until the server spends under `quiet` CPU seconds per `every` (the applier and subscribers are done);
    returns its CPU seconds then."""
    began = time.monotonic()
    last = _cpu(pid)
    while time.monotonic() - began < limit:
        time.sleep(every)
        now = _cpu(pid)
        if now - last < quiet:
            return now
        last = now
    return last


SERVER_CASES: dict[str, dict[str, Any]] = {
    "off": {"enabled": False},
    "builtin": {},
    "twenty": {"definitions": twenty_definitions()},
}


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def servers(raw: list[bytes], seconds: float, clients: int, rounds: int, together: bool) -> dict[str, Any]:
    """Each case's server loaded alike, `rounds` times, the cases interleaved (each round starts one case further
    on: a slow minute of the machine falls on every case alike): acknowledged lines/s, and the server's CPU
    seconds per acknowledged line from the start of the load until it is idle again (every line stored and, with
    metrics, counted). The ratios to `off` are taken per round (the runs next to each other), then their median
    and spread. `together`: in each round the three are loaded at the same time instead (`--clients` each)."""
    names = list(SERVER_CASES)
    per_round: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        running: dict[str, Server] = {}
        acked_total = dict.fromkeys(names, 0)
        try:
            for name, section in SERVER_CASES.items():
                config = Path(tmp) / f"{name}.yaml"
                config.write_text(json.dumps({"metrics": section}))  # JSON is YAML
                server = Server(Path(tmp) / name, Path(tmp) / f"{name}.log", extra_args=["--config", str(config)])
                server.start()
                running[name] = server
            for name, server in running.items():
                server.wait_ready()
                acked_total[name] += _load(server.port, raw[:4], 2, clients)  # warm: imports, first commits
            for r in range(rounds):
                # Together: every case loaded at once (the machine's load falls on all alike); else in turn.
                turns = [names] if together else [[n] for n in names[r % len(names) :] + names[: r % len(names)]]
                for turn in turns:
                    # Event times a minute before now again: resent as they were, the lines would grow older than
                    # the roll-up (ROLLUP_DELAY) within a minute or two and be committed as late lines from then on
                    # (every coarser tier written too, and settled at each roll-up), which a live stream is not.
                    raw = bodies(len(raw))
                    began_cpu = {name: _settle(running[name].pid) for name in turn}
                    acked_now = dict.fromkeys(turn, 0)

                    def load(name: str) -> None:
                        acked_now[name] = _load(running[name].port, raw, seconds, clients)  # noqa: B023

                    threads = [threading.Thread(target=load, args=(name,)) for name in turn]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    ended = time.monotonic()
                    for name in turn:
                        server, acked = running[name], acked_now[name]
                        acked_total[name] += acked
                        found: dict[str, float] = {"lines_per_s": acked / seconds}
                        polls = 0
                        if name != "off":
                            while _logs_total(server.port) < acked_total[name] and time.monotonic() - ended < 120:
                                polls += 1
                                time.sleep(0.2)
                            polls += 1
                            found["caught_up_after_s"] = time.monotonic() - ended
                        spent = _settle(server.pid) - began_cpu[name]
                        if polls:  # the catch-up polls are queries, not ingest: their CPU is left out
                            queries = polls * _query_cpu(server)
                            found["polls_cpu_us_per_line"] = queries * 1e6 / acked
                            spent -= queries
                        found["cpu_us_per_line"] = spent * 1e6 / acked
                        found["rss_mib"] = psutil.Process(server.pid).memory_info().rss / 2**20  # idle, after the load
                        per_round[name].append(found)
                        log(f"round {r + 1} server {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in found.items()))
            for name in names:
                if name != "off":
                    out[f"{name}_logs_total_equals_acked"] = _logs_total(running[name].port) == acked_total[name]
        finally:
            for server in running.values():
                server.stop()
    for name in names:
        for key in per_round[name][0]:
            values = [found[key] for found in per_round[name]]
            out[f"{name}_{key}"] = round(statistics.median(values), 2)
            out[f"{name}_{key}_rounds"] = [round(v, 2) for v in values]
    for name in ("builtin", "twenty"):
        for key, short in (("lines_per_s", "throughput"), ("cpu_us_per_line", "cpu_per_line")):
            ratios = [a[key] / b[key] for a, b in zip(per_round[name], per_round["off"], strict=True)]
            spread = _spread(ratios)
            out[f"{name}_vs_off_{short}"] = spread["median"]
            out[f"{name}_vs_off_{short}_spread"] = [spread["min"], spread["max"]]
    return out


def query_90_days(runs: int) -> dict[str, Any]:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    end = int(now.timestamp())
    start = end - 90 * 86400
    hours = list(range(start, end, 3600))
    rng = random.Random(5)
    counter = MetricDefinition(name="requests", labels=["service", "status"])
    latency = MetricDefinition(name="latency", type="histogram", field="ms", labels=["service"])
    points: dict[str, list[Any]] = {k: [] for k in ("metric", "labels", "ts", "n", "total", "lo", "hi")}
    bins: dict[str, list[Any]] = {k: [] for k in ("labels", "ts", "bin", "n")}
    for service in SERVICES:
        for status in ("200", "201", "404", "500", "503"):
            labels = orjson.dumps({"service": service, "status": status}).decode()
            for ts in hours:
                n = float(rng.randrange(100, 10_000))
                for k, v in zip(points, ("requests", labels, ts, n, n, 1.0, 1.0), strict=True):
                    points[k].append(v)
        labels = orjson.dumps({"service": service}).decode()
        for ts in hours:
            centre = rng.randrange(180, 260)
            for b in range(centre - 20, centre + 20):
                for k, v in zip(bins, (labels, ts, b, rng.randrange(1, 500)), strict=True):
                    bins[k].append(v)
            for k, v in zip(points, ("latency", labels, ts, 1000.0, 50_000.0, 1.0, 900.0), strict=True):
                points[k].append(v)
    with tempfile.TemporaryDirectory() as tmp:
        store = SeriesStore(Path(tmp) / "s.duckdb", RETENTION)
        cur = store.reader()
        cur.register("p", pa.table(points))
        cur.register("b", pa.table(bins))
        cur.execute(
            "INSERT INTO series SELECT row_number() OVER (ORDER BY metric, labels), metric, 'default', labels "
            "FROM (SELECT DISTINCT metric, labels FROM p)"
        )
        cur.execute(
            "INSERT INTO points SELECT 3, s.sid, ts, n, total, lo, hi FROM p JOIN series s USING (metric, labels)"
        )
        cur.execute(
            "INSERT INTO bins SELECT 3, s.sid, ts, bin, n FROM b JOIN series s ON s.metric = 'latency' "
            "AND s.labels = b.labels"
        )
        cur.execute("INSERT INTO rollup VALUES (1, ?), (2, ?), (3, ?)", [end, end, end])
        store.rollup(now)  # the 1 d tier from the 1 h one, as the background roll-up builds it
        store.checkpoint()
        sizes = {"points_rows": len(points["ts"]), "bin_rows": len(bins["ts"])}
        del points, bins  # a million Python objects alive would make every garbage collection in the timing slow
        cur.unregister("p")
        cur.unregister("b")
        gc.collect()
        cases = {
            "rate_by_service_1h_steps": (counter, RangeQuery("requests", "rate", start, end, 3600, ("service",))),
            "sum_1d_steps": (counter, RangeQuery("requests", "sum", start, end, 86400)),
            "p95_by_service_1d_steps": (latency, RangeQuery("latency", "p95", start, end, 86400, ("service",))),
            "p95_by_service_1h_steps": (latency, RangeQuery("latency", "p95", start, end, 3600, ("service",))),
        }
        out: dict[str, Any] = dict(sizes)
        for name, (definition, q) in cases.items():
            times = []
            for _ in range(runs):
                began = time.perf_counter()
                result = query_range(store, definition, "default", q, now)
                times.append(time.perf_counter() - began)
            assert result["tier"] == ("1d" if q.step == 86400 else "1h"), result["tier"]
            out[f"{name}_ms_median"] = round(statistics.median(times) * 1000, 1)
            out[f"{name}_series"] = len(result["series"])
        store.close()
    log(f"query: {out}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bodies", type=int, default=64, help="1000-line bodies (default 64)")
    parser.add_argument("--rounds", type=int, default=3, help="subscriber and server rounds (default 3)")
    parser.add_argument("--coalesce", type=int, default=32, help="bodies per subscriber call (default 32)")
    parser.add_argument("--server", action="store_true", help="also load three real servers")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--query-runs", type=int, default=10)
    parser.add_argument("--query-only", action="store_true", help="only the 90-day query (part 3)")
    parser.add_argument("--server-only", action="store_true", help="only the real servers (part 2)")
    parser.add_argument(
        "--together", action="store_true", help="load the three servers at the same time in each round (part 2)"
    )
    args = parser.parse_args()
    if args.query_only:
        print(json.dumps({"query_90d": query_90_days(args.query_runs)}))
        return
    if args.server_only:
        print(
            json.dumps(
                {"servers": servers(bodies(args.bodies), args.duration, args.clients, args.rounds, args.together)}
            )
        )
        return
    raw = bodies(args.bodies)
    result: dict[str, Any] = {"subscriber": subscriber_cost(raw, args.rounds, args.coalesce)}
    if args.server:
        result["servers"] = servers(raw, args.duration, args.clients, args.rounds, args.together)
    result["query_90d"] = query_90_days(args.query_runs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
