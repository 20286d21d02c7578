"""A real receiver: Debian's `prometheus` with `--web.enable-remote-write-receiver` gets the pushed series, and
PromQL over its HTTP API sees every line once — across a restart of the subscriber too (no counter reset)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from logwarden.config.logmetrics import RemoteWriteConfig
from logwarden.logmetrics.aggregate import builtin_definitions
from logwarden.logmetrics.store import SeriesStore
from logwarden.logmetrics.subscriber import LogMetricsSubscriber
from tests.conftest import free_port
from tests.unit.logmetrics.conftest import RETENTION
from tests.unit.logmetrics.helpers import line, stored
from tests.unit.logmetrics.test_server import eventually, promql

pytestmark = pytest.mark.slow


@pytest.fixture
def receiving_prometheus(tmp_path: Path) -> Iterator[str]:
    """Debian's prometheus on a loopback port, scraping nothing, accepting remote-write; yields its URL."""
    binary = shutil.which("prometheus")
    assert binary is not None, "prometheus not found on PATH (apt-get install prometheus)"
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1s}\n")
    with (tmp_path / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-remote-write-receiver",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(url + "/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        eventually(ready, 30)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def open_pushing(path: Path, url: str) -> LogMetricsSubscriber:
    """A subscriber with the real clock (Prometheus stamps nothing itself: samples carry the commit's time)."""
    remote = RemoteWriteConfig(url=url + "/api/v1/write")
    return LogMetricsSubscriber(
        SeriesStore(path, RETENTION),
        builtin_definitions(),
        compact_interval=None,
        commit_interval=timedelta(0),
        remote_write=remote,
    )


def test_prometheus_receives_the_pushed_series(receiving_prometheus: str, tmp_path: Path) -> None:
    prom = receiving_prometheus
    sub = open_pushing(tmp_path / "series.duckdb", prom)
    try:
        sub.handle(stored(1, [line(i % 50) for i in range(120)]))
        sub.handle(stored(2, [line(i % 50, level="error") for i in range(30)]))
        assert sub.remote is not None and sub.remote.push() > 0
    finally:
        sub.close()
    eventually(lambda: promql(prom, 'sum(logs_total{tenant="default"})') == {"{}": 150.0}, 30)
    by_level = promql(prom, 'sum by (level) (logs_total{tenant="default",service="api"})')
    assert by_level == {'{"level":"ERROR"}': 30.0, '{"level":"INFO"}': 120.0}
    # A restart: the counters carry on from the pushed totals; nothing is sent twice.
    again = open_pushing(tmp_path / "series.duckdb", prom)
    try:
        again.handle(stored(3, [line(i % 50) for i in range(300)]))
        assert again.remote is not None and again.remote.push() > 0
    finally:
        again.close()
    eventually(lambda: promql(prom, 'sum(logs_total{tenant="default"})') == {"{}": 450.0}, 30)
    assert promql(prom, 'sum(log_bytes_total{tenant="default"})')["{}"] > 450
    assert promql(prom, 'resets(logs_total{tenant="default",level="INFO"}[10m])') == {
        '{"level":"INFO","service":"api","tenant":"default"}': 0.0
    }
