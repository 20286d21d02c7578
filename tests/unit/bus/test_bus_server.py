"""The bus inside the server: subscribers see deduplicated durable lines, a slow lossless subscriber holds ingest
with 429s, copies ship only stored lines (once, even after a 429 or 503 and a retry), and a reload that
changes a copy output's settings replaces it without losing or repeating a line."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.bus.base import BusBatch
from logwarden.config import load_config
from tests.conftest import TEST_RETENTION_DAYS, make_config
from tests.unit.bus.test_bus import wait_for
from tests.unit.pipeline.test_copy import Capture


class Recorder:
    def __init__(self, name: str = "recorder", gate: threading.Event | None = None) -> None:
        self.name = name
        self.gate = gate
        self.ids: list[str] = []

    def handle(self, batch: BusBatch) -> None:
        if self.gate is not None:
            self.gate.wait()
        self.ids.extend(batch.table.column("log_id").to_pylist())

    def close(self) -> None:
        pass


@pytest.fixture
def capture() -> Iterator[Capture]:
    c = Capture()
    yield c
    c.server.shutdown()
    c.server.server_close()


def body(ids: list[str]) -> bytes:
    return b"\n".join(orjson.dumps({"message": f"line {i}", "log_id": i, "service": "api"}) for i in ids)


def bus_of(client: TestClient) -> Any:
    return client.app.state.runtime.bus  # type: ignore[attr-defined]


def test_a_resent_batch_reaches_no_subscriber_twice(tmp_path: Path) -> None:
    rec = Recorder()
    with TestClient(create_app(make_config(tmp_path), run_maintenance=False, subscribers=[rec])) as client:
        ids = ["agent-file-1@0", "agent-file-1@10", "agent-file-1@20"]
        first = client.post("/api/v1/ingest", content=body(ids))
        again = client.post("/api/v1/ingest", content=body(ids))  # the agent re-sends after a lost answer
        assert first.status_code == again.status_code == 200
        assert again.json()["duplicates"] == 3
        assert bus_of(client).wait_caught_up()
        assert rec.ids == ids


def test_a_slow_lossless_subscriber_holds_ingest_with_429_and_a_reason(tmp_path: Path) -> None:
    gate = threading.Event()
    slow = Recorder("slow-rules", gate)
    config = make_config(tmp_path, **{"bus.max_lag_bytes": 1024**2})
    with TestClient(create_app(config, run_maintenance=False, subscribers=[slow])) as client:
        statuses = []
        for n in range(200):
            r = client.post("/api/v1/ingest", content=body([f"b{n}-{i}" for i in range(2000)]))
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert "'slow-rules'" in r.json()["error"] and "bus.max_lag_bytes" in r.json()["error"]
                assert r.headers["Retry-After"]
                break
        assert statuses[-1] == 429 and set(statuses[:-1]) == {200}
        accepted = 2000 * (len(statuses) - 1)
        gate.set()
        assert bus_of(client).wait_caught_up()
        assert client.post("/api/v1/ingest", content=body(["after"])).status_code == 200
        assert bus_of(client).wait_caught_up()
        assert len(slow.ids) == accepted + 1 == len(set(slow.ids))
        metrics = client.get("/metrics").text
        assert 'logwarden_bus_lag_bytes{mode="lossless",subscriber="slow-rules"} 0.0' in metrics
        assert "logwarden_bus_backpressure_total 1.0" in metrics


COPY_CONFIG = """\
pipelines:
  - name: errors-out
    processors:
      - {{type: copy, if: 'level:error', to: {{type: http, url: "{url}"}}, batch_lines: {batch}}}
