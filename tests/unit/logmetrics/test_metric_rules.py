"""`aggregate` rules over a log metric (`metric:` instead of `query:`): run on a schedule from the series of the
server's real log metrics, through the same alert state machine (op, `for`, groups per `group_by` label) and the
engine's commit path; each tenant's series only; clear messages for what a user can get wrong; backtest refused
with a 400 naming `rule.metric`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.config.logmetrics import MetricDefinition
from logwarden.logmetrics.query import window_values
from logwarden.logmetrics.subscriber import LogMetricsSubscriber
from logwarden.rules.engine import RulesEngine
from logwarden.rules.loader import RulesError, load_rule_file
from logwarden.rules.scheduler import RuleScheduler
from logwarden.rules.service import scoped, with_interval
from logwarden.rules.types.aggregate import AggregateRule
from logwarden.rules.types.metric_source import MetricRuleEvaluator
from tests.conftest import make_config
from tests.unit.logmetrics.conftest import Opener
from tests.unit.logmetrics.helpers import T0, Clock, line, stored

MINUTE = timedelta(minutes=1)
DEFINITIONS = """\
metrics:
  - name: errors
    query: 'level:error'
    labels: [service]
  - name: latency_ms
    type: histogram
    query: '*'
    field: ms
    labels: [service]
"""


def Metric(**overrides: Any) -> AggregateRule:  # noqa: N802 - reads like the rule it builds
    settings: dict[str, Any] = {
        "name": "errors-by-service",
        "type": "aggregate",
        "metric": "errors",
        "fn": "sum",
        "group_by": ["service"],
        "window": "5m",
        "every": "1m",
        "max_delay": "0s",
        "threshold": 3,
    }
    settings.update(overrides)
    return AggregateRule.model_validate(settings)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "m.yaml").write_text(DEFINITIONS)
    config = make_config(tmp_path, **{"metrics.dir": str(tmp_path / "metrics")})
    with TestClient(create_app(config, run_maintenance=False)) as c:
        yield c


@pytest.fixture
def base() -> datetime:
    """An hour ago, on a whole 10 minutes: times come from the moment of the test, never a fixed date."""
    now = datetime.now(UTC)
    return now.replace(minute=now.minute // 10 * 10, second=0, microsecond=0) - timedelta(hours=1)


def ingest(client: TestClient, records: list[dict[str, Any]], tenant: str = "default") -> None:
    body = b"\n".join(orjson.dumps(r) for r in records)
    headers = {"Content-Type": "application/x-ndjson", "X-Scope-OrgID": tenant}
    assert client.post("/api/v1/ingest", content=body, headers=headers).status_code == 200
    assert client.app.state.runtime.bus.wait_caught_up()  # type: ignore[attr-defined]
    sub = client.app.state.log_metrics  # type: ignore[attr-defined]
    assert isinstance(sub, LogMetricsSubscriber)
    sub.flush()  # the series committed, as the subscriber does every commit interval


def lines(at: datetime, service: str, n: int, level: str = "error", **attrs: Any) -> list[dict[str, Any]]:
    ts = at.isoformat()
    return [{"ts": ts, "level": level, "service": service, "message": f"{service} {i}", **attrs} for i in range(n)]


class Harness:
    """An engine of its own and a scheduler reading the server's log metrics, on a fake clock."""

    def __init__(self, client: TestClient, state: Path, *specs: AggregateRule) -> None:
        self.client = client
        self.clock = Clock()
        self.engine = RulesEngine(state, specs, clock=self.clock, tick=None)
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        self.scheduler = RuleScheduler(self.engine, runtime.store, clock=self.clock)
        self.scheduler.series = client.app.state.log_metrics  # type: ignore[attr-defined]

    def run_at(self, at: datetime) -> int:
        self.clock.now = at
        ran: int = self.client.portal.call(self.scheduler.run_due)  # type: ignore[union-attr]
        return ran

    def firing(self) -> dict[tuple[str, str], float]:
        return {(a.labels["tenant"], a.labels["service"]): a.value for a in self.engine.alerts()}

    def log(self) -> list[tuple[str, datetime, dict[str, str]]]:
        return [(h["status"], datetime.fromisoformat(h["at"]), h["alert"]["labels"]) for h in self.engine.history()]

    def rule(self, name: str) -> MetricRuleEvaluator:
        (rule,) = [r for _, r in self.engine.scheduled() if r.name == name]
        assert isinstance(rule, MetricRuleEvaluator)
        return rule


