"""Alert routing end to end: a real `logwarden serve` with rules and an `alerting:` section whose receiver is a
local capture server standing in for a webhook endpoint. Each test sends log lines over HTTP, as a service would,
and asserts what the endpoint received: firing and resolved notifications with evidence, inhibition, silences,
time intervals, acknowledgement stopping repeats, and a channel that fails for a while getting each
notification exactly once after it recovers. Line times are the wall clock's."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import TEST_RETENTION_DAYS, ServerProcess
from tests.unit.alerting.capture import Answer, Captured, CaptureServer

pytestmark = pytest.mark.slow

RULES = """\
groups:
  - name: e2e
    rules:
      - name: basic
        type: threshold
        query: 'scenario:basic'
        group_by: [service]
        window: 2s
        threshold: 0
        max_delay: 0s
        severity: warning
        annotations:
          summary: '{{ labels.service }}: {{ value }} errors'

      - name: service-down
        type: threshold
        query: 'scenario:inhibit AND event:down'
        group_by: [service]
        window: 30s
        threshold: 0
        severity: critical

      - name: slow-requests
        type: threshold
        query: 'scenario:inhibit AND level:warn'
        group_by: [service]
        window: 30s
        threshold: 0
        severity: warning

      - name: silenced
        type: threshold
        query: 'scenario:silence'
        group_by: [service]
        window: 30s
        threshold: 0

      - name: night-work
        type: threshold
        query: 'scenario:time AND team:night'
        group_by: [service]
        window: 30s
        threshold: 0
        labels: {team: night}

      - name: office-work
        type: threshold
        query: 'scenario:time AND team:office'
        group_by: [service]
        window: 30s
        threshold: 0
        labels: {team: office}

      - name: anytime-work
        type: threshold
        query: 'scenario:time AND team:ops'
        group_by: [service]
        window: 30s
        threshold: 0
        labels: {team: ops}

      - name: repeating
        type: threshold
        query: 'scenario:ack'
        group_by: [service]
        window: 8s
        threshold: 0
        max_delay: 0s

      - name: flaky-channel
        type: threshold
        query: 'scenario:flaky'
        group_by: [service]
        window: 30s
        threshold: 0
"""

ALERTING = """\
alerting:
  route:
    receiver: hook
    group_by: [alertname, service]
    group_wait: 0s
    group_interval: 1s
    repeat_interval: 1h
    routes:
      - matchers: ['team="night"']
        mute_time_intervals: [always]
      - matchers: ['team="office"']
        active_time_intervals: [year-2000]
      - matchers: ['alertname="repeating"']
        repeat_interval: 2s
      - matchers: ['alertname="flaky-channel"']
        receiver: flaky
  receivers:
    - name: hook
      webhook: {{url: '{hook}/hook'}}
    - name: flaky
      webhook: {{url: '{flaky}/flaky', timeout: 500ms}}
  inhibit_rules:
    - source_matchers: ['alertname="service-down"']
      target_matchers: ['severity="warning"']
      equal: [service]
  time_intervals:
    - name: always
      time_intervals: [{{times: [{{start_time: '00:00', end_time: '24:00'}}]}}]
    - name: year-2000
      time_intervals: [{{years: ['2000']}}]
  delivery: {{initial_backoff: 200ms, max_backoff: 1s}}
