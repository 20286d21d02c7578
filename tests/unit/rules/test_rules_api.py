"""/api/v1/rules: rules made through the API next to the rule files' (read-only), checked with the same models,
names unique across both and every tenant, applied to the running engine at once (unchanged rules keep their
state), scoped to their tenant, kept across restarts; the engine runs without a rule directory; alert history
filters."""

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
from logwarden.model.units import parse_duration
from tests.conftest import make_config

FILE_RULES = """\
groups:
  - name: seed
    interval: 30s
    rules:
      - name: error-burst
        type: threshold
        query: 'level:error'
        group_by: [service]
        window: 1m
        threshold: 3
      - name: hourly-errors
        type: scheduled
        query: 'level:error | stats count() by service'
        window: 1h
        threshold: 1000
"""
ACME = {"X-Scope-OrgID": "acme"}


def rule(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "acme-errors",
        "type": "threshold",
        "query": "level:error",
        "group_by": ["service"],
        "window": "1m",
        "threshold": 1,
    }
    body.update(overrides)
    return body


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "seed.yaml").write_text(FILE_RULES)
    config = make_config(tmp_path, **{"rules.dir": str(tmp_path / "rules"), "rules.reload_interval": "100ms"})
    with TestClient(create_app(config, run_maintenance=False)) as c:
        yield c


def lines(service: str, n: int, at: datetime | None = None) -> bytes:
    ts = (at or datetime.now(UTC)).isoformat()
    return b"\n".join(
        orjson.dumps({"ts": ts, "level": "error", "service": service, "message": f"{service} {i}"}) for i in range(n)
    )


def ingest(client: TestClient, body: bytes, headers: dict[str, str] | None = None) -> None:
    assert client.post("/api/v1/ingest", content=body, headers=headers or {}).status_code == 200
    assert client.app.state.runtime.bus.wait_caught_up()  # type: ignore[attr-defined]


def engine_alerts(client: TestClient) -> set[tuple[str, str]]:
    engine = client.app.state.runtime.rules  # type: ignore[attr-defined]
    return {(a.rule, a.labels["tenant"]) for a in engine.alerts()}


def test_a_rule_made_through_the_api_applies_at_once_to_its_tenant_only(client: TestClient) -> None:
    r = client.post("/api/v1/rules", json={"group": "mine", "rule": rule()}, headers=ACME)
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["source"], made["group"], made["type"], made["enabled"]) == ("api", "mine", "threshold", True)
    assert made["rule"] == rule()
    listed = {v["name"]: v for v in client.get("/api/v1/rules", headers=ACME).json()["rules"]}
    assert set(listed) == {"acme-errors", "error-burst", "hourly-errors"}
    assert (listed["error-burst"]["source"], listed["error-burst"]["line"]) == ("file", 5)
    assert parse_duration(listed["error-burst"]["rule"]["window"]) == timedelta(minutes=1)
    assert listed["hourly-errors"]["interval"] == "30s"
    # Other tenants see the files' rules, not acme's.
    others = [v["name"] for v in client.get("/api/v1/rules").json()["rules"]]
    assert others == ["error-burst", "hourly-errors"]
    ingest(client, lines("api", 2), ACME)
    ingest(client, lines("api", 2))  # the default tenant's errors: not acme's rule
    assert engine_alerts(client) == {("acme-errors", "acme")}
    ingest(client, lines("web", 4))
    assert engine_alerts(client) == {("acme-errors", "acme"), ("error-burst", "default")}
    alerts = client.get("/api/v1/alerts", headers=ACME).json()
    assert [a["rule"] for a in alerts["alerts"]] == ["acme-errors"]
    assert alerts["rules"] == ["acme-errors", "error-burst", "hourly-errors"]
    assert "acme-errors" not in client.get("/api/v1/alerts").json()["rules"]

    # Replaced: its settings changed, so it starts over (and stays quiet at 100).
    r = client.put("/api/v1/rules/acme-errors", json={"group": "mine", "rule": rule(threshold=100)}, headers=ACME)
    assert r.status_code == 200 and r.json()["rule"]["threshold"] == 100
    assert engine_alerts(client) == {("error-burst", "default")}
    assert client.delete("/api/v1/rules/acme-errors", headers=ACME).status_code == 204
    assert client.get("/api/v1/rules/acme-errors", headers=ACME).status_code == 404
    assert "acme-errors" not in client.app.state.runtime.rules.rule_names  # type: ignore[attr-defined]


