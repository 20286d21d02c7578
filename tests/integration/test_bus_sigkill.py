"""SIGKILL a real server under load while its bus subscribers are behind: after the restart a stateful subscriber
has every stored line exactly once, and the copy output has shipped every acknowledged line (a repeat only
from the moments before the kill, which its cursor had not yet recorded)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import TEST_RETENTION_DAYS, free_port
from tests.unit.pipeline.test_copy import Capture

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


class BusServer:
    def __init__(self, tmp: Path, config_file: Path, state: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"server-{self.port}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.bus_server", str(config_file), str(self.port), str(state)],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log_path.read_text())
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(self.log_path.read_text())

    def metric(self, name: str, subscriber: str) -> float:
        for line in httpx.get(self.url + "/metrics").text.splitlines():
            if line.startswith(name + "{") and f'subscriber="{subscriber}"' in line:
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name} for {subscriber} not exposed")

    def close(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self._log.close()


def test_sigkill_while_subscribers_are_behind_loses_and_doubles_nothing(tmp_path: Path) -> None:
    capture = Capture()
    config_file = tmp_path / "logwarden.yaml"
    config_file.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        f"store: {{retention_days: {TEST_RETENTION_DAYS}}}\n"
        "pipelines:\n"
        "  - name: all-out\n"
        f"    processors: [{{type: copy, name: mirror, to: {{type: http, url: '{capture.url}'}}}}]\n"
    )
    state = tmp_path / "state.sqlite"
    server = BusServer(tmp_path, config_file, state)
    acknowledged: list[str] = []
    stop = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            n = 0
            while not stop.is_set():
                ids = [f"w{worker}-r{n}-{i}" for i in range(200)]
                body = b"\n".join(orjson.dumps({"message": f"line {i}", "log_id": i}) for i in ids)
                try:
                    if http.post("/api/v1/ingest", content=body).status_code == 200:
                        acknowledged.extend(ids)
                except httpx.HTTPError:
                    return  # the server is gone
                n += 1

    workers = [threading.Thread(target=client, args=(w,)) for w in range(3)]
    for w in workers:
        w.start()
    time.sleep(3)
    lag = server.metric("logwarden_bus_lag_bytes", "sqlite-lines")
    server.close(signal.SIGKILL)
    stop.set()
    for w in workers:
        w.join()
    assert acknowledged, server.log_path.read_text()
    assert lag > 0, "the stateful subscriber was never behind: the kill tested nothing"

    again = BusServer(tmp_path, config_file, state)
    try:
        deadline = time.monotonic() + 60
        while any(again.metric("logwarden_bus_lag_bytes", s) > 0 for s in ("sqlite-lines", "copy.mirror")):
            assert time.monotonic() < deadline, "subscribers did not catch up after the restart"
            time.sleep(0.2)
        db = sqlite3.connect(state)
        counts = Counter(log_id for (log_id,) in db.execute("SELECT log_id FROM lines"))
        db.close()
        doubled = [i for i, c in counts.items() if c > 1]
        assert doubled == []
        assert set(acknowledged) <= set(counts)
        shipped: Counter[str] = Counter(line["log_id"] for line in capture.lines())
        assert set(acknowledged) <= set(shipped)
        repeats = sum(c - 1 for c in shipped.values())
        # A repeat can only be a line shipped after the last cursor write before the kill (0.2 s of them).
        assert repeats <= len(acknowledged) // 5, repeats
    finally:
        again.close(signal.SIGTERM)
        capture.server.shutdown()
        capture.server.server_close()