# --- validation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"query": "level:error"}, "query: not with `metric`: the metric's definition selects the lines"),
        ({"field": "ms"}, "field: not with `metric`: the metric's own field is aggregated"),
        ({"fn": "count"}, "fn: with `metric` use one of rate, sum, avg, max, p50, p95, p99"),
        ({"fn": "p90"}, "fn: with `metric` use one of rate"),
        ({"min_count": 5}, "min_count: not with `metric`"),
        ({"metric": "  "}, "metric: must name a log metric"),
        ({"metric": None}, "query: required: the lines to look at (or `metric`: a log metric)"),
        ({"metric": None, "query": "*", "field": "ms", "fn": "rate"}, "fn: `rate` needs `metric`"),
        ({"metric": None, "query": "*", "fn": "avg"}, "field: required: the numeric field (or `metric` instead)"),
        ({"metric": None, "query": "*", "field": "ms", "fn": "avg"}, "every: only with `metric`"),
        ({"metric": None, "query": "*", "field": "ms", "fn": "avg", "every": None, "match": {"a": "b"}}, "match: only"),
    ],
)
def test_what_a_metric_rule_gets_wrong_is_named(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match="metric_rule") as info:
        Metric(**overrides)
    assert message in str(info.value)


def test_an_aggregate_over_lines_is_unchanged() -> None:
    rule = Metric(metric=None, query="service:api", field="ms", fn="p90", every=None)
    assert rule.metric is None and type(rule.evaluator()).__name__ == "AggregateEvaluator"
    assert isinstance(Metric().evaluator(), MetricRuleEvaluator)


def test_a_rule_file_reports_the_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "groups:\n  - name: g\n    rules:\n      - name: m\n        type: aggregate\n        metric: errors\n"
        "        query: 'level:error'\n        fn: sum\n        window: 5m\n        threshold: 3\n"
    )
    with pytest.raises(RulesError) as info:
        load_rule_file(path)
    text = str(info.value)
    assert "r.yaml" in text and "query: not with `metric`" in text, text


# --- evaluation on a schedule ---------------------------------------------------------------------------------


def test_groups_fire_and_resolve_from_the_series(client: TestClient, tmp_path: Path, base: datetime) -> None:
    ingest(client, lines(base + timedelta(seconds=10), "api", 5) + lines(base + timedelta(seconds=11), "web", 2))
    ingest(client, lines(base + timedelta(seconds=12), "api", 9, level="info"))  # not in the metric
    h = Harness(client, tmp_path / "state", Metric())
    assert h.run_at(base + MINUTE) == 1
    assert h.firing() == {("default", "api"): 5.0}  # web: 2 is not > 3
    assert h.run_at(base + MINUTE + timedelta(seconds=30)) == 0  # not due before the next minute
    ingest(client, lines(base + 4 * MINUTE, "web", 4))
    assert h.run_at(base + 6 * MINUTE) == 1  # [base+1m, base+6m): api's lines are out, web's are in
    assert h.firing() == {("default", "web"): 4.0}
    assert sorted(h.log(), key=str) == sorted(
        [
            ("firing", base + MINUTE, {"tenant": "default", "service": "api"}),
            ("firing", base + 6 * MINUTE, {"tenant": "default", "service": "web"}),
            ("resolved", base + 6 * MINUTE, {"tenant": "default", "service": "api"}),
        ],
        key=str,
    )
    # Committed through the batches' path: the current alerts are in the database too.
    assert [a["labels"]["service"] for a in h.engine.store.current("default")] == ["web"]
    h.engine.close()