def test_unchanged_rules_keep_their_state_when_rules_change(client: TestClient) -> None:
    assert client.post("/api/v1/rules", json={"rule": rule()}, headers=ACME).status_code == 201
    ingest(client, lines("api", 2), ACME)
    assert engine_alerts(client) == {("acme-errors", "acme")}
    assert (
        client.post("/api/v1/rules", json={"rule": rule(name="another", threshold=50)}, headers=ACME).status_code == 201
    )
    cosmetic = rule(labels={"team": "payments"}, annotations={"summary": "{{ value }} errors"})
    assert client.put("/api/v1/rules/acme-errors", json={"rule": cosmetic}, headers=ACME).status_code == 200
    assert engine_alerts(client) == {("acme-errors", "acme")}  # the same alert: its window was kept


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rule": rule(threshold="many")}, "rule.threshold: Input should be a valid number"),
        ({"rule": rule(type="nope")}, "rule.type: unknown rule type 'nope': use one of"),
        ({"rule": rule(query="level:")}, "rule.query: invalid query at column 7"),
        ({"rule": rule(window="soon")}, "rule.window:"),
        ({"rule": rule(annotations={"summary": "{{ value "})}, "rule.annotations.summary: template 'summary'"),
        ({"rule": {k: v for k, v in rule().items() if k != "type"}}, "rule.type: missing `type`"),
        ({"group": "", "rule": rule()}, "group: String should have at least 1 character"),
        ({"interval": "often", "rule": rule()}, "interval:"),
        ({"group": "g"}, "rule: required"),
        ({"rule": rule(), "extra": 1}, "extra: unknown field"),
        ([], "the body must be a JSON object"),
    ],
)
def test_invalid_rules_are_refused_naming_the_field(client: TestClient, body: Any, message: str) -> None:
    r = client.post("/api/v1/rules", json=body, headers=ACME)
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert client.post("/api/v1/rules", content=b"{", headers=ACME).status_code == 400


def test_names_are_unique_across_files_and_tenants_and_file_rules_are_read_only(client: TestClient) -> None:
    r = client.post("/api/v1/rules", json={"rule": rule(name="error-burst")}, headers=ACME)
    assert r.status_code == 409 and "already used in" in r.json()["error"] and "seed.yaml:5" in r.json()["error"]
    assert client.post("/api/v1/rules", json={"rule": rule()}, headers=ACME).status_code == 201
    r = client.post("/api/v1/rules", json={"rule": rule()})  # another tenant, the same name
    assert r.status_code == 409 and "already used" in r.json()["error"]
    assert client.get("/api/v1/rules/acme-errors").status_code == 404  # not this tenant's
    assert client.delete("/api/v1/rules/acme-errors").status_code == 404
    for method in ("PUT", "DELETE"):
        r = client.request(method, "/api/v1/rules/error-burst", json={"rule": rule(name="error-burst")}, headers=ACME)
        assert r.status_code == 409 and "seed.yaml:5" in r.json()["error"] and "edit the file" in r.json()["error"]
    assert client.get("/api/v1/rules/error-burst", headers=ACME).json()["source"] == "file"
    r = client.put("/api/v1/rules/acme-errors", json={"rule": rule(name="renamed")}, headers=ACME)
    assert r.status_code == 400 and "names do not change" in r.json()["error"]
    assert client.put("/api/v1/rules/missing", json={"rule": rule(name="missing")}, headers=ACME).status_code == 404


