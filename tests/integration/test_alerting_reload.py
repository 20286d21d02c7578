"""The `alerting:` section reloads without a restart: change the receiver's URL in the config file and the next
alert's notification goes to the new endpoint, while an alert already notified is not notified again."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import TEST_RETENTION_DAYS, ServerProcess
from tests.unit.alerting.capture import CaptureServer

pytestmark = pytest.mark.slow

RULES = """\
groups:
  - name: reload
    rules:
      - name: errors
        type: threshold
        query: 'level:error'
        group_by: [service]
        window: 5m
        threshold: 0
"""

CONFIG = """\
store: {{retention_days: {days}}}
reload_interval: 200ms
alerting:
  route: {{receiver: ops, group_by: [alertname, service], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}}
  receivers:
    - name: ops
      webhook: {{url: '{url}/hook'}}
"""


def send(server: ServerProcess, service: str) -> None:
    line = {"ts": datetime.now(UTC).isoformat(), "level": "error", "service": service, "message": "boom"}
    assert httpx.post(server.url + "/api/v1/ingest", content=orjson.dumps(line), timeout=10).status_code == 200


def test_a_changed_receiver_takes_effect_without_a_restart(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(RULES)
    config = tmp_path / "lw.yaml"
    with CaptureServer() as first, CaptureServer() as second:
        config.write_text(CONFIG.format(days=TEST_RETENTION_DAYS, url=first.url))
        proc = ServerProcess(tmp_path / "data", "--config", str(config), "--rules", str(rules))
        try:
            proc.wait_ready()
            send(proc, "api")
            first.wait_for(1)
            config.write_text(CONFIG.format(days=TEST_RETENTION_DAYS, url=second.url))
            deadline = time.monotonic() + 20
            while "alerting reloaded" not in proc.log():
                assert time.monotonic() < deadline, proc.log()
                time.sleep(0.05)
            send(proc, "db")
            (request,) = second.wait_for(1)
            assert request.json()["groupLabels"]["service"] == "db"
            time.sleep(2.5)  # two group_interval ticks: the alert sent before the reload is not sent again
            assert [r.json()["groupLabels"]["service"] for r in second.requests] == ["db"]
            assert len(first.requests) == 1
            assert "take effect at the next restart" not in proc.log()
        finally:
            proc.close()