def test_a_restart_keeps_the_alerts_and_the_last_run(client: TestClient, tmp_path: Path, base: datetime) -> None:
    ingest(client, lines(base + timedelta(seconds=10), "api", 5))
    h = Harness(client, tmp_path / "state", Metric())
    assert h.run_at(base + MINUTE) == 1
    h.engine.close()
    again = Harness(client, tmp_path / "state", Metric())
    assert again.firing() == {("default", "api"): 5.0}  # restored from the engine's checkpoint
    assert again.run_at(base + MINUTE + timedelta(seconds=20)) == 0  # that run is done: not run twice
    assert again.run_at(base + 2 * MINUTE) == 1
    assert [status for status, _, _ in again.log()] == ["firing"]  # no second firing
    again.engine.close()


def test_for_op_and_a_rate_per_second_of_the_window(client: TestClient, tmp_path: Path, base: datetime) -> None:
    for minute in range(4):  # 30 errors a minute for four minutes: 0.5/s
        ingest(client, lines(base + minute * MINUTE + timedelta(seconds=5), "api", 30))
    rule = Metric(name="error-rate", fn="rate", window="1m", threshold=0.4, **{"for": "2m"})
    quiet = Metric(name="too-quiet", fn="rate", window="1m", op="<", threshold=0.6)
    h = Harness(client, tmp_path / "state", rule, quiet)
    h.run_at(base + MINUTE)
    pending = {a.rule: (a.status.value, a.value) for a in h.engine.alerts()}
    assert pending == {"error-rate": ("pending", 0.5), "too-quiet": ("firing", 0.5)}
    h.run_at(base + 2 * MINUTE)
    h.run_at(base + 3 * MINUTE)
    assert {a.rule: a.status.value for a in h.engine.alerts()}["error-rate"] == "firing"  # held for 2m
    h.run_at(base + 5 * MINUTE)  # the minute [4m, 5m) has no line: an alerting group's value is 0
    assert {a.rule: (a.status.value, a.value) for a in h.engine.alerts()} == {"too-quiet": ("firing", 0.0)}
    h.engine.close()


def test_percentiles_of_a_histogram_metric(client: TestClient, tmp_path: Path, base: datetime) -> None:
    at = base + timedelta(seconds=20)
    ingest(client, [r for ms in range(1, 101) for r in lines(at, "api", 1, level="info", ms=ms)])
    ingest(client, [r for ms in range(1, 11) for r in lines(at, "web", 1, level="info", ms=ms)])
    p95 = Metric(name="slow", metric="latency_ms", fn="p95", threshold=50)
    avg = Metric(name="avg", metric="latency_ms", fn="avg", threshold=5, group_by=[])
    h = Harness(client, tmp_path / "state", p95, avg)
    h.run_at(base + MINUTE)
    alerts = {(a.rule, a.labels.get("service")): a.value for a in h.engine.alerts()}
    assert set(alerts) == {("slow", "api"), ("avg", None)}  # web's p95 is about 10
    assert alerts[("slow", "api")] == pytest.approx(95, rel=0.02)  # the sketch's bins: within 1%
    assert alerts[("avg", None)] == pytest.approx((5050 + 55) / 110)
    h.engine.close()


def test_an_fn_the_metric_cannot_answer_or_an_unknown_metric_is_the_rules_error(
    client: TestClient, tmp_path: Path, base: datetime
) -> None:
    ingest(client, lines(base + timedelta(seconds=10), "api", 5))
    wrong_fn = Metric(name="p95-of-a-counter", fn="p95")
    unknown = Metric(name="unknown", metric="nope")
    wrong_label = Metric(name="wrong-label", group_by=["host"])
    h = Harness(client, tmp_path / "state", wrong_fn, unknown, wrong_label)
    assert h.run_at(base + MINUTE) == 0
    errors = {r.name: r.last_error for _, r in h.engine.scheduled()}
    assert "fn p95 needs a distribution: metric 'errors' is a counter" in str(errors["p95-of-a-counter"])
    assert "metric: no log metric named 'nope' (defined: errors, latency_ms" in str(errors["unknown"])
    assert "by: metric 'errors' has no label 'host'" in str(errors["wrong-label"])
    assert h.engine.alerts() == []
    h.scheduler.series = None  # log metrics turned off
    assert h.run_at(base + 2 * MINUTE) == 0
    assert "log metrics are turned off" in str(h.rule("unknown").last_error)
    h.engine.close()


