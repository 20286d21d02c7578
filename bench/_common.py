"""Helpers shared by the benchmarks: a real `logwarden serve` subprocess, RSS/CPU sampling, small stats.

Only the standard library and psutil, so that a benchmark's sender process stays cheap to start.
"""

from __future__ import annotations

import http.client
import itertools
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

_T0 = time.monotonic()


def log(msg: str) -> None:
    """Progress line on stderr, prefixed with seconds since the benchmark started."""
    print(f"[{time.monotonic() - _T0:7.2f}s] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an already sorted list; NaN when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100.0 * len(sorted_values) + 0.4999999)))
    return sorted_values[rank - 1]


def dir_bytes(path: Path) -> tuple[int, int, int]:
    """(apparent bytes, allocated bytes, file count) of everything under `path`."""
    apparent = allocated = files = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            try:
                st = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            apparent += st.st_size
            allocated += st.st_blocks * 512
            files += 1
    return apparent, allocated, files


@dataclass(slots=True)
class Sample:
    t: float  # time.monotonic(), comparable across processes on Linux
    rss: int  # bytes, the server process plus its children
    cpu: float  # CPU seconds (user + system) so far, the server process plus its children


@dataclass
class ResourceSampler:
    """Samples a process tree's RSS and CPU time every `interval` seconds on a daemon thread."""

    pid: int
    interval: float = 0.1
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            proc = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        next_at = time.monotonic()
        while not self._stop.is_set():
            sample = self._sample(proc)
            if sample is None:
                return
            self.samples.append(sample)
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    @staticmethod
    def _sample(proc: psutil.Process) -> Sample | None:
        try:
            with proc.oneshot():
                rss = proc.memory_info().rss
                times = proc.cpu_times()
                cpu = times.user + times.system
            for child in proc.children(recursive=True):
                try:
                    rss += child.memory_info().rss
                    ct = child.cpu_times()
                    cpu += ct.user + ct.system
                except psutil.Error:
                    pass
        except psutil.Error:
            return None
        return Sample(time.monotonic(), rss, cpu)

    @property
    def peak_rss(self) -> int:
        return max((s.rss for s in self.samples), default=0)

    @property
    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def cpu_at(self, t: float) -> float:
        """Server CPU seconds at monotonic time `t`, interpolated between samples."""
        samples = self.samples
        if not samples:
            return float("nan")
        if t <= samples[0].t:
            return samples[0].cpu
        for a, b in itertools.pairwise(samples):
            if a.t <= t <= b.t:
                frac = (t - a.t) / (b.t - a.t) if b.t > a.t else 0.0
                return a.cpu + frac * (b.cpu - a.cpu)
        return samples[-1].cpu


class ServerError(RuntimeError):
    """The server did not start, or died."""


class Server:
    """`logwarden serve` in a subprocess on a free loopback port, its output going to a log file."""

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        *,
        extra_args: list[str] | None = None,
        command: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        base = shlex.split(command) if command else [sys.executable, "-m", "logwarden", "serve"]
        self.argv = [
            *base,
            "--data-dir",
            str(data_dir),
            "--http-host",
            "127.0.0.1",
            "--http-port",
            str(self.port),
            *(extra_args or []),
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None
        self.shutdown_s: float | None = None
        self.killed = False

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log(f"starting server: {shlex.join(self.argv)}")
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Poll GET /readyz until 200; returns seconds waited. Raises ServerError on exit or timeout."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServerError(f"server exited with {self.proc and self.proc.returncode} before ready")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                try:
                    conn.request("GET", "/readyz")
                    if conn.getresponse().status == 200:
                        return time.monotonic() - started
                finally:
                    conn.close()
            except OSError:
                pass
            time.sleep(0.1)
        raise ServerError(f"server not ready after {timeout:.0f}s")

    def stop(self, timeout: float = 120.0) -> int | None:
        """SIGTERM, wait up to `timeout` for a graceful exit (SIGKILL after); returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            started = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"server still running {timeout:.0f}s after SIGTERM: killing it")
                self.killed = True
                self.proc.kill()
                self.proc.wait()
            self.shutdown_s = time.monotonic() - started
        self.exit_code = self.proc.returncode
        return self.exit_code

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
