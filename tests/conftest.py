"""Shared fixtures: an in-process app with a temporary data dir, and helpers for real subprocess servers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.config import Config, load_config

# Tests store lines stamped on fixed days of 2026 (golden data, readable assertions). Ingest refuses lines
# older than retention, so in-process servers keep a century: the tests mean the same on any day until 2126.
# Tests of retention itself set store.retention_days (and compute their times from the moment they run).
TEST_RETENTION_DAYS = 36_500


def pytest_configure(config: pytest.Config) -> None:
    """TEST_CLOCK_DAYS_AHEAD=N runs the tests with the clock N days ahead (CI runs the fast tests a month
    ahead, so no test may depend on today's date). time-machine moves Python's wall clock in every thread
    (time.time, datetime.now), not time.monotonic, so timeouts keep working; DuckDB's own now() is not moved
    (the server never reads it for anything a test sees)."""
    days = os.environ.get("TEST_CLOCK_DAYS_AHEAD")  # not LOGWARDEN_*: those are config overrides
    if days:
        import time_machine

        traveller = time_machine.travel(datetime.now(UTC) + timedelta(days=float(days)), tick=True)
        traveller.start()
        config.stash[_TRAVELLER] = traveller


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(_TRAVELLER, None)
    if traveller is not None:
        traveller.stop()


_TRAVELLER = pytest.StashKey[Any]()


def make_config(tmp_path: Path, **overrides: Any) -> Config:
    defaults = {"data_dir": str(tmp_path / "data"), "store.retention_days": TEST_RETENTION_DAYS}
    return load_config(None, env={}, overrides={**defaults, **overrides})


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
def client(config: Config) -> Iterator[TestClient]:
    """The ASGI app in-process with its lifespan (store open) and no background maintenance."""
    with TestClient(create_app(config, run_maintenance=False)) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`logwarden serve` as a real subprocess on a free loopback port."""

    def __init__(self, data_dir: Path, *extra: str, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "logwarden",
                "serve",
                "--data-dir",
                str(data_dir),
                "--http-port",
                str(self.port),
                *extra,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"server not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        self._log.close()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[ServerProcess] = []

    def start(
        data_dir: Path | None = None, *extra: str, env: dict[str, str] | None = None, port: int | None = None
    ) -> ServerProcess:
        server = ServerProcess(data_dir or tmp_path / "data", *extra, env=env, port=port)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.close()