"""


class Endpoints:
    def __init__(self, hook: CaptureServer, flaky: CaptureServer, server: ServerProcess) -> None:
        self.hook, self.flaky, self.server = hook, flaky, server


def write_config(root: Path, hook: str, flaky: str) -> tuple[Path, Path]:
    rules = root / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "e2e.yaml").write_text(RULES)
    config = root / "lw.yaml"
    config.write_text(f"store: {{retention_days: {TEST_RETENTION_DAYS}}}\n" + ALERTING.format(hook=hook, flaky=flaky))
    return config, rules


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    root = tmp_path_factory.mktemp("alerting")
    with CaptureServer() as hook, CaptureServer() as flaky:
        config, rules = write_config(root, hook.url, flaky.url)
        proc = ServerProcess(root / "data", "--config", str(config), "--rules", str(rules))
        try:
            proc.wait_ready()
            yield Endpoints(hook, flaky, proc)
        finally:
            proc.close()


def send(server: ServerProcess, *records: dict[str, Any]) -> None:
    now = datetime.now(UTC).isoformat()
    body = b"\n".join(orjson.dumps({"ts": now, **r}) for r in records)
    r = httpx.post(server.url + "/api/v1/ingest", content=body, timeout=10)
    assert r.status_code == 200, r.text


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {getattr(check, '__name__', check)}")
        time.sleep(0.05)


def received(capture: CaptureServer, alertname: str, since: int = 0) -> list[dict[str, Any]]:
    """Webhook payloads about `alertname` (by the group's label), in arrival order."""
    out = []
    for request in capture.requests[since:]:
        payload = request.json()
        if payload.get("groupLabels", {}).get("alertname") == alertname:
            out.append(payload)
    return out


def test_firing_and_resolved_notifications_carry_the_evidence(env: Endpoints) -> None:
    send(env.server, *[{"scenario": "basic", "service": "api", "message": f"upstream timeout {i}"} for i in range(3)])
    (firing,) = eventually(lambda: received(env.hook, "basic"))
    assert firing["status"] == "firing" and firing["receiver"] == "hook" and firing["version"] == "4"
    (alert,) = firing["alerts"]
    assert alert["labels"]["alertname"] == "basic" and alert["labels"]["service"] == "api"
    assert alert["annotations"]["summary"] == "api: 3 errors"
    assert alert["generatorURL"].startswith(env.server.url + "/?q=")
    evidence = alert["logwarden"]["evidence"]
    assert [e["message"] for e in evidence][-1] == "upstream timeout 2"
    # The window is 2 s: with no more lines the alert resolves, and the resolved notice has the evidence too.
    payloads = eventually(lambda: len(received(env.hook, "basic")) >= 2 and received(env.hook, "basic"))
    resolved = payloads[1]
    assert resolved["status"] == "resolved" and resolved["alerts"][0]["status"] == "resolved"
    assert resolved["alerts"][0]["logwarden"]["evidence"]
    time.sleep(1.5)
    assert len(received(env.hook, "basic")) == 2  # nothing repeated


def test_a_critical_service_down_inhibits_that_services_warnings_only(env: Endpoints) -> None:
    send(env.server, {"scenario": "inhibit", "event": "down", "service": "payments", "message": "health check failed"})
    eventually(lambda: received(env.hook, "service-down"))
    send(
        env.server,
        {"scenario": "inhibit", "level": "warn", "service": "payments", "message": "slow request 3s"},
        {"scenario": "inhibit", "level": "warn", "service": "search", "message": "slow request 2s"},
    )
    (slow,) = eventually(lambda: received(env.hook, "slow-requests"))
    assert slow["groupLabels"]["service"] == "search"
    time.sleep(2.5)  # two group_interval ticks: the payments warning stays muted
    assert [p["groupLabels"]["service"] for p in received(env.hook, "slow-requests")] == ["search"]
    found = httpx.get(env.server.url + "/api/v1/alerts", params={"rule": "slow-requests"}, timeout=10).json()
    muted = {a["labels"]["service"]: a["muted_by"] for a in found["alerts"]}
    assert muted["search"] == [] and len(muted["payments"]) == 1


def test_a_silence_mutes_until_it_is_expired(env: Endpoints) -> None:
    made = httpx.post(
        env.server.url + "/api/v1/silences",
        json={"matchers": ['service="quiet"'], "duration": "1h", "created_by": "test", "comment": "maintenance"},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    silence = made.json()
    send(
        env.server,
        {"scenario": "silence", "service": "quiet", "message": "expected during maintenance"},
        {"scenario": "silence", "service": "loud", "message": "unexpected"},
    )
    (loud,) = eventually(lambda: received(env.hook, "silenced"))
    assert loud["groupLabels"]["service"] == "loud"
    time.sleep(2.5)
    assert len(received(env.hook, "silenced")) == 1
    expired = httpx.delete(f"{env.server.url}/api/v1/silences/{silence['id']}", timeout=10)
    assert expired.status_code == 200, expired.text
    payloads = eventually(lambda: len(received(env.hook, "silenced")) >= 2 and received(env.hook, "silenced"))
    assert payloads[1]["groupLabels"]["service"] == "quiet" and payloads[1]["status"] == "firing"


def test_time_intervals_mute_routes_outside_their_hours(env: Endpoints) -> None:
    for team in ("night", "office", "ops"):
        send(env.server, {"scenario": "time", "team": team, "service": "batch", "message": f"{team} job failed"})
    eventually(lambda: received(env.hook, "anytime-work"))
    time.sleep(2.5)
    # `night` is muted by an interval that holds every day; `office` is only active in the year 2000.
    assert received(env.hook, "night-work") == [] and received(env.hook, "office-work") == []


def test_an_acknowledged_alert_stops_repeating_until_it_resolves(env: Endpoints) -> None:
    send(env.server, {"scenario": "ack", "service": "db", "message": "replication lag 30s"})
    # repeat_interval 2s: a repeat comes on the first group_interval tick after it.
    first, repeat = eventually(lambda: len(received(env.hook, "repeating")) >= 2 and received(env.hook, "repeating"))
    assert first["status"] == repeat["status"] == "firing"
    fingerprint = first["alerts"][0]["fingerprint"]
    acked = httpx.post(
        f"{env.server.url}/api/v1/alerts/{fingerprint}/ack", json={"by": "alice", "comment": "on it"}, timeout=10
    )
    assert acked.status_code == 200, acked.text
    count = len(received(env.hook, "repeating"))
    # The window is 8 s: the alert resolves a few seconds later; until then no repeat (at most one already under way).
    last = eventually(lambda: [p for p in received(env.hook, "repeating") if p["status"] == "resolved"], timeout=30)
    payloads = received(env.hook, "repeating")
    assert len(payloads) <= count + 2 and payloads[-1] == last[0]
    history = httpx.get(env.server.url + "/api/v1/alerts/history", params={"rule": "repeating"}, timeout=10).json()[
        "transitions"
    ]
    assert [t["status"] for t in reversed(history)] == ["firing", "acknowledged", "resolved"]
    assert history[1]["alert"]["acked"]["by"] == "alice"


def test_a_channel_that_fails_and_times_out_gets_the_notification_exactly_once(env: Endpoints) -> None:
    env.flaky.script = [Answer(500), Answer(503), Answer(200, delay=1.5), Answer(500)]
    send(env.server, {"scenario": "flaky", "service": "queue", "message": "consumer stuck"})
    eventually(lambda: len(env.flaky.requests) >= 5)
    time.sleep(2.0)
    firing = [r for r in env.flaky.requests if r.json()["status"] == "firing"]
    assert len(firing) == 5  # 500, 503, a timeout, 500, then delivered — and nothing after
    deliveries = httpx.get(env.server.url + "/api/v1/alerts/history", params={"receiver": "flaky"}, timeout=10).json()[
        "deliveries"
    ]
    assert [d["outcome"] for d in reversed(deliveries)] == ["retriable"] * 4 + ["delivered"]


def _payload_ids(requests: list[Captured]) -> list[tuple[str, str]]:
    return [(r.json()["groupKey"], r.json()["status"]) for r in requests]


def test_sigkill_mid_retry_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    with CaptureServer(default=Answer(503, "down")) as hook, CaptureServer() as flaky:
        config, rules = write_config(tmp_path, hook.url, flaky.url)
        args = ("--config", str(config), "--rules", str(rules))
        proc = ServerProcess(tmp_path / "data", *args)
        try:
            proc.wait_ready()
            send(proc, {"scenario": "basic", "service": "kill", "message": "boom"})
            hook.wait_for(2, timeout=20)  # failing and being retried
            proc.kill()
        finally:
            proc.close()
        failed = len(hook.requests)
        hook.default = Answer(200)
        proc = ServerProcess(tmp_path / "data", *args, port=proc.port)
        try:
            proc.wait_ready()
            # The queued notification is retried after the restart and delivered once; then the resolve.
            eventually(lambda: len(received(hook, "basic", since=failed)) >= 2, timeout=30)
            time.sleep(1.5)
            after = received(hook, "basic", since=failed)
            assert [p["status"] for p in after] == ["firing", "resolved"]
            proc.terminate()
        finally:
            proc.close()
        count = len(hook.requests)
        proc = ServerProcess(tmp_path / "data", *args, port=proc.port)
        try:
            proc.wait_ready()
            time.sleep(3.0)
            assert len(hook.requests) == count  # a restart re-sends nothing already delivered
        finally:
            proc.close()
