"""Runs the demo: the receiver, `logwarden serve` as a child process on a temporary data dir, half an hour of
history, the new-exception rule, then live traffic every half second until stopped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import orjson

from logwarden.demo.generator import DemoSchedule, Line, TrafficGenerator
from logwarden.demo.receiver import NotificationReceiver
from logwarden.demo.rules import new_exception_rule, write_files

TICK = 0.5  # seconds of traffic per ingest request
INCIDENTS = {
    "burst": "incident: an error burst on checkout (rule error-burst)",
    "brute": "incident: a brute-force login from 203.0.113.66 (rule brute-force-login)",
    "new_exception": "incident: a new exception type on payment (rule new-exception-type)",
    "silent": "incident: inventory goes silent (rule silent-service)",
}


class DemoError(Exception):
    """The demo could not start (the server did not come up, the port is taken): the message says why."""


@dataclass(frozen=True)
class DemoOptions:
    """How to run the demo. `port` 0: any free port; `duration` None: until stopped."""

    port: int = 8080
    schedule: DemoSchedule = field(default_factory=DemoSchedule)
    history_minutes: int = 30
    open_browser: bool = True
    keep: bool = False
    duration: float | None = None


def has_display() -> bool:
    """Whether a browser window could open here (a desktop session, not SSH or CI)."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DemoRunner:
    """The demo's parts, started by `start()`, fed by `run()`, stopped by `close()` (idempotent)."""

    def __init__(self, options: DemoOptions, echo: Callable[[str], None]) -> None:
        self.options = options
        self.echo = echo
        self.directory = Path(tempfile.mkdtemp(prefix="logwarden-demo-"))
        self.port = options.port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.receiver = NotificationReceiver(echo)
        self.generator = TrafficGenerator(options.schedule)
        self._server: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._client = httpx.Client(base_url=self.url, timeout=30)
        self.lines_sent = 0
        self._receiving = False

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    def start(self) -> None:
        """Receiver, server, history, the API rule; raises DemoError when the server does not come up."""
        self.receiver.start()
        self._receiving = True
        config = write_files(self.directory, self.options.schedule, self.port, self.receiver.url, self.url)
        self._log = self.log_path.open("wb")
        self._server = subprocess.Popen(
            [sys.executable, "-m", "logwarden", "serve", "--config", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()
        history = 0
        for batch in self.generator.history(self.options.history_minutes):
            history += self._send(batch)
        self._wait_stored(history)
        body = {"group": "demo", "rule": new_exception_rule(self.options.schedule)}
        resp = self._client.post("/api/v1/rules", json=body)
        if resp.status_code != 201:
            raise DemoError(f"could not create the new-exception rule: {resp.text}")

    def _wait_ready(self, timeout: float = 60) -> None:
        assert self._server is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._server.poll() is not None:
                raise DemoError(f"the server stopped (exit {self._server.returncode}):\n{self._log_tail()}")
            try:
                if self._client.get("/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise DemoError(f"the server was not ready after {timeout:.0f}s:\n{self._log_tail()}")

    def _wait_stored(self, lines: int, timeout: float = 60) -> None:
        # The new-exception rule learns the known exceptions from stored lines: the history must be searchable.
        deadline = time.monotonic() + timeout
        since = f"now-{self.options.history_minutes + 5}m"
        while time.monotonic() < deadline:
            resp = self._client.get("/api/v1/stats/count", params={"start": since})
            if resp.status_code == 200 and resp.json().get("total", 0) >= lines:
                return
            time.sleep(0.2)
        raise DemoError(f"the history was not stored after {timeout:.0f}s")

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def _send(self, lines: list[Line]) -> int:
        if not lines:
            return 0
        body = b"\n".join(orjson.dumps(line) for line in lines)
        resp = self._client.post("/api/v1/ingest", content=body, headers={"Content-Type": "application/x-ndjson"})
        if resp.status_code == 200:
            self.lines_sent += len(lines)
            return len(lines)
        return 0  # 429/503 under load: the demo drops that tick, as a lossy shipper would

    def announce(self) -> None:
        """Print where to look, and open the console when a display exists."""
        self.echo(
            f"\nlogwarden demo is running: open {self.url}/\n"
            f"  Discover    {self.url}/?q=level:error\n"
            f"  Dashboards  {self.url}/dashboards\n"
            f"  data in {self.directory} (server log: {self.log_path}); Ctrl-C stops and removes it\n"
            "Notifications from the sample rules appear below.\n"
        )
        if self.options.open_browser and has_display():
            webbrowser.open(self.url + "/")

    def run(self, stop: threading.Event) -> None:
        """Send live traffic every TICK seconds, announcing each incident as it begins, until `stop` is set."""
        started = time.monotonic()
        was: dict[str, bool] = {}
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if self.options.duration is not None and elapsed >= self.options.duration:
                return
            phase = self.generator.phase(elapsed)
            for key, message in INCIDENTS.items():
                if phase[key] and not was.get(key):
                    self.echo(message)
                was[key] = bool(phase[key])
            self._send(self.generator.batch(elapsed, TICK))
            if self._server is not None and self._server.poll() is not None:
                raise DemoError(f"the server stopped (exit {self._server.returncode}):\n{self._log_tail()}")
            stop.wait(max(0.0, TICK - (time.monotonic() - started - elapsed)))

    def close(self) -> None:
        """Stop the server (SIGTERM, then kill), the receiver, and remove the data unless `keep`."""
        self._client.close()
        if self._server is not None and self._server.poll() is None:
            self._server.terminate()
            try:
                self._server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()
        self._server = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._receiving:
            self.receiver.close()
            self._receiving = False
        if not self.options.keep:
            shutil.rmtree(self.directory, ignore_errors=True)


def run_demo(options: DemoOptions, echo: Callable[[str], None]) -> int:
    """The `logwarden demo` command: exit status 0 when stopped (Ctrl-C, SIGTERM or `duration`), 1 on failure."""
    import signal

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runner = DemoRunner(options, echo)
    try:
        minutes = f"{options.history_minutes} minute{'' if options.history_minutes == 1 else 's'}"
        echo(f"starting logwarden on {runner.url} with {minutes} of history…")
        runner.start()
        runner.announce()
        runner.run(stop)
        return 0
    except KeyboardInterrupt:
        return 0
    except DemoError as exc:
        echo(f"logwarden demo: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        echo("stopping the demo…")
        runner.close()
