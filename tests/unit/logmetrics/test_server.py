"""Real processes: `logwarden serve` killed with SIGKILL right after ingest keeps every line of its log metrics
exactly once after a restart, and Debian's `prometheus` scrapes /metrics/logs (PromQL sees the lines)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import ServerProcess, free_port

pytestmark = pytest.mark.slow


def ingest(url: str, n: int, level: str = "info") -> None:
    now = datetime.now(UTC)
    lines = [
        {"ts": (now - timedelta(seconds=i % 50)).isoformat(), "service": "api", "level": level, "msg": f"line {i}"}
        for i in range(n)
    ]
    body = b"\n".join(orjson.dumps(x) for x in lines)
    resp = httpx.post(url + "/api/v1/ingest", content=body, headers={"Content-Type": "application/x-ndjson"})
    assert resp.status_code == 200, resp.text


def logs_total(url: str) -> float:
    params = {"metric": "logs_total", "fn": "sum", "start": "now-1h", "end": "now+5m", "step": "1h"}
    body = httpx.get(url + "/api/v1/metrics/query_range", params=params, timeout=10).json()
    return float(sum(v for s in body["series"] for _, v in s["values"]))


def eventually(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def test_sigkill_after_ingest_loses_and_doubles_nothing(server_factory: Any, tmp_path: Path) -> None:
    server: ServerProcess = server_factory(tmp_path / "data")
    ingest(server.url, 300)
    ingest(server.url, 200, level="error")
    server.kill()  # within the commit interval: the last points were not committed
    again: ServerProcess = server_factory(tmp_path / "data")
    eventually(lambda: logs_total(again.url) >= 500)
    time.sleep(1.5)  # a second commit interval: nothing more may arrive
    assert logs_total(again.url) == 500


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[int], str]]:
    """Starts Debian's prometheus scraping /metrics/logs of 127.0.0.1:<port> every second; yields its URL."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(target_port: int) -> str:
        binary = shutil.which("prometheus")
        assert binary is not None, "prometheus not found on PATH (apt-get install prometheus)"
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: logwarden-logs\n"
            "    metrics_path: /metrics/logs\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
        )
        log = (tmp_path / "prometheus.log").open("wb")
        procs.append(
            subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(url + "/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        eventually(ready, 30)
        return url

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def promql(url: str, query: str) -> dict[str, float]:
    """An instant query: {label set as text: value}."""
    body = httpx.get(url + "/api/v1/query", params={"query": query}, timeout=10).json()
    assert body["status"] == "success", body
    return {orjson.dumps(r["metric"]).decode(): float(r["value"][1]) for r in body["data"]["result"]}


def test_prometheus_scrapes_the_log_metrics(server_factory: Any, prometheus: Callable[[int], str]) -> None:
    server: ServerProcess = server_factory()
    prom = prometheus(server.port)
    ingest(server.url, 120)
    ingest(server.url, 30, level="error")
    eventually(lambda: promql(prom, 'sum(logs_total{tenant="default"})') == {"{}": 150.0})
    by_level = promql(prom, 'sum by (level) (logs_total{tenant="default",service="api"})')
    assert by_level == {'{"level":"ERROR"}': 30.0, '{"level":"INFO"}': 120.0}
    # More lines: the counter grows, and PromQL's rate over it sees them.
    ingest(server.url, 300)
    eventually(lambda: promql(prom, 'sum(logs_total{tenant="default"})') == {"{}": 450.0})
    rate = promql(prom, 'sum(rate(logs_total{tenant="default"}[1m]))')
    assert rate["{}"] > 0
    assert promql(prom, 'sum(log_bytes_total{tenant="default"})')["{}"] > 450 * 5
