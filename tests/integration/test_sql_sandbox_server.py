"""`logwarden serve` as a real process: SQL memory probes leave the server's RSS alone, workers go with it."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import psutil
import pytest

pytestmark = pytest.mark.slow

MiB = 1024**2


def _tree_rss(pid: int) -> tuple[int, int]:
    """RSS of the server process, and the largest RSS among its descendants (forkserver, workers)."""
    server = psutil.Process(pid)
    largest = 0
    for child in server.children(recursive=True):
        try:
            largest = max(largest, child.memory_info().rss)
        except psutil.Error:
            continue
    return server.memory_info().rss, largest


def _peaks_during(pid: int, fn: Any) -> tuple[int, int, Any]:
    """The server's highest RSS and the highest RSS of any of its descendants while fn ran; fn's result."""
    peak, worker_peak = _tree_rss(pid)
    worker_peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, worker_peak
        while not done.is_set():
            server_rss, child_rss = _tree_rss(pid)
            peak, worker_peak = max(peak, server_rss), max(worker_peak, child_rss)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = fn()
    finally:
        done.set()
        sampler.join()
    return peak, worker_peak, result


def test_memory_probes_against_a_real_server(server_factory: Any) -> None:
    server = server_factory()
    now = datetime.now(UTC)
    body = b"\n".join(
        orjson.dumps({"ts": (now - timedelta(seconds=i)).isoformat(), "msg": f"line {i}"}) for i in range(5000)
    )
    assert httpx.post(server.url + "/api/v1/ingest", content=body, timeout=30).status_code == 200
    count = httpx.post(server.url + "/api/v1/sql", json={"sql": "SELECT count(*) FROM logs"}, timeout=30)
    assert count.status_code == 200, count.text
    assert count.json()["rows"] == [[5000]]

    for probe in ("SELECT len(range(100000000))", "SELECT list_resize([1],100000000)"):
        before, _ = _tree_rss(server.proc.pid)
        peak, worker_peak, resp = _peaks_during(
            server.proc.pid,
            lambda probe=probe: httpx.post(server.url + "/api/v1/sql", json={"sql": probe, "timeout": 20}, timeout=60),
        )
        assert resp.status_code in (400, 408), resp.text
        assert peak - before < 100 * MiB, f"{probe}: server RSS grew by {(peak - before) / MiB:.0f} MiB"
        # The worker stays within sql.max_memory (1 GiB by default) plus what Python and DuckDB need.
        assert worker_peak < 1024 * MiB + 300 * MiB, f"{probe}: a worker reached {worker_peak / MiB:.0f} MiB"

    helpers = psutil.Process(server.proc.pid).children(recursive=True)
    assert helpers, "expected the SQL forkserver and spare workers"
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(30) == 0
    _, alive = psutil.wait_procs(helpers, timeout=10)
    assert alive == [], f"left behind: {alive}"


def test_a_running_statement_dies_with_a_killed_server(server_factory: Any) -> None:
    server = server_factory()
    long_query = "SELECT count(*) FROM range(100000000) a, range(100000) b"
    request = threading.Thread(
        target=lambda: _ignore_errors(
            lambda: httpx.post(server.url + "/api/v1/sql", json={"sql": long_query, "timeout": 120}, timeout=130)
        )
    )
    request.start()
    deadline = time.monotonic() + 20
    busy: list[psutil.Process] = []
    while not busy and time.monotonic() < deadline:
        time.sleep(0.2)
        busy = [p for p in psutil.Process(server.proc.pid).children(recursive=True) if _cpu_busy(p)]
    assert busy, "expected a worker running the statement"
    family = psutil.Process(server.proc.pid).children(recursive=True)
    server.kill()
    request.join(30)
    _, alive = psutil.wait_procs(family, timeout=10)
    assert alive == [], f"outlived the server: {alive}"


def _cpu_busy(process: psutil.Process) -> bool:
    try:
        return process.cpu_percent(interval=0.1) > 50
    except psutil.Error:
        return False


def _ignore_errors(fn: Any) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the server is killed mid-request
        fn()
