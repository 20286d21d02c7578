"""A real Prometheus Alertmanager for the integration tests: Debian's `prometheus-alertmanager` binary on loopback.

How it works
------------
1. Config: a temporary directory with `alertmanager.yml` — a root route to one receiver, `null` (no
   integrations: Alertmanager keeps and lists the alerts, sends nothing) or, when `webhook_url` is given, a
   webhook receiver with `send_resolved` (so a test can see what Alertmanager itself notifies). `group_wait: 0s`
   and `group_interval: 1s` keep its notifications prompt.
2. Start: `prometheus-alertmanager --config.file … --storage.path <tmp>/data
   --web.listen-address=127.0.0.1:<free port> --cluster.listen-address=` (empty: no clustering, so no gossip
   port and no settling wait); its output goes to `<tmp>/alertmanager.log`.
3. Ready: when `GET /-/ready` answers 200 (well under a second on these machines); a process that exits or
   stays unready for 30 s is an error with the log's tail.
4. Stop: SIGTERM, SIGKILL after 10 s; the temporary directory goes with the test's tmp_path.

The binary missing is an error, not a skip: CI must run these tests (`apt-get install prometheus-alertmanager`).
Alertmanager's clock is the machine's real one; tests that run Python with the clock moved (time-machine) take
"now" from its HTTP `Date` header (`server_now`).
"""

from __future__ import annotations

import email.utils
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tests.conftest import free_port

BINARY = "prometheus-alertmanager"


class AlertmanagerHarnessError(Exception):
    """Alertmanager cannot be provided (no binary, a process that exits or never gets ready)."""


def config_text(webhook_url: str | None) -> str:
    """alertmanager.yml: everything to one receiver, `null` or a webhook to `webhook_url` with send_resolved."""
    if webhook_url:
        receiver = (
            f"  - name: capture\n    webhook_configs:\n      - url: '{webhook_url}'\n        send_resolved: true\n"
        )
    else:
        receiver = "  - name: 'null'\n"
    return (
        "route:\n"
        f"  receiver: '{'capture' if webhook_url else 'null'}'\n"
        "  group_by: [alertname]\n"
        "  group_wait: 0s\n"
        "  group_interval: 1s\n"
        "  repeat_interval: 1h\n"
        "receivers:\n" + receiver
    )


class AlertmanagerServer:
    """`with AlertmanagerServer(tmp_path) as am:` — `am.url` is `http://127.0.0.1:<port>`."""

    def __init__(self, directory: Path, *, webhook_url: str | None = None) -> None:
        self.directory = directory
        self.webhook_url = webhook_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def log_path(self) -> Path:
        return self.directory / "alertmanager.log"

    def start(self, timeout: float = 30.0) -> None:
        binary = shutil.which(BINARY)
        if binary is None:
            raise AlertmanagerHarnessError(f"{BINARY} not found on PATH (apt-get install {BINARY})")
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "alertmanager.yml"
        config.write_text(config_text(self.webhook_url))
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={self.directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=info",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client() as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AlertmanagerHarnessError(f"alertmanager exited ({self.process.returncode}):\n{self.log()}")
                try:
                    if client.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        self.stop()
        raise AlertmanagerHarnessError(f"alertmanager not ready after {timeout:g}s:\n{self.log()}")

    def log(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def server_now(self) -> datetime:
        """Alertmanager's clock (its `Date` header, to the second, never ahead of it)."""
        with httpx.Client() as client:
            response = client.get(f"{self.url}/-/healthy", timeout=5.0)
        return email.utils.parsedate_to_datetime(response.headers["date"])

    def alerts(self, *matchers: str) -> list[dict[str, Any]]:
        """`GET /api/v2/alerts` (active, silenced, inhibited and unprocessed; never the resolved ones)."""
        with httpx.Client() as client:
            response = client.get(f"{self.url}/api/v2/alerts", params=[("filter", m) for m in matchers], timeout=5.0)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> AlertmanagerServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