def test_match_keeps_the_series_whose_labels_have_the_values(
    client: TestClient, tmp_path: Path, base: datetime
) -> None:
    at = base + timedelta(seconds=10)
    ingest(client, lines(at, "api", 5) + lines(at, "web", 6) + lines(at, "db", 7))
    one = Metric(name="api-only", match={"service": "api"})
    two = Metric(name="two", match={"service": ["web", "db"]}, group_by=[])
    wrong = Metric(name="wrong-match", match={"status": "500"})
    h = Harness(client, tmp_path / "state", one, two, wrong)
    h.run_at(base + MINUTE)
    assert {(a.rule, a.labels.get("service")): a.value for a in h.engine.alerts()} == {
        ("api-only", "api"): 5.0,
        ("two", None): 13.0,  # web and db summed, api left out
    }
    assert "match: metric 'errors' has no label 'status' (its labels: service)" in str(h.rule("wrong-match").last_error)
    h.engine.close()


# --- tenants --------------------------------------------------------------------------------------------------


def test_each_tenant_reads_its_own_series(client: TestClient, tmp_path: Path, base: datetime) -> None:
    ingest(client, lines(base + timedelta(seconds=10), "api", 5))
    ingest(client, lines(base + timedelta(seconds=10), "api", 7), tenant="acme")
    ingest(client, lines(base + timedelta(seconds=10), "web", 9), tenant="other")
    every_tenant = Metric(name="file-rule")
    # An API rule runs scoped to its tenant (rules/service.py), also when it takes its group's interval.
    api_rule = with_interval(scoped(Metric(name="acme-rule", every=None), "acme"), 2 * MINUTE)
    assert isinstance(api_rule, AggregateRule) and api_rule.tenant == "acme" and api_rule.every == 2 * MINUTE
    h = Harness(client, tmp_path / "state", every_tenant, api_rule)
    h.run_at(base + 2 * MINUTE)
    by_rule: dict[str, dict[tuple[str, str], float]] = {}
    for a in h.engine.alerts():
        by_rule.setdefault(a.rule, {})[(a.labels["tenant"], a.labels["service"])] = a.value
    assert by_rule == {
        "file-rule": {("default", "api"): 5.0, ("acme", "api"): 7.0, ("other", "web"): 9.0},
        "acme-rule": {("acme", "api"): 7.0},
    }
    h.engine.close()


def test_a_rule_made_through_the_api_reads_its_tenants_series(client: TestClient) -> None:
    rule = {"name": "acme-errors", "type": "aggregate", "metric": "errors", "fn": "sum", "window": "5m", "threshold": 3}
    body = {"group": "mine", "interval": "2m", "rule": rule}
    r = client.post("/api/v1/rules", json=body, headers={"X-Scope-OrgID": "acme"})
    assert r.status_code == 201, r.text
    engine = client.app.state.runtime.rule_service.engine  # type: ignore[attr-defined]
    (found,) = [r for _, r in engine.scheduled() if r.name == "acme-errors"]
    assert isinstance(found, MetricRuleEvaluator) and found.tenant == "acme" and found.every == 2 * MINUTE
    bad = {"group": "mine", "rule": {**rule, "name": "bad", "query": "level:error"}}
    r = client.post("/api/v1/rules", json=bad, headers={"X-Scope-OrgID": "acme"})
    assert r.status_code == 400 and "query: not with `metric`" in r.text, r.text


# --- the server -----------------------------------------------------------------------------------------------


def test_the_servers_scheduler_reads_its_log_metrics(client: TestClient) -> None:
    service = client.app.state.runtime.rule_service  # type: ignore[attr-defined]
    assert service.scheduler.series is client.app.state.log_metrics  # type: ignore[attr-defined]


