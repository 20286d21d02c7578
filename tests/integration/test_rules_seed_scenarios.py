"""The seed documents' alert scenarios end to end: one real `logwarden serve --rules DIR`, lines sent over HTTP
as a service would, and the alerts read back at /api/v1/alerts — an error burst per service, 3 failed logins
in 5 minutes per user (and brute force that then succeeds), SQL-injection strings in request logs, a service
that goes silent, a latency p95 spike, and a payment started and never finished.

Windows are seconds long where the scenario is about time passing (silence, a payment that never finishes), so
the test runs on the real clock in a few seconds; line times are the wall clock's, as a shipper would send."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import TEST_RETENTION_DAYS, ServerProcess

pytestmark = pytest.mark.slow

RULES = """\
groups:
  - name: seed
    rules:
      - name: error-burst
        type: threshold
        query: 'level:error'
        group_by: [service]
        window: 1m
        threshold: 100
        severity: critical
        annotations:
          summary: '{{ labels.service }} logged {{ value }} errors in 1m'

      - name: failed-logins
        type: threshold
        query: 'event:LOGIN_FAILED'
        group_by: [user]
        window: 5m
        threshold: 2          # 3 or more in 5 minutes

      - name: brute-force-then-success
        type: sequence
        query: 'service:auth'
        by: [user]
        within: 5m
        steps:
          - {name: failed, query: 'event:LOGIN_FAILED', count: 3}
          - {name: ok, query: 'event:LOGIN_OK'}

      - name: sql-injection
        type: threshold
        query: >-
          "' OR '1'='1" OR "UNION SELECT" OR "DROP TABLE"
        group_by: [client_ip]
        window: 5m
        threshold: 0
        severity: critical

      - name: silent-service
        type: absence
        query: '*'
        group_by: [service]
        window: 2s
        max_delay: 0s

      - name: latency-p95
        type: aggregate
        query: 'service:checkout'
        group_by: [service]
        field: latency_ms
        fn: p95
        threshold: 500
        min_count: 20
        window: 1m

      - name: payment-not-finished
        type: sequence
        query: 'service:payments'
        by: [order_id]
        within: 2s
        max_delay: 0s
        steps:
          - {name: started, query: 'event:PAYMENT_STARTED'}
          - {name: done, query: 'event:PAYMENT_DONE', absent: true}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("seed")
    rules = root / "rules"
    rules.mkdir()
    (rules / "seed.yaml").write_text(RULES)
    config = root / "lw.yaml"
    config.write_text(f"store: {{retention_days: {TEST_RETENTION_DAYS}}}\n")
    proc = ServerProcess(root / "data", "--config", str(config), "--rules", str(rules))
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.close()


def send(server: ServerProcess, *records: dict[str, Any]) -> None:
    now = datetime.now(UTC).isoformat()
    body = b"\n".join(orjson.dumps({"ts": now, **r}) for r in records)
    r = httpx.post(server.url + "/api/v1/ingest", content=body, timeout=10)
    assert r.status_code == 200, r.text


def alerts(server: ServerProcess, rule: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(server.url + "/api/v1/alerts", timeout=10).json()["alerts"]
    return [a for a in found if a["rule"] == rule and a["status"] == "firing"]


def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {check.__name__}")
        time.sleep(0.05)


def test_an_error_burst_fires_for_the_service_that_bursts_only(server: ServerProcess) -> None:
    send(server, *[{"level": "error", "service": "search", "message": "index timeout"}] * 50)
    send(server, *[{"level": "error", "service": "cart", "message": f"db down {i}"} for i in range(101)])
    (alert,) = eventually(lambda: alerts(server, "error-burst"))
    assert alert["labels"] == {"tenant": "default", "service": "cart"} and alert["value"] == 101
    assert alert["evidence"] and alert["evidence"][-1]["message"] == "db down 100"


def test_three_failed_logins_in_five_minutes_per_user_and_a_brute_force_that_succeeds(server: ServerProcess) -> None:
    failed = {"service": "auth", "event": "LOGIN_FAILED", "message": "login failed: invalid password"}
    send(server, {**failed, "user": "bob"}, {**failed, "user": "bob"}, {**failed, "user": "alice"})
    time.sleep(0.5)
    assert alerts(server, "failed-logins") == []  # two for bob is not three
    send(server, {**failed, "user": "bob"})
    (alert,) = eventually(lambda: alerts(server, "failed-logins"))
    assert alert["labels"]["user"] == "bob" and alert["value"] == 3
    assert alerts(server, "brute-force-then-success") == []
    send(server, {"service": "auth", "event": "LOGIN_OK", "user": "bob", "message": "login ok"})
    (seq,) = eventually(lambda: alerts(server, "brute-force-then-success"))
    assert seq["labels"]["user"] == "bob"
    assert [e.get("step") for e in seq["evidence"]] == ["failed", "failed", "failed", "ok"]


def test_sql_injection_strings_in_request_logs(server: ServerProcess) -> None:
    send(
        server,
        {"service": "web", "client_ip": "10.0.0.1", "message": "GET /search?q=shoes 200"},
        {"service": "web", "client_ip": "10.0.0.1", "message": "GET /orders?sort=desc 200"},
    )
    time.sleep(0.5)
    assert alerts(server, "sql-injection") == []
    send(
        server,
        {"service": "web", "client_ip": "203.0.113.7", "message": "GET /login?user=admin' OR '1'='1 200"},
        {"service": "web", "client_ip": "203.0.113.9", "message": "GET /items?id=1 UNION SELECT password FROM users"},
        {"service": "web", "client_ip": "203.0.113.9", "message": "POST /q body=1; DROP TABLE users;--"},
    )
    found = eventually(lambda: len(alerts(server, "sql-injection")) == 2 and alerts(server, "sql-injection"))
    assert {a["labels"]["client_ip"]: a["value"] for a in found} == {"203.0.113.7": 1, "203.0.113.9": 2}


def test_a_service_that_goes_silent_fires_and_resolves_when_it_reports_again(server: ServerProcess) -> None:
    send(server, {"service": "billing", "message": "heartbeat"})
    (alert,) = eventually(
        lambda: [a for a in alerts(server, "silent-service") if a["labels"]["service"] == "billing"], timeout=20
    )
    assert alert["value"] == 0
    send(server, {"service": "billing", "message": "heartbeat"})
    eventually(lambda: not [a for a in alerts(server, "silent-service") if a["labels"]["service"] == "billing"])


def test_a_latency_p95_spike(server: ServerProcess) -> None:
    send(server, *[{"service": "checkout", "latency_ms": 40 + i % 20, "message": "POST /pay 200"} for i in range(100)])
    time.sleep(0.5)
    assert alerts(server, "latency-p95") == []
    send(server, *[{"service": "checkout", "latency_ms": 2000, "message": "POST /pay 200 slow"} for _ in range(20)])
    (alert,) = eventually(lambda: alerts(server, "latency-p95"))
    assert alert["labels"]["service"] == "checkout" and 1900 <= alert["value"] <= 2100


def test_a_payment_started_and_never_finished(server: ServerProcess) -> None:
    started = {"service": "payments", "event": "PAYMENT_STARTED", "message": "payment started"}
    send(server, {**started, "order_id": "A-1"}, {**started, "order_id": "B-2"})
    send(server, {"service": "payments", "event": "PAYMENT_DONE", "order_id": "A-1", "message": "payment done"})
    (alert,) = eventually(lambda: alerts(server, "payment-not-finished"), timeout=20)
    assert alert["labels"]["order_id"] == "B-2"
    assert [e.get("step") for e in alert["evidence"]] == ["started"]
