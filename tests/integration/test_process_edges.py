"""`logwarden serve` at the edges of its life: refusals at start are one line and exit 2, the banner comes
after the bind and names the absolute data path, SIGTERM is clean, `--version`/`--help` answer at once."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow
SERVE = [sys.executable, "-m", "logwarden", "serve"]


def run_serve(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERVE, *args], capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd
    )  # fmt: skip


def assert_one_line_refusal(out: subprocess.CompletedProcess[str], *expected: str) -> None:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert "listening" not in out.stderr
    for text in expected:
        assert text in lines[0], out.stderr


def test_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        out = run_serve("--data-dir", str(tmp_path / "d"), "--http-port", str(port))
    assert_one_line_refusal(out, f"cannot listen on 127.0.0.1:{port}", "Address already in use")


def test_locked_data_dir_names_the_pid_holding_it(tmp_path: Path, server_factory: Any) -> None:
    data_dir = tmp_path / "data"
    first = server_factory(data_dir)
    out = run_serve("--data-dir", str(data_dir), "--http-port", str(free_port()))
    assert_one_line_refusal(out, f"data dir {data_dir.resolve()} is in use by process {first.proc.pid}")
    # The refused second server did not disturb the first.
    assert httpx.get(first.url + "/readyz", timeout=5).status_code == 200
    # The lock goes with its holder: a restart on the same dir starts.
    assert first.terminate() == 0
    server_factory(data_dir)


def test_unreadable_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00http: {}")
    assert_one_line_refusal(run_serve("--config", str(binary)), f"{binary}: cannot read config file")
    assert_one_line_refusal(run_serve("--config", str(tmp_path)), f"{tmp_path}: cannot read config file")
    missing = tmp_path / "missing.yaml"
    assert_one_line_refusal(run_serve("--config", str(missing)), f"{missing}: cannot read config file")
    if os.geteuid() != 0:  # root reads a mode-000 file anyway
        private = tmp_path / "private.yaml"
        private.write_text("http: {}\n")
        private.chmod(0)
        assert_one_line_refusal(run_serve("--config", str(private)), "Permission denied")


@pytest.mark.parametrize(
    ("consumer", "message"),
    [
        ({"no.such.property": "1"}, 'No such configuration property: "no.such.property"'),
        ({"session.timeout.ms": "soon"}, 'Invalid value for configuration property "session.timeout.ms"'),
    ],
)
def test_kafka_setting_librdkafka_rejects_is_one_line_and_exit_2(
    tmp_path: Path, consumer: dict[str, str], message: str
) -> None:
    cfg = tmp_path / "kafka.yaml"
    settings = {"kafka": {"enabled": True, "topics": ["logs"], "consumer": consumer}}
    cfg.write_bytes(orjson.dumps(settings))  # JSON is YAML
    out = run_serve("--config", str(cfg), "--data-dir", str(tmp_path / "d"), "--http-port", str(free_port()))
    assert_one_line_refusal(out, message, "kafka.consumer")


def test_banner_comes_after_the_bind_and_names_the_absolute_data_dir(tmp_path: Path) -> None:
    with subprocess.Popen(
        [*SERVE, "--data-dir", "rel/data", "--http-port", "0"],
        cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    ) as proc:  # fmt: skip
        assert proc.stderr is not None
        try:
            match = read_banner(proc.stderr)
            port = int(match.group(1))
            assert port != 0  # port 0 asked for a free port: the banner names the one bound
            assert match.group(2) == str(tmp_path.resolve() / "rel" / "data")
            # Bound before announced: a client that acts on the banner at once gets through.
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            wait_healthy(f"http://127.0.0.1:{port}")  # the little it logs meanwhile fits in the pipe
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        assert "Traceback" not in proc.stderr.read()


BANNER = re.compile(r"listening on http://127\.0\.0\.1:(\d+) \(data in (.+)\)$")


def read_banner(stderr: Any) -> re.Match[str]:
    """The banner line, after whatever the server logs before it (e.g. the warning that auth is off)."""
    seen = []
    for _ in range(10):
        line = stderr.readline()
        seen.append(line)
        match = BANNER.search(line.strip())
        if match:
            return match
    raise AssertionError("no banner in the first lines: " + "".join(seen))


def wait_healthy(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout}s")


@pytest.mark.parametrize("when", ["while importing", "right after the banner"])
def test_sigterm_while_starting_exits_0_without_traceback(tmp_path: Path, when: str) -> None:
    with subprocess.Popen(
        [*SERVE, "--data-dir", str(tmp_path / "data"), "--http-port", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    ) as proc:  # fmt: skip
        assert proc.stderr is not None
        if when == "while importing":
            time.sleep(0.3)  # the server stack takes over a second to import
        else:
            read_banner(proc.stderr)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        err = proc.stderr.read()
    assert "Traceback" not in err, err


def test_sigterm_under_ingest_load_exits_0_without_traceback(tmp_path: Path, server_factory: Any) -> None:
    server = server_factory(tmp_path / "data")
    stop = threading.Event()
    acked = 0

    def client(k: int) -> None:
        nonlocal acked
        body = b"\n".join(orjson.dumps({"msg": f"load {k} {i}", "i": i}) for i in range(200))
        with httpx.Client(base_url=server.url, timeout=10) as http:
            while not stop.is_set():
                try:
                    if http.post("/api/v1/ingest", content=body).status_code == 200:
                        acked += 1
                except httpx.HTTPError:
                    return

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while acked < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.terminate() == 0
    stop.set()
    for t in threads:
        t.join(15)
    log = server.log()
    assert acked >= 20
    assert "Traceback" not in log and "Exception in thread" not in log, log
    assert "store closed cleanly" in log


def test_sigterm_during_maintenance_exits_0_without_traceback(tmp_path: Path, server_factory: Any) -> None:
    # Maintenance runs back to back, so the SIGTERM lands while a pass is in flight or about to start.
    server = server_factory(tmp_path / "data", env={"LOGWARDEN_STORE__MAINTENANCE_INTERVAL": "1ms"})
    body = b"\n".join(orjson.dumps({"msg": f"line {i}"}) for i in range(1000))
    for _ in range(5):
        assert httpx.post(server.url + "/api/v1/ingest", content=body, timeout=30).status_code == 200
    time.sleep(0.5)
    assert server.terminate() == 0
    log = server.log()
    assert "Traceback" not in log and "Exception in thread" not in log, log
    assert "store closed cleanly" in log


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_answer_at_once(flag: str) -> None:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "logwarden", flag], capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - started)
        assert "logwarden" in out.stdout
    # Best of 3: the interpreter starts in ~20 ms; importing the server stack took 0.7-1 s.
    assert min(times) < 0.3, times


def test_cli_module_imports_no_server_stack() -> None:
    heavy = ["httpx", "pydantic", "pyarrow", "polars", "duckdb", "uvicorn", "starlette", "yaml"]
    code = f"import sys, logwarden.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
