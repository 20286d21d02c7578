#!/usr/bin/env python3
"""Streaming rules benchmark: what 100 rules cost ingest, how fast an alert fires, and memory per group.

    python bench/alerts.py [--rules 100] [--duration 15] [--alerts 200]

1. **Throughput cost**: `bench/ingest.py` runs twice back to back against a real `logwarden serve`, without rules
   and with `--rules` rules: eight in nine threshold rules (mixed queries over the bench's lines: levels, services,
   words, attribute comparisons; grouped by service or host), and one in nine each other type in turn (ratio,
   aggregate p95/avg, cardinality, absence, new_value, change, list, sequence, spike, anomaly).
   `ingest_ratio` = lines/s with rules ÷ without (target ≥ 0.8).
2. **Alert latency**: a server with one rule (`threshold: 0`, `for: 0s`, grouped by service); each of `--alerts`
   requests sends one error line of a new service, and the time from its HTTP acknowledgement to the alert being
   listed as firing at `GET /api/v1/alerts` (polled every 2 ms) is measured: p50/p99 (target p99 ≤ 500 ms).
3. **Memory per group**: one rule fed 100,000 groups in memory (tracemalloc), bytes per group.
4. **Notification latency** (bench/notify_latency.py): the same, with an `alerting:` route (`group_wait: 0s`) to
   a local webhook: from the line's HTTP acknowledgement to the webhook receiving the notification, p50/p99
   (issue 12's target: p99 ≤ 750 ms).

`--engine-cpu` measures instead, without a server, the engine's CPU per line for the same rules: bench/ingest.py's
lines (a pool of 300 s of event time, replayed as the ingest bench does), normalized as the server stores them and
handed to a `RulesEngine` in batches of `--batch-rows` (the bus's coalesced calls), committed every
`--commit-lines` lines (about once a second at the bench's rate); after one warm-up pass, process CPU µs per line
over `--passes` passes, the least of `--repeat` runs (the machine may be shared: CPU time, not wall time).

Progress goes to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pyarrow as pa

from notify_latency import TARGET_P99_MS as NOTIFY_TARGET_P99_MS
from notify_latency import notification_latency

ROOT = Path(__file__).resolve().parent.parent
QUERIES = [
    "level:error",
    "level:warn",
    "timeout",
    "refused",
    "service:checkout",
    "service:payments level:error",
    "latency_ms:>500",
    "http.status:>=500",
    '"connection refused"',
    "-level:debug level:error",
]


def _threshold(i: int) -> list[str]:
    query = QUERIES[i % len(QUERIES)].replace("'", "''")
    by = "service" if i % 2 == 0 else "host"
    return [
        "        type: threshold",
        f"        query: '{query}'",
        f"        group_by: [{by}]",
        f"        window: {1 + i % 5}m",
        f"        threshold: {100 + 10 * i}",
    ]


# One rule of each other type, over the fields bench/ingest.py's lines have (service, host, level, latency_ms,
# http.status, user_id, topic, region, error_kind).
MIXED: list[list[str]] = [
    ["type: ratio", "query: 'level:error'", "group_by: [service]", "window: 1m", "threshold: 0.5", "min_total: 100"],
    ["type: aggregate", "query: 'latency_ms:*'", "group_by: [service]", "field: latency_ms", "fn: p95",
     "window: 1m", "threshold: 100000"],
    ["type: aggregate", "query: 'service:checkout'", "group_by: [host]", "field: latency_ms", "fn: avg",
     "window: 5m", "threshold: 100000"],
    ["type: cardinality", "query: 'user_id:*'", "group_by: [service]", "field: user_id", "window: 1m",
     "threshold: 100000", "max_values: 200000"],
    ["type: absence", "query: '*'", "group_by: [service]", "window: 5m"],
    ["type: new_value", "query: 'region:*'", "group_by: [service]", "fields: [region]", "window: 1m",
     "lookback: 1d"],
    ["type: change", "query: 'topic:*'", "group_by: [host]", "field: topic", "window: 1m", "threshold: 1000000"],
    ["type: list", "query: '*'", "field: error_kind", "mode: in", "values: [never-seen-kind]", "window: 1m"],
    ["type: sequence", "query: 'service:auth'", "by: [user_id]", "within: 5m", "window: 5m", "steps:",
     "  - {name: failed, query: 'failed', count: 3}", "  - {name: ok, query: 'ok'}"],
    ["type: spike", "query: 'level:error'", "group_by: [service]", "window: 1m", "compare: previous",
     "factor: 1000"],
    ["type: anomaly", "query: 'level:error'", "group_by: [service]", "window: 1m", "threshold: 1000"],
]  # fmt: skip


def rules_yaml(n: int, mixed: bool = True) -> str:
    """`n` rules: with `mixed`, one in nine is each other type in turn (all eleven in 100), the rest threshold."""
    lines = ["groups:", "  - name: bench", "    rules:"]
    others = 0
    for i in range(n):
        lines.append(f"      - name: rule-{i}")
        if mixed and i % 9 == 8:
            lines += ["        " + line for line in MIXED[others % len(MIXED)]]
            others += 1
        else:
            lines += _threshold(i)
    return "\n".join(lines) + "\n"


def run_ingest(duration: float, extra: list[str]) -> dict[str, object]:
    cmd = [sys.executable, str(ROOT / "bench" / "ingest.py"), "--duration", str(duration), "--baseline-seconds", "1"]
    for arg in extra:
        cmd += ["--server-arg", arg]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    result: dict[str, object] = json.loads(out)
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alert_latency(work: Path, alerts: int) -> dict[str, float]:
    rules = work / "latency-rules"
    rules.mkdir()
    (rules / "one.yaml").write_text(
        "groups:\n  - name: latency\n    rules:\n      - name: first-error\n        type: threshold\n"
        "        query: 'level:error'\n        group_by: [service]\n        window: 1m\n        threshold: 0\n"
    )
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "logwarden",
            "serve",
            "--data-dir",
            str(work / "latency-data"),
            "--http-port",
            str(port),
            "--rules",
            str(rules),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("server not ready")
            time.sleep(0.05)
        waits: list[float] = []
        with httpx.Client(base_url=url, timeout=10) as http:
            for i in range(alerts):
                service = f"lat-{i}"
                line = orjson.dumps({"level": "error", "service": service, "message": "boom"})
                assert http.post("/api/v1/ingest", content=line).status_code == 200
                acked = time.perf_counter()
                while True:
                    found = http.get("/api/v1/alerts").json()["alerts"]
                    if any(a["labels"].get("service") == service and a["status"] == "firing" for a in found):
                        break
                    if time.perf_counter() - acked > 10:
                        raise TimeoutError(f"alert {i} never fired")
                    time.sleep(0.002)
                waits.append((time.perf_counter() - acked) * 1000)
                if i % 50 == 0:
                    print(f"latency: {i}/{alerts}", file=sys.stderr)
        waits.sort()
        return {
            "alerts": float(len(waits)),
            "p50_ms": round(statistics.median(waits), 1),
            "p99_ms": round(waits[min(len(waits) - 1, int(len(waits) * 0.99))], 1),
            "max_ms": round(waits[-1], 1),
        }
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


def memory_per_group(groups: int = 100_000) -> dict[str, float]:
    from logwarden.model.normalize import BatchContext, normalize
    from logwarden.rules.count import CountRule
    from logwarden.rules.types.threshold import ThresholdRule

    spec = ThresholdRule.model_validate(
        {
            "name": "mem",
            "type": "threshold",
            "query": "level:error",
            "group_by": ["service"],
            "window": "1m",
            "threshold": 10,
        }
    )
    now = datetime.now(UTC)
    records = pa.table(
        {
            "ts": pa.array([now - timedelta(seconds=i % 50) for i in range(groups)], pa.timestamp("us", tz="UTC")),
            "level": ["error"] * groups,
            "service": [f"svc-{i}" for i in range(groups)],
            "message": ["x"] * groups,
        }
    )
    table = normalize(records, BatchContext("default", "http", now))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    rule = CountRule(spec)
    rule.observe(table)
    rule.evaluate(now)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"groups": float(rule.window.groups), "bytes_per_group": round((after - before) / groups, 1)}


def engine_cpu(rules: int, mixed: bool, batch_rows: int, passes: int, commit_lines: int) -> dict[str, float]:
    """Process CPU per line of a rules engine fed prepared batches (see the module docstring)."""
    from ingest import LineGenerator
    from logwarden.bus.base import BusBatch
    from logwarden.ingest.ndjson import decode_json_body
    from logwarden.model.normalize import BatchContext, normalize
    from logwarden.rules.engine import RulesEngine
    from logwarden.rules.loader import load_rules_dir
    from logwarden.store.arrival import with_seq

    received = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    pool = 200_000
    lines = LineGenerator(20240601, 220, received.timestamp() - 300, 299.0, pool)
    bodies = []
    for _ in range(pool // 1000):
        body = b"\n".join(lines.line() for _ in range(1000))
        bodies.append(normalize(decode_json_body(body).records, BatchContext("default", "http", received)))
    per = max(1, batch_rows // 1000)
    batches = [pa.concat_tables(bodies[i : i + per], promote_options="default") for i in range(0, len(bodies), per)]
    with tempfile.TemporaryDirectory(prefix="lw-bench-engine-") as tmp:
        directory = Path(tmp) / "rules"
        directory.mkdir()
        (directory / "bench.yaml").write_text(rules_yaml(rules, mixed=mixed))
        now = received + timedelta(seconds=5)
        hour = timedelta(hours=1)
        engine = RulesEngine(
            Path(tmp) / "state",
            load_rules_dir(directory).rules,
            clock=lambda: now,
            tick=None,
            commit_interval=hour,  # committed every `commit_lines` instead (flush), as the clock would
            transition_gap=timedelta(milliseconds=250),
        )
        seq = 0
        since = 0
        for round_ in range(passes + 1):
            if round_ == 1:  # after the warm-up pass: windows full, alerts fired
                cpu = time.process_time()
            for table in batches:
                seq += 1
                engine.handle(BusBatch(seq, with_seq(seq, table)))
                since += table.num_rows
                if since >= commit_lines:
                    engine.flush()
                    since = 0
        engine.flush()
        used = time.process_time() - cpu
        engine.close()
    return {"us_per_line": round(used / (pool * passes) * 1e6, 3), "batch_rows": float(per * 1000)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rules", type=int, default=100)
    p.add_argument(
        "--types",
        choices=["mixed", "threshold"],
        default="mixed",
        help="one in nine of each other type, or all threshold",
    )
    p.add_argument("--duration", type=float, default=15.0)
    p.add_argument("--alerts", type=int, default=200)
    p.add_argument("--engine-cpu", action="store_true", help="only the engine's CPU per line, without a server")
    p.add_argument("--batch-rows", type=int, default=64_000, help="--engine-cpu: lines per engine call")
    p.add_argument("--passes", type=int, default=3, help="--engine-cpu: measured passes over the 200k-line pool")
    p.add_argument("--commit-lines", type=int, default=80_000, help="--engine-cpu: lines between commits")
    p.add_argument("--repeat", type=int, default=3, help="--engine-cpu: runs (the least CPU is reported)")
    args = p.parse_args()
    if args.engine_cpu:
        runs = [
            engine_cpu(args.rules, args.types == "mixed", args.batch_rows, args.passes, args.commit_lines)
            for _ in range(args.repeat)
        ]
        per_line = [r["us_per_line"] for r in runs]
        print(
            json.dumps(
                {
                    "rules": args.rules,
                    "types": args.types,
                    "batch_rows": runs[0]["batch_rows"],
                    "engine_cpu_us_per_line": min(per_line),
                    "runs_us_per_line": per_line,
                    "cores": os.cpu_count(),
                }
            )
        )
        return 0
    with tempfile.TemporaryDirectory(prefix="lw-bench-alerts-") as tmp:
        work = Path(tmp)
        rules = work / "rules"
        rules.mkdir()
        (rules / "bench.yaml").write_text(rules_yaml(args.rules, mixed=args.types == "mixed"))
        print("ingest without rules…", file=sys.stderr)
        plain = run_ingest(args.duration, [])
        print(f"ingest with {args.rules} rules…", file=sys.stderr)
        ruled = run_ingest(args.duration, [f"--rules {shlex.quote(str(rules))}"])
        print("alert latency…", file=sys.stderr)
        latency = alert_latency(work, args.alerts)
        print("notification latency…", file=sys.stderr)
        notified = notification_latency(work, args.alerts)
    memory = memory_per_group()
    plain_lps = float(plain["lines_per_s"])  # type: ignore[arg-type]
    ruled_lps = float(ruled["lines_per_s"])  # type: ignore[arg-type]
    ratio = round(ruled_lps / plain_lps, 3)
    result = {
        "rules": args.rules,
        "types": args.types,
        "lines_per_s_without_rules": plain_lps,
        "lines_per_s_with_rules": ruled_lps,
        "ingest_ratio": ratio,
        "ingest_ratio_target": 0.8,
        "ingest_ratio_met": ratio >= 0.8,
        "alert_latency": latency,
        "alert_latency_p99_target_ms": 500,
        "alert_latency_met": latency["p99_ms"] <= 500,
        "notification_latency": notified,
        "notification_latency_p99_target_ms": NOTIFY_TARGET_P99_MS,
        "notification_latency_met": notified["p99_ms"] <= NOTIFY_TARGET_P99_MS,
        "memory": memory,
        "cores": os.cpu_count(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
