"""`logwarden agent` as a real process against a real `logwarden serve`: appends, rotations, copytruncate,
deletion, multiline, an unreachable server, and no loss and no duplicates across SIGKILLs and restarts."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerProcess, free_port

pytestmark = pytest.mark.slow
BLOCK = 100  # lines per content id ("blk" attr): the store must hold exactly BLOCK lines of each


class AgentProcess:
    """`python -m logwarden agent --config <yaml>` with a /metrics port of its own."""

    def __init__(self, workdir: Path, config: dict[str, Any], name: str, env: dict[str, str] | None = None) -> None:
        self.metrics_port = free_port()
        config = {**config, "metrics": {"port": self.metrics_port}}
        self.config_path = workdir / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "logwarden", "agent", "--config", str(self.config_path)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + 20
        while self.metrics_text() is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"agent did not start:\n{self.log()}")
            time.sleep(0.05)

    def metrics_text(self) -> str | None:
        try:
            return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).text
        except httpx.HTTPError:
            return None

    def metric(self, name: str, **labels: str) -> float:
        text = self.metrics_text() or ""
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        self._log.close()


@pytest.fixture
def agent_factory(tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    started: list[AgentProcess] = []

    def start(config: dict[str, Any], name: str = "agent", env: dict[str, str] | None = None) -> AgentProcess:
        agent = AgentProcess(tmp_path, config, f"{name}-{len(started)}", env)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.close()


def agent_config(tmp_path: Path, server: ServerProcess, inputs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "id": "it-agent",
        "hostname": "it-host",
        "data_dir": str(tmp_path / "agent-data"),
        "inputs": inputs,
        "output": {
            "url": server.url,
            "batch": {"max_lines": 500, "max_wait": "100ms"},
            "retry": {"initial_delay": "50ms", "max_delay": "400ms"},
            "connect_timeout": "1s",
            "request_timeout": "10s",
        },
        "tail": {"poll_interval": "20ms", "scan_interval": "100ms"},
    }
    config.update(extra)
    return config


def restart_server(server_factory: Any, old: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> ServerProcess:
    """A new server process on the same data dir and the same port (the agent's configured URL)."""
    with monkeypatch.context() as m:
        m.setattr("tests.conftest.free_port", lambda: old.port)
        server: ServerProcess = server_factory(old.data_dir)
    return server


def counts(server: ServerProcess, by: str, service: str) -> dict[int, int]:
    """Stored lines per value of an integer attribute (the API answers attribute values as text)."""
    resp = httpx.get(
        server.url + "/api/v1/stats/count",
        params={"by": by, "service": service, "start": "1h", "limit": 10_000},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    return {int(row[by]): row["count"] for row in resp.json()["counts"]}


def total(server: ServerProcess, service: str, q: str = "") -> int:
    resp = httpx.get(
        server.url + "/api/v1/search", params={"q": q, "service": service, "start": "1h", "limit": 1}, timeout=30
    )
    assert resp.status_code == 200, resp.text
    return int(resp.json()["total"])


def wait_for(condition: Callable[[], bool], timeout: float, what: str, logs: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{logs()}")
        time.sleep(0.1)


def wait_exact(server: ServerProcess, service: str, written: int, agent: AgentProcess, timeout: float = 15) -> None:
    """Until the store holds each of the `written` lines exactly once (by content id); on timeout, say which not."""
    want = expected_blocks(written)
    deadline = time.monotonic() + timeout
    while (got := counts(server, "blk", service)) != want:
        if time.monotonic() > deadline:
            wrong = {
                b: (got.get(b, 0), want.get(b, 0)) for b in sorted(set(got) | set(want)) if got.get(b) != want.get(b)
            }
            raise AssertionError(
                f"{service}: (stored, written) per block of {BLOCK} where they differ: {wrong}\n{agent.log()}"
            )
        time.sleep(0.1)


def expected_blocks(n: int) -> dict[int, int]:
    return {b: min(BLOCK, n - b * BLOCK) for b in range((n + BLOCK - 1) // BLOCK)}


class RotatingWriter:
    """An application writing JSON lines at a steady pace; rotations by rename (+ create) on demand.

    `rotate_begin` renames the files (app.log → app.log.1, shifting older ones) while the writer keeps
    writing to its open handle, as an application does until it reopens; `rotate_end` creates the new
    app.log and switches to it.
    """

    def __init__(self, directory: Path, service: str, lines_per_tick: int = 20, tick: float = 0.01) -> None:
        self.directory = directory
        self.path = directory / "app.log"
        self.service = service
        self.written = 0
        self.rotations = 0
        self._lines_per_tick = lines_per_tick
        self._tick = tick
        self._lock = threading.Lock()
        self._handle = self.path.open("ab")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> RotatingWriter:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                chunk = b"".join(self._line(self.written + i) for i in range(self._lines_per_tick))
                self._handle.write(chunk)
                self._handle.flush()
                self.written += self._lines_per_tick
            time.sleep(self._tick)

    def _line(self, i: int) -> bytes:
        record = {"msg": f"event {i} of the app", "level": "info", "seq": i, "blk": i // BLOCK, "service": self.service}
        return orjson.dumps(record) + b"\n"

    def rotate_begin(self) -> None:
        with self._lock:
            rotated = sorted((int(p.name.rsplit(".", 1)[1]) for p in self.directory.glob("app.log.*")), reverse=True)
            for k in rotated:
                os.rename(self.directory / f"app.log.{k}", self.directory / f"app.log.{k + 1}")
            os.rename(self.path, self.directory / "app.log.1")
            self.rotations += 1

    def rotate_end(self) -> None:
        with self._lock:
            self._handle.close()
            self._handle = self.path.open("ab")

    def rotate(self) -> None:
        self.rotate_begin()
        time.sleep(0.05)
        self.rotate_end()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        self._handle.close()
        return self.written


def write_json_lines(path: Path, start: int, n: int, service: str) -> None:
    with path.open("ab") as f:
        for i in range(start, start + n):
            f.write(orjson.dumps({"msg": f"event {i}", "seq": i, "blk": i // BLOCK, "service": service}) + b"\n")


def test_appended_files_are_shipped_with_labels_and_metrics(
    tmp_path: Path, server_factory: Any, agent_factory: Any
) -> None:
    server = server_factory()
    logs = tmp_path / "logs"
    logs.mkdir()
    config = agent_config(
        tmp_path,
        server,
        [{"paths": [str(logs / "*.log")], "service": "web", "attrs": {"env": "test"}}],
    )
    agent = agent_factory(config)
    for round_ in range(5):
        for name in ("a.log", "b.log"):
            with (logs / name).open("a") as f:
                f.write("".join(f"{name} round {round_} line {i}\n" for i in range(100)))
        time.sleep(0.05)
    wait_for(lambda: total(server, "web") >= 1000, 15, "1000 lines stored", agent.log)
    time.sleep(0.3)
    assert total(server, "web") == 1000
    assert total(server, "web", "a.log") == 500
    hit = httpx.get(
        server.url + "/api/v1/search", params={"q": "round 4 line 99", "service": "web", "start": "1h"}, timeout=10
    ).json()["hits"][0]
    assert hit["host"] == "it-host"
    assert hit["attrs"]["env"] == "test" and hit["attrs"]["file"] in (str(logs / "a.log"), str(logs / "b.log"))
    assert re.fullmatch(r"[0-9a-f]{16}@\d+", hit["log_id"])
    wait_for(lambda: agent.metric("logwarden_agent_lines_shipped_total") == 1000, 5, "shipped metric", agent.log)
    assert agent.metric("logwarden_agent_lines_read_total") == 1000
    assert agent.metric("logwarden_agent_bytes_read_total") == sum(p.stat().st_size for p in logs.iterdir())
    assert agent.metric("logwarden_agent_file_lag_bytes") == 0
    assert agent.metric("logwarden_agent_files_open") == 2
    assert agent.terminate() == 0, agent.log()


def test_rotation_by_rename_and_create(tmp_path: Path, server_factory: Any, agent_factory: Any) -> None:
    server = server_factory()
    logs = tmp_path / "logs"
    logs.mkdir()
    # Only app.log is in the glob: a renamed file is finished through the open handle.
    input_ = {"paths": [str(logs / "app.log")], "parser": "json", "close_removed_after": "1s"}
    agent = agent_factory(agent_config(tmp_path, server, [input_]))
    writer = RotatingWriter(logs, "rename").start()
    for _ in range(4):
        time.sleep(0.3)
        writer.rotate_begin()
        time.sleep(0.1)  # the application keeps writing to the renamed file for a moment
        writer.rotate_end()
    time.sleep(0.3)
    written = writer.stop()
    wait_exact(server, "rename", written, agent)
    assert agent.metric("logwarden_agent_file_events_total", kind="rename") == 4
    wait_for(lambda: agent.metric("logwarden_agent_files_open") == 1, 10, "renamed files closed", agent.log)


def test_copytruncate(tmp_path: Path, server_factory: Any, agent_factory: Any) -> None:
    server = server_factory()
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    agent = agent_factory(agent_config(tmp_path, server, [{"paths": [str(app)], "parser": "json"}]))
    written = 0
    for cycle in range(3):
        write_json_lines(app, written, 700, "copytruncate")
        written += 700
        # copytruncate loses what the agent has not read yet (for every shipper): wait until it has read it all.
        wait_for(
            lambda n=written: (  # type: ignore[misc]
                agent.metric("logwarden_agent_lines_read_total") == n
                and agent.metric("logwarden_agent_file_lag_bytes") == 0
            ),
            10,
            "agent caught up",
            agent.log,
        )
        shutil.copy(app, logs / f"app.log.{cycle + 1}")
        with app.open("r+b") as f:
            f.truncate(0)
    write_json_lines(app, written, 300, "copytruncate")
    written += 300
    wait_exact(server, "copytruncate", written, agent)
    assert agent.metric("logwarden_agent_file_events_total", kind="truncate") == 3
    assert agent.metric("logwarden_agent_unread_bytes_lost_total") == 0


def test_file_deleted_while_running(tmp_path: Path, server_factory: Any, agent_factory: Any) -> None:
    server = server_factory()
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    config = agent_config(tmp_path, server, [{"paths": [str(app)], "parser": "json", "close_removed_after": "1s"}])
    agent = agent_factory(config)
    write_json_lines(app, 0, 300, "deleted")
    wait_for(lambda: agent.metric("logwarden_agent_lines_read_total") == 300, 10, "first lines read", agent.log)
    # More lines, then the file is deleted at once: the agent reads them through its open handle.
    write_json_lines(app, 300, 2000, "deleted")
    app.unlink()
    wait_exact(server, "deleted", 2300, agent)
    wait_for(lambda: agent.metric("logwarden_agent_files_open") == 0, 10, "deleted file closed", agent.log)
    assert agent.metric("logwarden_agent_file_events_total", kind="remove") == 1
    checkpoints = orjson.loads((tmp_path / "agent-data" / "checkpoints.json").read_bytes())
    assert checkpoints["streams"] == {}, "the deleted file is forgotten"


JAVA_PATTERN = r"^[[:space:]]+(at|\.{3})[[:space:]]+\b|^Caused by:"


def test_multiline_java_stack_traces(tmp_path: Path, server_factory: Any, agent_factory: Any) -> None:
    server = server_factory()
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "catalina.out"
    multiline = {"pattern": JAVA_PATTERN, "match": "after", "timeout": "500ms"}
    agent = agent_factory(
        agent_config(tmp_path, server, [{"paths": [str(app)], "service": "java", "multiline": multiline}])
    )
    expected: dict[str, int] = {}
    with app.open("a") as f:
        for i in range(300):
            frames = i % 7
            if frames == 0:
                f.write(f"2026-11-21 10:00:00 INFO request {i} ok\n")
                expected[f"request {i} ok"] = 1
                continue
            f.write(f"java.lang.IllegalStateException: failure {i}\n")
            for k in range(frames):
                f.write(f"\tat com.example.Frame{k}.call(Frame{k}.java:{k + 1})\n")
            f.write(f"Caused by: java.io.IOException: disk {i}\n\tat com.example.Disk.write(Disk.java:9)\n")
            f.write("\t... 12 more\n")
            expected[f"failure {i}"] = 1 + frames + 3
            if i % 50 == 0:
                f.flush()
                time.sleep(0.05)  # events cut across reads
    wait_for(lambda: total(server, "java") >= 300, 15, "300 events", agent.log)
    time.sleep(0.7)  # the last event waits for its multiline timeout; nothing more may arrive
    assert total(server, "java") == 300
    resp = httpx.get(
        server.url + "/api/v1/search", params={"service": "java", "start": "1h", "limit": 1000}, timeout=10
    )
    messages = [h["message"] for h in resp.json()["hits"]]
    got: dict[str, int] = {}
    for message in messages:
        first = message.split("\n")[0]
        key = first.split(": ", 1)[1] if first.startswith("java.lang") else first.split("INFO ", 1)[1]
        got[key] = message.count("\n") + 1
    assert got == expected


def test_server_down_spools_then_replays(
    tmp_path: Path, server_factory: Any, agent_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = server_factory()
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    agent = agent_factory(agent_config(tmp_path, server, [{"paths": [str(app)], "parser": "json"}]))
    write_json_lines(app, 0, 500, "spool")
    wait_exact(server, "spool", 500, agent)
    server.kill()
    write_json_lines(app, 500, 3000, "spool")
    # Spooled batches are safe: the lag drops to 0 although the server is down.
    wait_for(lambda: agent.metric("logwarden_agent_lines_read_total") == 3500, 10, "lines read", agent.log)
    wait_for(lambda: agent.metric("logwarden_agent_file_lag_bytes") == 0, 10, "everything spooled", agent.log)
    assert agent.metric("logwarden_agent_spool_batches") >= 2
    assert agent.metric("logwarden_agent_retries_total") >= 1
    time.sleep(1.0)  # a few retries against the dead server
    restarted = restart_server(server_factory, server, monkeypatch)
    wait_exact(restarted, "spool", 3500, agent)
    wait_for(lambda: agent.metric("logwarden_agent_spool_batches") == 0, 5, "spool empty", agent.log)
    assert list((tmp_path / "agent-data" / "spool").iterdir()) == []


def test_no_loss_no_duplicates_across_agent_sigkill_and_server_restart_during_rotation(
    tmp_path: Path, server_factory: Any, agent_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = server_factory()
    logs = tmp_path / "logs"
    logs.mkdir()
    config = agent_config(tmp_path, server, [{"paths": [str(logs / "app.log*")], "parser": "json"}])
    config["output"]["batch"] = {"max_lines": 200, "max_wait": "50ms"}  # many small batches
    # The first agent SIGKILLs itself once `trigger` exists, right after the server acknowledged a batch and
    # before the checkpoint records it: the restart must send lines again that the server already has.
    trigger = tmp_path / "kill-agent-now"
    agent = agent_factory(config, env={"LOGWARDEN_AGENT_KILL_AFTER_ACK_IF": str(trigger)})
    writer = RotatingWriter(logs, "crash").start()

    def stored() -> int:
        return sum(counts(server, "blk", "crash").values())

    wait_for(lambda: stored() >= 800, 10, "agent shipping", agent.log)
    writer.rotate()
    wait_for(lambda: stored() >= 1600, 10, "agent shipping after a rotation", agent.log)

    # During a rotation (app.log renamed, the application still writing to it): SIGKILL at the worst moment.
    writer.rotate_begin()
    time.sleep(0.1)
    trigger.touch()
    assert agent.proc.wait(10) == -signal.SIGKILL, agent.log()
    time.sleep(0.2)
    writer.rotate_end()
    trigger.unlink()
    time.sleep(0.2)
    agent = agent_factory(config, name="restarted")

    # SIGKILL the server while the restarted agent catches up, during the next rotation; start it again.
    time.sleep(0.3)
    writer.rotate_begin()
    server.kill()
    time.sleep(0.2)
    writer.rotate_end()
    time.sleep(0.8)  # the agent retries and spools meanwhile
    server = restart_server(server_factory, server, monkeypatch)
    time.sleep(0.5)
    written = writer.stop()

    wait_exact(server, "crash", written, agent, timeout=20)
    time.sleep(1.0)
    assert counts(server, "blk", "crash") == expected_blocks(written), "late re-sends must not add duplicates"
    assert writer.rotations == 3
    # The scenario did what it claims: lines were sent twice, and the server kept one copy of each.
    assert agent.metric("logwarden_agent_duplicate_lines_total") >= 1
    assert agent.metric("logwarden_agent_retries_total") >= 1


def test_resend_from_a_stale_checkpoint_stores_nothing_twice(
    tmp_path: Path, server_factory: Any, agent_factory: Any
) -> None:
    """The dedup contract directly: an agent that resumes before what the server has re-sends harmlessly."""
    server = server_factory()
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    config = agent_config(tmp_path, server, [{"paths": [str(app)], "parser": "json"}])
    agent = agent_factory(config)
    write_json_lines(app, 0, 2000, "resend")
    wait_exact(server, "resend", 2000, agent)
    assert agent.terminate() == 0
    # As if the agent had died after the server stored its batches but before it wrote the checkpoint.
    path = tmp_path / "agent-data" / "checkpoints.json"
    doc = orjson.loads(path.read_bytes())
    (entry,) = doc["streams"].values()
    middle = app.read_bytes().index(b'{"msg":"event 700"')
    entry["offset"] = middle
    path.write_bytes(orjson.dumps(doc))
    write_json_lines(app, 2000, 500, "resend")
    again = agent_factory(config, name="again")
    wait_for(lambda: again.metric("logwarden_agent_lines_shipped_total") == 1800, 10, "re-send", again.log)
    assert counts(server, "blk", "resend") == expected_blocks(2500)
    assert again.metric("logwarden_agent_duplicate_lines_total") == 1300
