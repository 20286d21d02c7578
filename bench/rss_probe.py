#!/usr/bin/env python3
"""Where `logwarden serve`'s peak RSS comes from: the bench/peers.py load and queries, one engine, a timeline.

    python bench/rss_probe.py [--lines 2000000] [--env NAME=VALUE ...] [--py-spy] [--queries [--restart]]

Starts logwarden on a fresh data dir with bench/peers.py's cached NDJSON (generated first when missing),
samples the server's RSS every 0.1 s and `logwarden_memory_bytes{part}` from /metrics every second, loads
every line as bench/peers.py does, waits until searchable, optionally runs each query once (with --restart
after a clean stop and a new start, as bench/peers.py does), stops cleanly, and prints one JSON: the peak per
phase (ready, load, searchable, [restart,] queries, stop), the parts at the peak, when each phase ended, a
per-second timeline of RSS, Arrow's pool and DuckDB's memory, and (with --py-spy) a `py-spy dump` of the
server taken whenever its RSS passed a new 50 MiB step.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from peers import build_cases, wait_searchable
from peers_engines import Logwarden
from peers_load import ndjson_dataset, send_all

_METRIC = re.compile(r'^logwarden_memory_bytes\{part="([^"]+)"\} (\S+)$', re.M)
# Bytes waiting in queues, polled with the parts: acknowledged batches not yet in DuckDB, request bodies in flight.
_QUEUES = re.compile(r"^logwarden_(store_unapplied_bytes|inflight_bytes) (\S+)$", re.M)


class PartsPoller:
    """Polls /metrics every second for `logwarden_memory_bytes{part}`; keeps each poll with its time."""

    def __init__(self, port: int, wal: Path | None = None) -> None:
        self.port = port
        self.wal = wal  # hot.duckdb's WAL: its size is polled too (what the next checkpoint writes)
        self.polls: list[tuple[float, dict[str, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
                    text = r.read().decode()
            except OSError:
                continue
            found = _METRIC.findall(text) + _QUEUES.findall(text)
            if self.wal is not None:
                found.append(("wal", str(_size(self.wal))))
            self.polls.append((time.monotonic(), {k: int(float(v)) for k, v in found}))

    def nearest(self, t: float) -> dict[str, int]:
        """The poll closest in time to `t`."""
        return min(self.polls, key=lambda p: abs(p[0] - t))[1] if self.polls else {}


def smaps_summary(pid: int) -> dict[str, float]:
    """Resident MiB by kind of mapping: files, the brk heap, anonymous maps by size class, stacks."""
    out: dict[str, float] = {}
    kind = "?"
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split()
                if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                    lo, hi = (int(x, 16) for x in head[0].split("-"))
                    name = head[5] if len(head) > 5 else ""
                    size = hi - lo
                    if name.startswith("/"):
                        kind = "file"
                    elif name:
                        kind = name
                    else:
                        kind = "anon>=64M" if size >= 64 * 2**20 else "anon>=8M" if size >= 8 * 2**20 else "anon<8M"
                elif head[0] == "Rss:":
                    out[kind] = out.get(kind, 0.0) + int(head[1]) / 1024
    except OSError:
        return {}
    return {k: round(v, 1) for k, v in sorted(out.items())}


def smaps_on_peaks(engine: Logwarden, out: dict[str, Any], stop: threading.Event) -> None:
    """The smaps summary at the highest RSS seen (checked every 0.5 s)."""
    best = 0
    while not stop.wait(0.5):
        sampler = engine.sampler
        latest = sampler.latest if sampler is not None else None
        if latest is not None and latest.rss > best:
            best = latest.rss
            out.clear()
            out.update({"rss_mb": round(best / 2**20), "kinds_mb": smaps_summary(engine.pid)})


def spy_on_peaks(engine: Logwarden, out: list[dict[str, Any]], stop: threading.Event) -> None:
    """A py-spy dump each time the server's RSS passes a new 50 MiB step above 300 MiB."""
    step = 300 * 2**20
    while not stop.wait(0.2):
        sampler = engine.sampler
        latest = sampler.latest if sampler is not None else None
        if latest is None or latest.rss < step:
            continue
        dump = subprocess.run(
            ["py-spy", "dump", "--pid", str(engine.pid)], capture_output=True, text=True, timeout=30, check=False
        ).stdout
        out.append({"rss_mb": round(latest.rss / 2**20), "dump": dump})
        step = (latest.rss // (50 * 2**20) + 1) * 50 * 2**20


def _size(path: Path) -> int:
    """A file's size; 0 once it is gone (DuckDB deletes its WAL at each checkpoint)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def mb(n: float) -> float:
    """Bytes as MiB, one decimal."""
    return round(n / 2**20, 1)


_ROW_PARTS = (
    "rss", "arrow", "duckdb_in_memory_table", "duckdb_base_table", "store_unapplied_bytes", "inflight_bytes", "wal",
)  # fmt: skip


def parts_row(t: float, parts: dict[str, int]) -> dict[str, float]:
    """One poll, MiB: RSS, Arrow's pool, DuckDB's memory (all tags), unapplied batches, requests in flight, WAL."""
    duckdb = sum(v for k, v in parts.items() if k.startswith("duckdb_"))
    row = {"t": round(t, 1), "duckdb": mb(duckdb)}
    return row | {k: mb(parts.get(k, 0)) for k in _ROW_PARTS}


def cpu_between(samples: list[Any], start: float, end: float) -> float:
    """Server CPU seconds between two monotonic times (the nearest samples; a restart is not crossed here)."""
    first = min(samples, key=lambda s: abs(s.t - start))
    last = min(samples, key=lambda s: abs(s.t - end))
    return float(last.cpu - first.cpu)


def restart(engine: Logwarden, parts: PartsPoller) -> list[Any]:
    """Stop cleanly and start again on the same data dir (the poller follows the new port); the first life's samples."""
    engine.stop()
    assert engine.sampler is not None
    before = list(engine.sampler.samples)
    engine.start()
    parts.port = engine.port
    return before


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=2_000_000)
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server's environment")
    p.add_argument("--py-spy", action="store_true", help="py-spy dumps at each new 50 MiB of RSS")
    p.add_argument("--queries", action="store_true", help="run each bench/peers.py query once after the load")
    p.add_argument("--restart", action="store_true", help="stop and start again before the queries (as peers.py)")
    p.add_argument("--cache-dir", default="/tmp/logwarden-bench-peers")
    args = p.parse_args()
    data = ndjson_dataset(lines=args.lines, seed=42, hours=25.0, batch_lines=1000, cache_dir=Path(args.cache_dir))
    env = dict(os.environ) | dict(kv.split("=", 1) for kv in args.env)
    with tempfile.TemporaryDirectory(prefix="logwarden-rss-") as tmp:
        engine = Logwarden(Path(tmp))
        engine.popen_kwargs = lambda: {"env": env}  # type: ignore[method-assign]
        marks: dict[str, float] = {}
        spy: list[dict[str, Any]] = []
        stop_spy = threading.Event()
        engine.start()
        marks["ready"] = time.monotonic()
        parts = PartsPoller(engine.port, engine.data_dir / "hot.duckdb.wal")
        parts.start()
        spy_thread = threading.Thread(target=spy_on_peaks, args=(engine, spy, stop_spy), daemon=True)
        if args.py_spy:
            spy_thread.start()
        smaps: dict[str, Any] = {}
        samples_before: list[Any] = []
        smaps_thread = threading.Thread(target=smaps_on_peaks, args=(engine, smaps, stop_spy), daemon=True)
        smaps_thread.start()
        try:
            load = send_all(data, port=engine.port, path=engine.ingest_path, content_type=engine.content_type,
                            clients=4)  # fmt: skip
            if load.errors:
                raise RuntimeError(load.errors[0])
            marks["load"] = time.monotonic()
            wait_searchable(engine, data)
            marks["searchable"] = time.monotonic()
            if args.queries and args.restart:
                samples_before = restart(engine, parts)
                wait_searchable(engine, data)
                marks["restart"] = time.monotonic()
            if args.queries:
                for case in build_cases(data):
                    engine.run(case)
                marks["queries"] = time.monotonic()
        finally:
            parts.stop()
            code = engine.stop()
            stop_spy.set()  # after the stop: its checkpoint and compaction are part of the peak
            marks["stop"] = time.monotonic()
        assert engine.sampler is not None
        samples = samples_before + engine.sampler.samples
        phases: dict[str, Any] = {}
        begin = samples[0].t
        for name, end in marks.items():
            within = [s for s in samples if begin <= s.t <= end]
            if within:
                top = max(within, key=lambda s: s.rss)
                phases[name] = {
                    "peak_rss_mb": round(top.rss / 2**20, 1),
                    "at_s": round(top.t - samples[0].t, 1),
                    "parts_mb": {k: round(v / 2**20, 1) for k, v in parts.nearest(top.t).items()},
                }
            begin = end
        cpu = cpu_between(samples, load.first_send, marks["searchable"])
        t0 = samples[0].t
        report = {
            "lines": data.lines,
            "env": args.env,
            "exit_code": code,
            "peak_rss_mb": round(engine.peak_rss / 2**20, 1),
            "ingest_lines_per_s": round(data.lines / (marks["searchable"] - load.first_send)),
            "lines_per_cpu_s": round(data.lines / cpu) if cpu > 0 else None,
            "retries_429": load.retries,
            "phases": phases,
            "marks_s": {name: round(t - t0, 1) for name, t in marks.items()},
            "timeline_mb": [round(s.rss / 2**20) for s in samples[:: max(1, len(samples) // 60)]],
            "parts_timeline_mb": [parts_row(t - t0, p) for t, p in parts.polls],
            "smaps_at_peak": smaps,
            "spy": spy,
        }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