def test_api_rules_are_kept_across_restarts_and_run_without_a_rule_directory(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with TestClient(create_app(config, run_maintenance=False)) as c:
        assert c.app.state.runtime.rules is not None  # type: ignore[attr-defined]
        assert c.post("/api/v1/rules", json={"rule": rule()}, headers=ACME).status_code == 201
        assert client_rules(c) == ["acme-errors"]
        ingest(c, lines("api", 2), ACME)
        assert engine_alerts(c) == {("acme-errors", "acme")}
    with TestClient(create_app(config, run_maintenance=False)) as c:
        assert client_rules(c) == ["acme-errors"]
        assert c.app.state.runtime.rules.rule_names == ["acme-errors"]  # type: ignore[attr-defined]
        assert engine_alerts(c) == {("acme-errors", "acme")}  # its window and alert came back with it
        assert c.get("/api/v1/rules").json()["directory"] is None


def client_rules(c: TestClient) -> list[str]:
    return [v["name"] for v in c.get("/api/v1/rules", headers=ACME).json()["rules"]]


def test_a_file_scheduled_rule_runs_at_its_group_interval(client: TestClient) -> None:
    ((_, scheduled),) = client.app.state.runtime.rules.scheduled()  # type: ignore[attr-defined]
    assert (scheduled.name, scheduled.every, scheduled.range) == (
        "hourly-errors",
        timedelta(seconds=30),
        timedelta(hours=1),
    )


def test_a_scheduled_rule_made_through_the_api_runs_in_the_server_for_its_tenant(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    body = {
        "rule": {
            "name": "acme-scheduled",
            "type": "scheduled",
            "query": "level:error | stats count() by service",
            "window": "10m",
            "every": "1s",
            "max_delay": "0s",
            "threshold": 2,
        }
    }
    with TestClient(create_app(config, run_maintenance=False)) as c:
        recent = datetime.now(UTC) - timedelta(seconds=30)
        ingest(c, lines("api", 3, recent), ACME)
        ingest(c, lines("api", 5, recent))  # the default tenant's: never acme's rule
        assert c.post("/api/v1/rules", json=body, headers=ACME).status_code == 201
        deadline = time.monotonic() + 15
        while not (found := c.get("/api/v1/alerts", headers=ACME).json()["alerts"]):
            assert time.monotonic() < deadline, "the scheduled rule never fired"
            time.sleep(0.1)
        assert [(a["rule"], a["labels"], a["value"]) for a in found] == [
            ("acme-scheduled", {"tenant": "acme", "service": "api"}, 3.0)
        ]
        (fired,) = c.get("/api/v1/alerts/history", headers=ACME).json()["transitions"]
        assert fired["status"] == "firing" and fired["alert"]["labels"]["tenant"] == "acme"
        assert c.get("/api/v1/alerts").json()["alerts"] == []


def test_history_is_filtered_by_rule_status_fingerprint_and_time(client: TestClient) -> None:
    past = datetime.now(UTC) - timedelta(minutes=3)
    ingest(client, lines("api", 5, past) + b"\n" + lines("web", 5, past))
    # Nothing more arrives: the clock resolves both within seconds.
    deadline = time.monotonic() + 15
    while len(client.get("/api/v1/alerts/history").json()["transitions"]) < 4:
        assert time.monotonic() < deadline, "the alerts never resolved"
        time.sleep(0.1)

    def history(**params: str) -> list[dict[str, Any]]:
        r = client.get("/api/v1/alerts/history", params=params)
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()["transitions"]
        return found

    assert [t["status"] for t in history(status="resolved")] == ["resolved", "resolved"]
    api = history(status="firing")[0]["fingerprint"]
    assert [t["status"] for t in history(fingerprint=api)] == ["resolved", "firing"]
    assert history(rule="nope") == [] and len(history(rule="error-burst")) == 4
    fired_at = history(fingerprint=api)[1]["at"]
    assert {t["status"] for t in history(until=fired_at)} == set()
    assert len(history(since=fired_at, limit="1")) == 1
    assert history(since="now") == []
    for bad in ({"status": "pending"}, {"since": "soon"}, {"since": "now", "until": "now-1h"}, {"nope": "1"}):
        assert client.get("/api/v1/alerts/history", params=bad).status_code == 400