"""


def copy_client(tmp_path: Path, url: str, batch: int = 100, **overrides: Any) -> TestClient:
    path = tmp_path / "logwarden.yaml"
    path.write_text(COPY_CONFIG.format(url=url, batch=batch))
    settings = {
        "data_dir": str(tmp_path / "data"),
        "store.retention_days": TEST_RETENTION_DAYS,
        "reload_interval": "100ms",
        **overrides,
    }
    config = load_config(path, env={}, overrides=settings)
    return TestClient(create_app(config, run_maintenance=False, config_path=path))


def lines(n: int, prefix: str, level: str = "error") -> bytes:
    return b"\n".join(
        orjson.dumps({"message": f"{prefix} {i}", "log_id": f"{prefix}-{i}", "level": level}) for i in range(n)
    )


def test_copy_ships_only_marked_lines_once_they_are_stored(tmp_path: Path, capture: Capture) -> None:
    with copy_client(tmp_path, capture.url) as client:
        r = client.post("/api/v1/ingest", content=lines(3, "e") + b"\n" + lines(2, "i", "info"))
        assert r.status_code == 200
        assert bus_of(client).wait_caught_up()
        shipped = capture.lines()
        assert [line["log_id"] for line in shipped] == ["e-0", "e-1", "e-2"]
        assert shipped[0]["message"] == "e 0" and shipped[0]["level"] == "ERROR"
        assert "seq" not in shipped[0] and "__copy_to" not in shipped[0]
        ((headers, _),) = capture.requests
        assert headers["Idempotency-Key"].startswith("copy.")
        # The stored line holds no trace of the mark.
        hits = client.get("/api/v1/search", params={"q": "e", "start": "2000-01-01T00:00:00Z"}).json()["hits"]
        assert all("__copy_to" not in h and "__copy_to" not in h["attrs"] for h in hits)


def test_copy_after_a_429_and_a_retry_ships_each_line_once(tmp_path: Path, capture: Capture) -> None:
    overrides = {"store.max_unapplied_bytes": "1KiB", "store.apply_interval": "1h"}
    with copy_client(tmp_path, capture.url, **overrides) as client:
        assert client.post("/api/v1/ingest", content=lines(20, "first")).status_code == 200
        busy = client.post("/api/v1/ingest", content=lines(20, "second"))
        assert busy.status_code == 429  # the pipeline ran (and marked the lines) but nothing was stored
        client.app.state.runtime.store.flush_blocking()  # type: ignore[attr-defined]
        assert client.post("/api/v1/ingest", content=lines(20, "second")).status_code == 200
        assert bus_of(client).wait_caught_up()
        ids = [line["log_id"] for line in capture.lines()]
        assert sorted(ids) == sorted([f"first-{i}" for i in range(20)] + [f"second-{i}" for i in range(20)])
        assert len(ids) == len(set(ids))


def test_copy_after_a_503_and_a_retry_ships_each_line_once(tmp_path: Path, capture: Capture) -> None:
    with copy_client(tmp_path, capture.url) as client:
        store = client.app.state.runtime.store  # type: ignore[attr-defined]
        segment = store.ingest_log._segments[-1].path
        os.close(store.ingest_log._fd)  # the disk "fails": the write of the next batch fails for real
        failed = client.post("/api/v1/ingest", content=lines(5, "x"))
        assert failed.status_code == 503
        store.ingest_log._fd = os.open(segment, os.O_WRONLY | os.O_APPEND)  # the disk is back
        assert client.post("/api/v1/ingest", content=lines(5, "x")).status_code == 200
        assert bus_of(client).wait_caught_up()
        ids = [line["log_id"] for line in capture.lines()]
        assert ids == [f"x-{i}" for i in range(5)]


def test_a_reload_replaces_a_copy_output_without_losing_or_repeating_a_line(tmp_path: Path, capture: Capture) -> None:
    with copy_client(tmp_path, capture.url, batch=7) as client:
        bus = bus_of(client)
        (name,) = [n for n in bus.names() if n.startswith("copy.")]
        sent: list[str] = []
        for round_ in range(30):
            if round_ == 10:
                # Same destination, new settings: the output is replaced and resumes at its cursor.
                path = tmp_path / "logwarden.yaml"
                path.write_text(COPY_CONFIG.format(url=capture.url, batch=3))
                wait_for(lambda: client.get("/api/v1/pipelines").json().get("loaded_at") is not None)
            r = client.post("/api/v1/ingest", content=lines(10, f"r{round_}"))
            assert r.status_code == 200
            sent += [f"r{round_}-{i}" for i in range(10)]
            time.sleep(0.02)
        wait_for(lambda: max(len(body.splitlines()) for _, body in capture.requests[-3:]) <= 3, timeout=15)
        assert bus.wait_caught_up()
        assert bus.names().count(name) == 1
        ids = [line["log_id"] for line in capture.lines()]
        assert sorted(ids) == sorted(sent)
        assert len(ids) == len(set(ids))
