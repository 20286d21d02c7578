"""kill -9 a real server while its rules engine works through a stream of alerts: after the restart (and the
client re-sending what was not acknowledged, deduplicated by `<stream>@<offset>` ids) every group fired exactly
once for each rule type (threshold, new_value, sequence) — no alert missed, none doubled — and the current
alerts in the metadata database agree."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import TEST_RETENTION_DAYS, ServerProcess

pytestmark = pytest.mark.slow

RULE = """\
groups:
  - name: seed
    rules:
      - name: error-burst
        type: threshold
        query: 'level:error'
        group_by: [service]
        window: 5m
        threshold: 3
      - name: new-service
        type: new_value
        query: 'level:error'
        fields: [service]
        window: 5m
      - name: fourth-error
        type: sequence
        query: 'level:error'
        by: [service]
        within: 5m
        steps:
          - {name: first, query: 'level:error', count: 3}
          - {name: then, query: 'level:error'}
"""
RULES = ("error-burst", "new-service", "fourth-error")
SERVICES = 400


def body(service: int, at: datetime) -> bytes:
    ts = at.isoformat()
    return b"\n".join(
        orjson.dumps({"ts": ts, "level": "error", "service": f"svc-{service}", "log_id": f"svc-{service}@{i}"})
        for i in range(5)
    )


def metric(server: ServerProcess, name: str, subscriber: str) -> float:
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        if line.startswith(name + "{") and f'subscriber="{subscriber}"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} for {subscriber} not exposed")


def test_kill_9_mid_stream_fires_every_group_exactly_once(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "seed.yaml").write_text(RULE)
    config = tmp_path / "lw.yaml"
    config.write_text(f"store: {{retention_days: {TEST_RETENTION_DAYS}}}\n")
    args = ("--config", str(config), "--rules", str(rules))
    at = datetime.now(UTC) - timedelta(seconds=30)
    data = tmp_path / "data"
    server = ServerProcess(data, *args)
    server.wait_ready()
    acked: set[int] = set()
    lock = threading.Lock()

    def send(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for service in range(worker, SERVICES, 4):
                try:
                    if http.post("/api/v1/ingest", content=body(service, at)).status_code == 200:
                        with lock:
                            acked.add(service)
                except httpx.HTTPError:
                    return

    workers = [threading.Thread(target=send, args=(w,)) for w in range(4)]
    for w in workers:
        w.start()
    while len(acked) < SERVICES // 3:
        pass
    server.kill()
    for w in workers:
        w.join()
    server.close()
    assert 0 < len(acked) < SERVICES, "the kill did not land mid-stream"

    again = ServerProcess(data, *args)
    try:
        again.wait_ready()
        with httpx.Client(base_url=again.url, timeout=10) as http:
            for service in range(SERVICES):  # everything again: re-sends of stored lines are dropped
                r = http.post("/api/v1/ingest", content=body(service, at))
                assert r.status_code == 200, r.text
        deadline = time.monotonic() + 60
        while metric(again, "logwarden_bus_lag_bytes", "rules") > 0:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        # Every rule type keeps its state with the cursor: a threshold, a new value (which also learns from
        # the history stored before the kill) and a sequence each fired once per service — none missed or doubled.
        for rule in RULES:
            transitions: list[dict[str, Any]] = httpx.get(
                again.url + "/api/v1/alerts/history", params={"limit": "1000", "rule": rule}
            ).json()["transitions"]
            fired = Counter(t["alert"]["labels"]["service"] for t in transitions if t["status"] == "firing")
            assert set(fired) == {f"svc-{s}" for s in range(SERVICES)}, rule
            assert [s for s, n in fired.items() if n > 1] == [], rule
            # The current alerts in the metadata database: every group once, still firing (5m windows).
            current = httpx.get(again.url + "/api/v1/alerts", params={"rule": rule}).json()["alerts"]
            assert sorted(a["labels"]["service"] for a in current) == sorted(f"svc-{s}" for s in range(SERVICES))
            assert {a["status"] for a in current} == {"firing"}
        counted = httpx.post(
            again.url + "/api/v1/query", json={"q": "level:error | stats count() as n", "start": "now-1h"}
        ).json()
        assert counted["rows"] == [[SERVICES * 5]], counted  # stored once each, re-sends dropped
    finally:
        again.close()