def test_a_metric_rule_is_backtested_over_its_series(client: TestClient, base: datetime) -> None:
    ingest(client, lines(base + timedelta(seconds=10), "api", 5) + lines(base + timedelta(seconds=10), "web", 2))
    ingest(client, lines(base + timedelta(minutes=20), "api", 2))  # below the threshold
    ingest(client, lines(base + timedelta(seconds=10), "api", 9), tenant="acme")
    rule = {"name": "m", "type": "aggregate", "metric": "errors", "fn": "sum", "group_by": ["service"],
            "window": "5m", "every": "1m", "threshold": 3}  # fmt: skip
    body = {"rule": rule, "since": base.isoformat(), "until": (base + timedelta(minutes=30)).isoformat()}
    r = client.post("/api/v1/rules/backtest", json=body)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["evaluations"] == 30 and result["resolution_seconds"] == 60
    (alert,) = result["alerts"]
    assert alert["labels"] == {"tenant": "default", "service": "api"} and alert["value"] == 5.0
    assert alert["fired_at"] == (base + timedelta(minutes=1)).isoformat()
    resolved = datetime.fromisoformat(alert["resolved_at"])
    assert base + timedelta(minutes=5) < resolved <= base + timedelta(minutes=7)
    api = next(g for g in result["series"]["groups"] if g["labels"]["service"] == "api")
    assert api["values"][:5] == [5.0] * 5 and api["alerts"] == 1
    acme = client.post("/api/v1/rules/backtest", json=body, headers={"X-Scope-OrgID": "acme"}).json()
    assert [a["value"] for a in acme["alerts"]] == [9.0]  # each tenant's own series


@pytest.mark.parametrize(
    ("overrides", "since", "message"),
    [
        ({"metric": "nope"}, "now-1h", "rule.metric: no log metric named 'nope'"),
        ({"fn": "p95"}, "now-1h", "rule.fn: fn p95 needs a distribution"),
        ({}, "now-800d", "since: the series of metric 'errors' are kept 730 days"),
    ],
)
def test_a_metric_rule_backtest_that_cannot_run_is_a_400_naming_the_field(
    client: TestClient, overrides: dict[str, Any], since: str, message: str
) -> None:
    rule = {"name": "m", "type": "aggregate", "metric": "errors", "fn": "sum", "window": "5m", "threshold": 3}
    r = client.post("/api/v1/rules/backtest", json={"rule": {**rule, **overrides}, "since": since, "until": "now"})
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]


# --- the window read from the tiers ---------------------------------------------------------------------------


def test_a_window_reads_the_same_from_rolled_up_tiers(open_subscriber: Opener, clock: Clock) -> None:
    latency = MetricDefinition(name="latency", type="histogram", field="ms", labels=["service"])
    sub = open_subscriber([latency])
    for seq in range(1, 13):  # a line every 10 s for two hours, 1..720 ms
        batch = [line((seq - 1) * 600 + i * 10, "api", ms=(seq - 1) * 60 + i + 1) for i in range(60)]
        sub.handle(stored(seq, batch))
    sub.flush()
    start, end = int((T0 + timedelta(hours=1)).timestamp()), int((T0 + timedelta(hours=2)).timestamp())

    def read(fn: str) -> float:
        ((labels, value),) = window_values(sub.store, latency, "default", fn, ("service",), start, end, clock.now)
        assert labels == {"service": "api"}
        return value

    before = {fn: read(fn) for fn in ("rate", "sum", "avg", "max", "p50")}
    clock.now = T0 + timedelta(hours=3)
    assert sub.compact()["tiers_advanced"] >= 3  # the hour is in the 1 h tier now
    assert {fn: read(fn) for fn in before} == pytest.approx(before)
    for table in ("points", "bins"):  # the finer tiers' rows of the hour gone: the 1 h tier alone answers
        sub.store.reader().execute(f"DELETE FROM {table} WHERE tier < 3 AND ts >= ? AND ts < ?", [start, end])
    assert {fn: read(fn) for fn in before} == pytest.approx(before)
    total = sum(range(361, 721))  # the hour's values; `rate` of a distribution: its sum per second
    assert before["sum"] == total and before["rate"] == pytest.approx(total / 3600)
    assert before["max"] == 720 and before["p50"] == pytest.approx(540, rel=0.02)
    assert window_values(sub.store, latency, "acme", "sum", (), start, end, clock.now) == []  # another tenant's
