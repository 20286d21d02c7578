"""A rule over a log metric made through the rules API is checked against the metrics in force (400 naming the
field), and the rules API shows why a scheduled run failed (`last_error`, `runs`, `failures`)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.unit.logmetrics.test_metric_rules import client  # noqa: F401 - the fixture: a server with two metrics

RULE = {"name": "errs", "type": "aggregate", "metric": "errors", "fn": "sum", "window": "5m", "threshold": 3}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"metric": "nope"}, "rule.metric: no log metric named 'nope' (defined: errors, latency_ms"),
        ({"fn": "p95"}, "rule.fn: fn p95 needs a distribution: metric 'errors' is a counter"),
        ({"fn": "avg"}, "rule.fn: fn avg needs a value: metric 'errors' is a counter"),
        ({"group_by": ["host"]}, "rule.group_by: metric 'errors' has no label 'host' (its labels: service)"),
        ({"match": {"status": "500"}}, "rule.match: metric 'errors' has no label 'status' (its labels: service)"),
    ],
)
def test_a_rule_the_metrics_cannot_answer_is_refused_naming_the_field(
    client: TestClient,  # noqa: F811
    overrides: dict[str, Any],
    message: str,
) -> None:
    made = client.post("/api/v1/rules", json={"group": "g", "rule": {**RULE, **overrides}})
    assert made.status_code == 400, made.text
    assert message in made.json()["error"]
    assert client.post("/api/v1/rules", json={"group": "g", "rule": RULE}).status_code == 201
    replaced = client.put("/api/v1/rules/errs", json={"group": "g", "rule": {**RULE, **overrides}})
    assert replaced.status_code == 400 and message in replaced.json()["error"], replaced.text


def test_the_last_error_of_a_metric_rule_is_shown_and_cleared(client: TestClient) -> None:  # noqa: F811
    assert client.put("/api/v1/metrics/definitions/gone", json={"query": "level:error"}).status_code in (200, 201)
    rule = {**RULE, "name": "on-gone", "metric": "gone"}
    assert client.post("/api/v1/rules", json={"group": "g", "rule": rule}).status_code == 201
    before = client.get("/api/v1/rules/on-gone").json()
    assert (before["runs"], before["failures"], before["last_error"]) == (0, 0, None)
    assert client.delete("/api/v1/metrics/definitions/gone").status_code == 204
    service = client.app.state.runtime.rule_service  # type: ignore[attr-defined]
    client.portal.call(service.scheduler.run_due)  # type: ignore[union-attr]
    failed = client.get("/api/v1/rules/on-gone").json()
    assert failed["failures"] == 1 and failed["runs"] == 0
    assert "no log metric named 'gone'" in failed["last_error"]
    listed = {r["name"]: r for r in client.get("/api/v1/rules").json()["rules"]}
    assert listed["on-gone"]["last_error"] == failed["last_error"]
    # The metric back: the next run succeeds and the error is cleared.
    assert client.put("/api/v1/metrics/definitions/gone", json={"query": "level:error"}).status_code in (200, 201)
    (evaluator,) = [r for _, r in service.engine.scheduled() if r.name == "on-gone"]
    evaluator.last_at = None  # the next run is due at once, not a minute later
    client.portal.call(service.scheduler.run_due)  # type: ignore[union-attr]
    ok = client.get("/api/v1/rules/on-gone").json()
    assert (ok["runs"], ok["failures"], ok["last_error"]) == (1, 1, None)
