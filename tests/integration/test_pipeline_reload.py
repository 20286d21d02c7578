"""Hot reload of pipelines in a real server: file changes and SIGHUP, under continuous ingest."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow

CONFIG = """\
reload_interval: 200ms
pipelines:
  - name: tagger
    processors:
      - type: route
        stream: "{{stream}}-{version}"
"""


def write_config(path: Path, version: str) -> None:
    # Write then rename: the server never reads a half-written file.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(CONFIG.format(version=version))
    tmp.replace(path)


def wait_for(predicate: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def pipeline_version(url: str) -> str:
    return str(httpx.get(url + "/api/v1/pipelines").json()["version"])


def test_reload_under_load_processes_every_line_exactly_once(tmp_path: Path, server_factory: Any) -> None:
    config = tmp_path / "logwarden.yaml"
    write_config(config, "v1")
    server = server_factory(tmp_path / "data", "--config", str(config))
    url = server.url
    sent = 0
    stop = threading.Event()
    errors: list[str] = []

    def ship() -> None:
        nonlocal sent
        with httpx.Client(base_url=url, timeout=10) as client:
            while not stop.is_set():
                body = b"\n".join(orjson.dumps({"message": f"line {sent + i}", "stream": "s"}) for i in range(50))
                r = client.post("/api/v1/ingest", content=body)
                if r.status_code != 200:
                    errors.append(r.text)
                    continue
                sent += 50

    shipper = threading.Thread(target=ship)
    shipper.start()
    try:
        versions = [pipeline_version(url)]
        for version in ("v2", "v1", "v2"):
            time.sleep(0.4)
            write_config(config, version)
            wait_for(lambda: pipeline_version(url) != versions[-1])
            versions.append(pipeline_version(url))
        # SIGHUP reloads at once; an unchanged file keeps the version.
        server.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        assert pipeline_version(url) == versions[-1]
    finally:
        stop.set()
        shipper.join()
    assert not errors
    assert versions[0] == versions[2] and versions[1] == versions[3] and versions[0] != versions[1]

    counts = httpx.get(url + "/api/v1/stats/count", params={"by": "stream", "start": "now-1h"}).json()
    by_stream = Counter({g["stream"]: g["count"] for g in counts["counts"]})
    # Every line went through exactly one version: never none ("s"), never two ("s-v1-v2").
    assert set(by_stream) == {"s-v1", "s-v2"}
    assert sum(by_stream.values()) == sent
    assert by_stream["s-v1"] > 0 and by_stream["s-v2"] > 0


def test_an_invalid_change_is_refused_and_reported(tmp_path: Path, server_factory: Any) -> None:
    config = tmp_path / "logwarden.yaml"
    write_config(config, "v1")
    server = server_factory(tmp_path / "data", "--config", str(config))
    before = pipeline_version(server.url)
    config.write_text(CONFIG.format(version="v2").replace("type: route", "type: no_such_processor"))
    status = wait_for(lambda: (s := httpx.get(server.url + "/api/v1/pipelines").json())["last_error"] and s)
    assert status["version"] == before
    assert f"{config}:5:" in status["last_error"]
    assert "no_such_processor" in status["last_error"]
    assert 'logwarden_pipeline_reloads_total{outcome="refused"} 1.0' in httpx.get(server.url + "/metrics").text

    # The running pipelines still work.
    r = httpx.post(server.url + "/api/v1/ingest", content=orjson.dumps({"message": "after", "stream": "s"}))
    assert r.status_code == 200
    counts = httpx.get(server.url + "/api/v1/stats/count", params={"by": "stream", "start": "now-1h"}).json()
    assert {g["stream"]: g["count"] for g in counts["counts"]} == {"s-v1": 1}

    # A fixed file is picked up and clears the error.
    write_config(config, "v2")
    wait_for(lambda: pipeline_version(server.url) != before)
    assert httpx.get(server.url + "/api/v1/pipelines").json()["last_error"] is None


def test_an_invalid_pipeline_at_start_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "logwarden.yaml"
    config.write_text(CONFIG.format(version="v1").replace('"{stream}-v1"', '"{unclosed"'))
    assert "{unclosed" in config.read_text()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "logwarden",
            "serve",
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path / "d"),
            "--http-port",
            str(free_port()),
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"{config}:6: pipelines.0.processors.0.route.stream" in proc.stderr
    assert "unmatched '{'" in proc.stderr
