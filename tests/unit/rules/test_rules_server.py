"""Rules inside the server: the issue's rule file as written, alerts at /api/v1/alerts with evidence and rendered
annotations, per tenant, history, metrics, and a reload that changes a rule."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from tests.conftest import make_config

RULES = """\
groups:
  - name: seed
    rules:
      - name: error-burst
        type: threshold
        query: 'level:error'
        group_by: [service]
        window: 1m
        threshold: {threshold}        # fires when the count in the window is > threshold
        for: 0s
        severity: critical
        annotations:
          summary: '{{{{ labels.service }}}} logged {{{{ value }}}} errors in 1m'
"""


def write_rules(directory: Path, threshold: int) -> None:
    directory.mkdir(exist_ok=True)
    (directory / "seed.yaml").write_text(RULES.format(threshold=threshold))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    write_rules(tmp_path / "rules", 3)
    config = make_config(tmp_path, **{"rules.dir": str(tmp_path / "rules"), "rules.reload_interval": "100ms"})
    with TestClient(create_app(config, run_maintenance=False)) as c:
        yield c


def lines(service: str, n: int, level: str = "error", at: datetime | None = None) -> bytes:
    ts = (at or datetime.now(UTC)).isoformat()
    records = [{"ts": ts, "level": level, "service": service, "message": f"{service} broke {i}"} for i in range(n)]
    return b"\n".join(orjson.dumps(r) for r in records)


def caught_up(client: TestClient) -> None:
    """Every batch handled by the rules and what they hold committed (alerts are read from the database)."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert runtime.bus.wait_caught_up()
    runtime.rules.flush()


def active(client: TestClient, tenant: str | None = None) -> list[dict[str, Any]]:
    headers = {"X-Scope-OrgID": tenant} if tenant else {}
    r = client.get("/api/v1/alerts", headers=headers)
    assert r.status_code == 200, r.text
    alerts: list[dict[str, Any]] = r.json()["alerts"]
    return alerts


def test_the_issue_rule_fires_with_evidence_and_a_rendered_summary(client: TestClient) -> None:
    assert client.post("/api/v1/ingest", content=lines("api", 3)).status_code == 200
    caught_up(client)
    assert active(client) == []  # 3 is not > 3
    assert client.post("/api/v1/ingest", content=lines("api", 2) + b"\n" + lines("web", 1)).status_code == 200
    caught_up(client)
    (alert,) = active(client)
    assert alert["status"] == "firing" and alert["rule"] == "error-burst"
    assert alert["labels"] == {"tenant": "default", "service": "api"}
    assert alert["value"] == 5
    assert [e["message"] for e in alert["evidence"]][-2:] == ["api broke 0", "api broke 1"]
    (transition,) = client.get("/api/v1/alerts/history").json()["transitions"]
    assert transition["status"] == "firing"
    assert transition["alert"]["annotations"] == {"summary": "api logged 5 errors in 1m"}
    assert transition["alert"]["severity"] == "critical"
    # Other tenants see neither the alert nor its history.
    assert active(client, "other") == []
    assert client.get("/api/v1/alerts/history", headers={"X-Scope-OrgID": "other"}).json()["transitions"] == []
    metrics = client.get("/metrics").text
    assert 'logwarden_alerts{rule="error-burst",state="firing"} 1.0' in metrics
    assert 'logwarden_rule_matched_lines_total{rule="error-burst"} 6.0' in metrics  # api 5, web 1


def test_tenants_alert_separately(client: TestClient) -> None:
    client.post("/api/v1/ingest", content=lines("api", 4), headers={"X-Scope-OrgID": "acme"})
    client.post("/api/v1/ingest", content=lines("api", 2))
    caught_up(client)
    assert [a["labels"] for a in active(client, "acme")] == [{"tenant": "acme", "service": "api"}]
    assert active(client) == []


def test_a_reload_with_a_new_threshold_applies_to_new_lines(client: TestClient, tmp_path: Path) -> None:
    write_rules(tmp_path / "rules", 100)
    deadline = time.monotonic() + 10
    while True:  # the watcher picks the change up within its interval
        client.post("/api/v1/ingest", content=lines("api", 5))
        caught_up(client)
        if not active(client):
            break
        assert time.monotonic() < deadline, "the changed rule was never applied"
        time.sleep(0.2)


def test_history_limit_is_checked(client: TestClient) -> None:
    assert client.get("/api/v1/alerts/history", params={"limit": "0"}).status_code == 400
    assert client.get("/api/v1/alerts/history", params={"limit": "x"}).status_code == 400


def test_a_silent_service_resolves_by_the_clock(tmp_path: Path) -> None:
    write_rules(tmp_path / "rules", 1)
    config = make_config(tmp_path, **{"rules.dir": str(tmp_path / "rules")})
    app = create_app(config, run_maintenance=False)
    with TestClient(app) as c:
        engine = c.app.state.runtime.rules  # type: ignore[attr-defined]
        two_minutes_ago = datetime.now(UTC) - timedelta(minutes=2)
        assert c.post("/api/v1/ingest", content=lines("api", 3, at=two_minutes_ago)).status_code == 200
        caught_up(c)
        # Fired at the batch (the head is the lines' own time); nothing more arrives: the clock resolves it.
        deadline = time.monotonic() + 15
        while not [t for t in c.get("/api/v1/alerts/history").json()["transitions"] if t["status"] == "resolved"]:
            assert time.monotonic() < deadline, "never resolved"
            time.sleep(0.2)
        statuses = [t["status"] for t in reversed(c.get("/api/v1/alerts/history").json()["transitions"])]
        assert statuses == ["firing", "resolved"]
        assert engine.alerts() == []
