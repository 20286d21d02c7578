#!/usr/bin/env python3
"""logwarden beside VictoriaLogs: the same lines over HTTP, the same queries, equal counts, one JSON.

    python bench/peers.py [--lines 2000000] [--runs 5] [--victorialogs PATH]

Steps: generate the `bench/query_data.py` lines once as NDJSON (cached); for each engine in turn, start it
on a fresh data dir, send every line from `--clients` keep-alive connections, wait until a count over all
the data sees every line, stop it cleanly and measure its data dir. Then start every engine again on its
data and ask each `bench/query.py` question in each engine's own language, engines interleaved (one
warm-up, then `--runs` timed rounds). Check that every engine gave the same counts and print one JSON
object on stdout (see bench/README.md for the keys). Exit 1 on a count mismatch or an engine failure, 2
when a binary is missing. Not run in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from _common import dir_bytes
from peers_engines import VICTORIALOGS_HOWTO, Case, Engine, Logwarden, VictoriaLogs, find_victorialogs
from peers_load import NdjsonData, ndjson_dataset, send_all
from peers_opensearch import OPENSEARCH_HOWTO, OpenSearch, find_java_home, find_opensearch_home
from query_data import NEEDLE

SEARCHABLE_TIMEOUT_S = 900.0


class Ui:
    """Progress bars with rich on a terminal; silent when stderr is piped (unless --verbose)."""

    def __init__(self, verbose: bool) -> None:
        self.tty = sys.stderr.isatty()
        self.verbose = verbose
        self.progress: Any = None
        if self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.console = Console(stderr=True)
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=self.console, transient=True,
            )  # fmt: skip

    def say(self, msg: str) -> None:
        if self.tty:
            self.console.print(msg)
        elif self.verbose:
            print(msg, file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[Any]:
        """A progress bar for `total` steps; yields `advance(n)`."""
        if self.progress is None:
            yield lambda n: None
            return
        with self.progress:
            task_id = self.progress.add_task(description, total=total)
            yield lambda n: self.progress.advance(task_id, n)
            self.progress.remove_task(task_id)


def build_cases(data: NdjsonData) -> list[Case]:
    """The `bench/query.py` questions, ranges anchored at the data's end, in each engine's language."""
    end = data.end + timedelta(seconds=1)  # half-open ranges that include the newest line
    everything = data.end - timedelta(hours=data.hours, minutes=1)
    hour, day, retained = end - timedelta(hours=1), end - timedelta(hours=24), end - timedelta(days=7)
    tid = data.trace_id
    return [
        Case("needle", "hits", f"{NEEDLE} over all data (hits + total)", everything, end, NEEDLE, NEEDLE),
        Case("phrase_last_hour", "hits", '"connection refused", last hour (hits + total)', hour, end,
             '"connection refused"', '"connection refused"'),
        Case("stats_errors_by_service_24h", "groups", "level:error | stats count() by service, 24 h", day, end,
             "level:error | stats count() by service", "level:=ERROR | stats by (service) count() as c"),
        Case("timechart_1m_24h", "timechart", "count per minute, 24 h", day, end,
             "* | timechart span=1m count()", "* | stats by (_time:1m) count() as c"),
        Case("top10_host_filtered_24h", "top", "-level:debug | top 10 host, 24 h", day, end,
             "-level:debug | top 10 host", "-level:=DEBUG | top 10 by (host)"),
        Case("top10_host_attr_filter_24h", "top", "status:>=500 | top 10 host (status is an attribute), 24 h",
             day, end, "status:>=500 | top 10 host", "status:>=500 | top 10 by (host)"),
        Case("trace", "trace", "every line of one trace_id, 7 d", retained, end, tid,
             f'trace_id:="{tid}" | sort by (_time)'),
    ]  # fmt: skip


def _summary(result: Any) -> Any:
    """What the JSON shows of a result: the number itself, or rows and their total count."""
    if isinstance(result, int):
        return result
    counts = [r[1] if isinstance(r, tuple) else r for r in result]
    return {"rows": len(result), "sum": sum(counts)}


def wait_searchable(engine: Engine, data: NdjsonData) -> None:
    """Poll a count over all the data until it sees every line (raises on a shortfall or an excess)."""
    span_start = data.end - timedelta(hours=data.hours, minutes=1)
    span_end = data.end + timedelta(seconds=1)
    deadline = time.monotonic() + SEARCHABLE_TIMEOUT_S
    while (seen := engine.count(span_start, span_end)) < data.lines:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{engine.name}: only {seen:,} of {data.lines:,} lines searchable")
        time.sleep(0.2)
    if seen != data.lines:
        raise RuntimeError(f"{engine.name}: {seen:,} lines searchable, {data.lines:,} sent")


def load_engine(engine: Engine, data: NdjsonData, args: argparse.Namespace, ui: Ui, out: dict[str, Any]) -> None:
    """Phase 1, one engine alone: start, load, wait until searchable, stop cleanly, measure the data dir.

    `out` is filled as the steps finish, so an engine that fails half-way still shows what was measured.
    """
    try:
        out["ready_s"] = round(engine.start(), 2)
        out["ready_rss_mb"] = round(psutil.Process(engine.pid).memory_info().rss / 2**20, 1)  # the fixed cost
        ui.say(f"{engine.name}: ready on 127.0.0.1:{engine.port} (pid {engine.pid}); loading {data.lines:,} lines")
        with ui.task(f"{engine.name}: ingest", data.lines) as advance:
            load = send_all(
                data, port=engine.port, path=engine.ingest_path, content_type=engine.content_type,
                clients=args.clients, wire_body=engine.wire_body, ack_error=engine.ack_error, on_ack=advance,
            )  # fmt: skip
        if load.errors:
            raise RuntimeError(f"{engine.name}: load failed: {load.errors[0]}")
        wait_searchable(engine, data)
        searchable = time.monotonic()
        assert engine.sampler is not None
        cpu = engine.sampler.cpu_at(searchable) - engine.sampler.cpu_at(load.first_send)
        out |= {
            "ingest_lines_per_s": round(data.lines / (searchable - load.first_send)),
            "ack_lines_per_s": round(data.lines / (load.last_ack - load.first_send)),
            "searchable_lag_s": round(searchable - load.last_ack, 2),
            "lines_per_cpu_s": round(data.lines / cpu) if cpu > 0 else None,
            "ingest_cpu_s": round(cpu, 1),
            "retries_429": load.retries,
        }
        ui.say(
            f"{engine.name}: {out['ingest_lines_per_s']:,} lines/s until searchable, "
            f"{out['lines_per_cpu_s'] or 0:,} per CPU-second"
        )
    finally:
        out["exit_code"] = engine.stop()
        out["shutdown_s"] = round(engine.server.shutdown_s or 0.0, 2)
        out["peak_rss_load_mb"] = round(engine.peak_rss / 2**20, 1)
        disk, _allocated, files = dir_bytes(engine.data_dir)
        out |= {"disk_bytes": disk, "disk_files": files, "disk_bytes_per_raw_byte": round(disk / data.raw_bytes, 4)}


def query_engines(
    engines: list[Engine],
    data: NdjsonData,
    cases: list[Case],
    args: argparse.Namespace,
    ui: Ui,
    results: dict[str, dict[str, Any]],
    failures: list[str],
) -> None:
    """Phase 2, all engines up at once on their data: each round asks every case of every engine in turn.

    Interleaved so that a busy neighbour slows every engine alike and the ratios stay meaningful. One
    warm-up per case and engine, then `--runs` timed rounds; every answer must equal the warm-up's.
    """
    live: list[Engine] = []
    started: list[Engine] = []

    def fail(engine: Engine, exc: Exception) -> None:
        failures.append(f"{engine.name}: {str(exc).splitlines()[0]}")
        print(f"{engine.name} failed: {exc}\nserver log tail:\n{engine.server.log_tail()}", file=sys.stderr)
        if engine in live:
            live.remove(engine)

    try:
        for engine in engines:
            try:
                started.append(engine)
                engine.start()
                wait_searchable(engine, data)
                live.append(engine)
            except Exception as exc:  # that engine is left out of the queries; the others go on
                fail(engine, exc)
        times: dict[tuple[str, str], list[float]] = {}
        with ui.task("queries", len(cases) * len(live) * (args.runs + 1)) as advance:
            for case in cases:
                for engine in list(live):
                    try:
                        results[engine.name]["answers"][case.name] = engine.run(case)
                    except Exception as exc:
                        fail(engine, exc)
                    advance(1)
            for round_no in range(args.runs):
                for case in cases:
                    turn = live[round_no % len(live) :] + live[: round_no % len(live)] if live else []
                    for engine in turn:  # who goes first rotates from round to round
                        try:
                            t0 = time.perf_counter()
                            answer = engine.run(case)
                            times.setdefault((engine.name, case.name), []).append((time.perf_counter() - t0) * 1000)
                            if answer != results[engine.name]["answers"][case.name]:
                                raise RuntimeError(f"{case.name}: the answer changed between runs")
                        except Exception as exc:
                            fail(engine, exc)
                        advance(1)
        for engine in live:
            results[engine.name]["queries"] = {
                case.name: {
                    "median_ms": round(statistics.median(times[engine.name, case.name]), 1),
                    "max_ms": round(max(times[engine.name, case.name]), 1),
                    "result": _summary(results[engine.name]["answers"][case.name]),
                }
                for case in cases
            }
    finally:
        for engine in started:
            engine.stop()
            results[engine.name]["peak_rss_mb"] = round(engine.peak_rss / 2**20, 1)


def compare(results: dict[str, dict[str, Any]], cases: list[Case]) -> list[str]:
    """A line per case whose answers differ between engines (empty when all agree)."""
    problems = []
    base = "logwarden"
    for case in cases:
        ours = results[base]["answers"].get(case.name)
        for name, res in results.items():
            theirs = res["answers"].get(case.name)
            if name != base and case.name in res["answers"] and ours != theirs:
                problems.append(f"{case.name}: {base}={_short(ours)} {name}={_short(theirs)}")
    return problems


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 400 else text[:400] + "…"


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """logwarden / peer for every figure (above 1 is better for rates, below 1 for times, bytes and RSS)."""
    ours = results["logwarden"]
    out: dict[str, Any] = {}

    def r(a: Any, b: Any) -> float | None:
        return round(a / b, 3) if isinstance(a, int | float) and isinstance(b, int | float) and b else None

    for name, peer in results.items():
        if name == "logwarden":
            continue
        keys = ("ingest_lines_per_s", "ack_lines_per_s", "lines_per_cpu_s", "disk_bytes_per_raw_byte",
                "peak_rss_mb", "peak_rss_load_mb")  # fmt: skip
        entry: dict[str, Any] = {k: r(ours.get(k), peer.get(k)) for k in keys}
        entry["queries"] = {
            q: r(v["median_ms"], peer.get("queries", {}).get(q, {}).get("median_ms"))
            for q, v in ours.get("queries", {}).items()
        }
        out[name] = entry
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, default=2_000_000, help="lines to generate and load (default 2000000)")
    p.add_argument("--hours", type=float, default=25.0, help="time span of the data, ending at generation")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--runs", type=int, default=5, help="timed runs per query after one warm-up (default 5)")
    p.add_argument("--clients", type=int, default=4, help="concurrent keep-alive connections (default 4)")
    p.add_argument("--batch-lines", type=int, default=1000, help="lines per request body (default 1000)")
    p.add_argument(
        "--victorialogs", help="path of the victoria-logs binary (default $VICTORIALOGS_BIN, PATH, ~/go/bin)"
    )
    p.add_argument("--opensearch", action="store_true", help="also run OpenSearch (needs --opensearch-home)")
    p.add_argument("--opensearch-home", help="an unpacked OpenSearch integ-test zip (default $OPENSEARCH_HOME)")
    p.add_argument("--java-home", help="JDK 21+ for OpenSearch (default: $OPENSEARCH_JAVA_HOME, $JAVA_HOME, Temurin)")
    p.add_argument(
        "--opensearch-user",
        default="nobody",
        help="user OpenSearch runs as when the bench runs as root (default nobody)",
    )
    p.add_argument("--cache-dir", default="/tmp/logwarden-bench-peers", help="where the NDJSON file is kept")
    p.add_argument("--reload", action="store_true", help="regenerate the NDJSON file even when cached")
    p.add_argument("--keep-data", action="store_true", help="keep the engines' data dirs and logs")
    p.add_argument("-v", "--verbose", action="store_true", help="progress lines on stderr even when piped")
    args = p.parse_args(argv)
    if args.lines < 1000 or args.runs < 1 or args.clients < 1 or args.batch_lines < 1:
        p.error("--lines must be >= 1000, --runs, --clients and --batch-lines >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    vl_bin = find_victorialogs(args.victorialogs)
    if vl_bin is None:
        given = args.victorialogs or os.environ.get("VICTORIALOGS_BIN")
        print((f"no executable at {given}\n" if given else "") + VICTORIALOGS_HOWTO, file=sys.stderr)
        return 2
    os_home = java_home = None
    if args.opensearch:
        os_home, java_home = find_opensearch_home(args.opensearch_home), find_java_home(args.java_home)
        if os_home is None or java_home is None:
            print(OPENSEARCH_HOWTO, file=sys.stderr)
            return 2
    ui = Ui(args.verbose)
    data = ndjson_dataset(
        lines=args.lines, seed=args.seed, hours=args.hours, batch_lines=args.batch_lines,
        cache_dir=Path(args.cache_dir), reload=args.reload, say=ui.say,
    )  # fmt: skip
    cases = build_cases(data)
    tmp = Path(tempfile.mkdtemp(prefix="logwarden-peers-"))
    results: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    try:
        engines: list[Engine] = [Logwarden(tmp / "logwarden"), VictoriaLogs(tmp / "victorialogs", vl_bin)]
        if os_home is not None and java_home is not None:
            user = args.opensearch_user if os.geteuid() == 0 else None
            engines.append(OpenSearch(tmp / "opensearch", os_home, java_home, user))
        loaded: list[Engine] = []
        for engine in engines:  # one at a time: each load gets the whole machine
            results[engine.name] = {"answers": {}}
            try:
                load_engine(engine, data, args, ui, results[engine.name])
                loaded.append(engine)
            except Exception as exc:  # report the failure, still print what was measured
                failures.append(f"{engine.name}: {str(exc).splitlines()[0]}")
                print(f"{engine.name} failed: {exc}\nserver log tail:\n{engine.server.log_tail()}", file=sys.stderr)
        ui.say("starting " + ", ".join(e.name for e in loaded) + " again for the queries")
        query_engines(loaded, data, cases, args, ui, results, failures)
    finally:
        if args.keep_data:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    mismatches = compare(results, cases)
    if mismatches:
        print("RESULT COUNTS DIFFER:\n  " + "\n  ".join(mismatches), file=sys.stderr)
    for res in results.values():
        res.pop("answers", None)
    report = {
        "lines": data.lines,
        "raw_bytes": data.raw_bytes,
        "mean_line_bytes": round(data.raw_bytes / data.lines, 1),
        "hours": data.hours,
        "clients": args.clients,
        "batch_lines": args.batch_lines,
        "runs": args.runs,
        "cores": os.cpu_count(),
        "victorialogs_binary": str(vl_bin),
        "opensearch_home": str(os_home) if os_home else None,
        "cases": {c.name: {"what": c.what, "logwarden": c.logwarden, "logsql": c.logsql} for c in cases},
        "engines": results,
        "ratios": ratios(results),
        "counts_equal": not mismatches and not failures,
        "mismatches": mismatches,
        "failures": failures,
        "finished_at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    print(json.dumps(report), flush=True)
    return 1 if mismatches or failures else 0


if __name__ == "__main__":
    sys.exit(main())
