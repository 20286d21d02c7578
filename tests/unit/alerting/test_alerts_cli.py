"""`logwarden alerts list|ack|unack|history` against a real server (uvicorn on loopback, in a thread) whose rule
fires and whose receiver is a local capture server, and `logwarden notify test RECEIVER` against a capture server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner, Result

from logwarden.alerting.cli import alerts
from logwarden.api.app import create_app
from logwarden.config.notify_cli import notify
from tests.conftest import TEST_RETENTION_DAYS
from tests.live_server import LiveServer
from tests.unit.alerting.capture import Answer, CaptureServer

RULES = """\
groups:
  - name: cli
    rules:
      - name: disk-full
        type: threshold
        query: 'event:disk_full'
        group_by: [host]
        window: 5m
        threshold: 0
        severity: critical
"""


def config_text(tmp: Path, hook: str) -> str:
    return f"""\
data_dir: {tmp / "data"}
store: {{retention_days: {TEST_RETENTION_DAYS}}}
rules: {{dir: {tmp / "rules"}}}
alerting:
  route: {{receiver: ops, group_wait: 0s, group_interval: 1s, repeat_interval: 1h}}
  receivers:
    - name: ops
      webhook: {{url: '{hook}/hook'}}
      slack: {{url: '{hook}/slack'}}
"""


def live_server(tmp: Path, hook: str) -> LiveServer:
    """The server of `config_text`, with the rule file `RULES`, sending to `hook`."""
    from logwarden.config.loader import load_config

    (tmp / "rules").mkdir()
    (tmp / "rules" / "cli.yaml").write_text(RULES)
    (tmp / "lw.yaml").write_text(config_text(tmp, hook))
    app = create_app(load_config(str(tmp / "lw.yaml"), env={}), run_maintenance=False)
    return LiveServer(app, lifespan="auto")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, CaptureServer]]:
    with CaptureServer() as hook, live_server(Path(tmp_path_factory.mktemp("alerts-cli")), hook.url) as server:
        yield server, hook


def cli(server: LiveServer, *args: str) -> Result:
    return CliRunner().invoke(alerts, [*args, "--server", server.url], env={"USER": "ana"})


def wait_for(predicate: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_list_ack_unack_and_history(live: tuple[LiveServer, CaptureServer]) -> None:
    server, hook = live
    line = {"ts": datetime.now(UTC).isoformat(), "event": "disk_full", "host": "db-1", "message": "/var is 100% full"}
    assert httpx.post(server.url + "/api/v1/ingest", content=orjson.dumps(line), timeout=10).status_code == 200
    hook.wait_for(2)  # webhook and slack
    listed = wait_for(lambda: json.loads(cli(server, "list", "-o", "json").output))
    (alert,) = listed
    assert alert["rule"] == "disk-full" and alert["labels"]["host"] == "db-1" and alert["acked"] is None
    table = cli(server, "list")
    assert table.exit_code == 0 and "disk-full" in table.output and "firing" in table.output
    fingerprint = alert["fingerprint"]
    done = cli(server, "ack", fingerprint, "--comment", "cleaning up")
    assert done.exit_code == 0, done.output
    (acked,) = json.loads(cli(server, "list", "-o", "json").output)
    assert acked["acked"]["by"] == "ana" and acked["acked"]["comment"] == "cleaning up"
    assert "(acked)" in cli(server, "list").output
    missing = cli(server, "ack", "0" * 32)
    assert missing.exit_code == 1 and "404" in missing.output
    assert cli(server, "unack", fingerprint).exit_code == 0
    assert json.loads(cli(server, "list", "-o", "json").output)[0]["acked"] is None
    history = json.loads(cli(server, "history", "-o", "json").output)
    assert [t["status"] for t in history["transitions"]][:3] == ["unacknowledged", "acknowledged", "firing"]
    delivered = wait_for(lambda: json.loads(cli(server, "history", "--kind", "deliveries", "-o", "json").output))
    assert sorted(d["integration"] for d in delivered["deliveries"]) == ["slack[0]", "webhook[0]"]
    assert all(d["outcome"] == "delivered" for d in delivered["deliveries"])
    receivers = httpx.get(server.url + "/api/v1/receivers", timeout=10).json()["receivers"]
    assert receivers[0]["name"] == "ops" and receivers[0]["integrations"][0]["delivered"] == 1
    groups = httpx.get(server.url + "/api/v1/alerts/groups", timeout=10).json()["groups"]
    assert groups[0]["alerts"] == [fingerprint] and groups[0]["receiver"] == "ops"


def test_notify_test_sends_a_sample_and_prints_each_answer(tmp_path: Path) -> None:
    with CaptureServer() as hook:
        hook.script = [Answer(404, "no such channel"), Answer(200, "ok")]  # integrations go in channel order
        (tmp_path / "lw.yaml").write_text(config_text(tmp_path, hook.url))
        result = CliRunner().invoke(notify, ["test", "ops", "--config", str(tmp_path / "lw.yaml"), "-o", "json"])
        assert result.exit_code == 1  # slack answered 404
        answers = {r["integration"]: r for r in json.loads(result.output)}
        assert answers["webhook[0]"]["outcome"] == "delivered" and answers["webhook[0]"]["status"] == 200
        assert answers["slack[0]"]["outcome"] == "rejected" and answers["slack[0]"]["answer"] == "no such channel"
        assert [r.path for r in hook.requests] == ["/slack", "/hook"]
        assert hook.requests[1].json()["alerts"][0]["labels"]["alertname"] == "logwarden-test"
        unknown = CliRunner().invoke(notify, ["test", "pager", "--config", str(tmp_path / "lw.yaml")])
        assert unknown.exit_code == 1 and "no receiver named 'pager'" in unknown.output
