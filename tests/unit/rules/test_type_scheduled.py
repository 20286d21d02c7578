"""`scheduled` rules on a real store: the query with its stats pipe runs per tenant at aligned evaluation times,
each row a group, through the same state machine (for, resolve_at, op) and the same commit path; the bus skips
them; a restart between runs neither misses nor doubles a transition; lines that arrive late count in the next
run; a failing run changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.rules.engine import RulesEngine
from logwarden.rules.scheduler import RuleScheduler
from logwarden.rules.types.scheduled import ScheduledRule
from tests.conftest import make_config
from tests.unit.rules.harness import T0, Clock, stored

MINUTE = timedelta(minutes=1)


def Scheduled(**overrides: Any) -> ScheduledRule:  # noqa: N802 - reads like the rule it builds
    settings: dict[str, Any] = {
        "name": "errors-by-service",
        "type": "scheduled",
        "query": "level:error | stats count() by service",
        "window": "5m",
        "every": "1m",
        "max_delay": "0s",
        "threshold": 3,
    }
    settings.update(overrides)
    return ScheduledRule.model_validate(settings)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_config(tmp_path), run_maintenance=False)) as c:
        yield c


def ingest(client: TestClient, records: list[dict[str, Any]], tenant: str = "default") -> None:
    body = b"\n".join(orjson.dumps(r) for r in records)
    r = client.post("/api/v1/ingest", content=body, headers={"X-Scope-OrgID": tenant})
    assert r.status_code == 200, r.text
    client.portal.call(client.app.state.runtime.store.flush)  # type: ignore[attr-defined, union-attr]


def lines(seconds: float, service: str, n: int, level: str = "error", **attrs: Any) -> list[dict[str, Any]]:
    ts = (T0 + timedelta(seconds=seconds)).isoformat()
    return [{"ts": ts, "level": level, "service": service, "message": f"{service} {i}", **attrs} for i in range(n)]


class Harness:
    """An engine of its own (not the server's) and a scheduler on the server's real store, on a fake clock."""

    def __init__(self, client: TestClient, state: Path, *specs: ScheduledRule) -> None:
        self.client = client
        self.clock = Clock()
        self.engine = RulesEngine(state, specs, clock=self.clock, tick=None)
        store = client.app.state.runtime.store  # type: ignore[attr-defined]
        self.scheduler = RuleScheduler(self.engine, store, clock=self.clock)

    def run_at(self, at: datetime) -> int:
        self.clock.now = at
        ran: int = self.client.portal.call(self.scheduler.run_due)  # type: ignore[union-attr]
        return ran

    def log(self) -> list[tuple[str, str, dict[str, str]]]:
        return [(h["status"], h["at"], h["alert"]["labels"]) for h in reversed(self.engine.history())]


def test_groups_fire_per_tenant_and_resolve_when_their_rows_go(client: TestClient, tmp_path: Path) -> None:
    ingest(client, lines(10, "api", 5) + lines(11, "web", 2) + lines(12, "api", 9, level="info"))
    ingest(client, lines(13, "api", 4), tenant="acme")
    h = Harness(client, tmp_path / "state", Scheduled())
    assert h.run_at(T0 + MINUTE) == 1
    firing = {(a.labels["tenant"], a.labels["service"]): a for a in h.engine.alerts()}
    assert set(firing) == {("default", "api"), ("acme", "api")}  # web: 2 is not > 3
    assert firing[("default", "api")].value == 5 and firing[("acme", "api")].value == 4
    assert firing[("default", "api")].labels == {"tenant": "default", "service": "api"}
    assert h.run_at(T0 + MINUTE + timedelta(seconds=30)) == 0  # not due before the next minute
    ingest(client, lines(240, "web", 4))
    assert h.run_at(T0 + 6 * MINUTE) == 1  # [T0+1m, T0+6m): api's lines are out, web's are in
    at1, at6 = (T0 + MINUTE).isoformat(), (T0 + 6 * MINUTE).isoformat()
    assert sorted(h.log(), key=str) == sorted(
        [
            ("firing", at1, {"tenant": "default", "service": "api"}),
            ("firing", at1, {"tenant": "acme", "service": "api"}),
            ("firing", at6, {"tenant": "default", "service": "web"}),
            ("resolved", at6, {"tenant": "default", "service": "api"}),
            ("resolved", at6, {"tenant": "acme", "service": "api"}),
        ],
        key=str,
    )
    # Committed through the same path as the bus's batches: current alerts in the database too.
    assert [a["labels"]["service"] for a in h.engine.store.current("default")] == ["web"]
    h.engine.close()


def test_for_keeps_an_alert_pending_and_resolve_at_keeps_it_firing(client: TestClient, tmp_path: Path) -> None:
    # One line a minute with its latency: 200, 200, 200, 80, 40 ms.
    for minute, latency in enumerate((200, 200, 200, 80, 40)):
        ingest(client, lines(60 * minute + 5, "api", 1, latency=latency))
    rule = Scheduled(
        query="* | stats avg(latency) as latency by service",
        window="1m",
        threshold=100,
        resolve_at=50,
        **{"for": "2m"},
    )
    h = Harness(client, tmp_path / "state", rule)
    seen = []
    for minute in range(1, 6):
        h.run_at(T0 + minute * MINUTE)
        seen.append([(str(a.status), a.value) for a in h.engine.alerts()])
    assert seen == [
        [("pending", 200.0)],
        [("pending", 200.0)],
        [("firing", 200.0)],  # held for 2m
        [("firing", 80.0)],  # below the threshold, above resolve_at: still firing
        [],  # 40 ≤ 50: resolved
    ]
    assert [(s, at) for s, at, _ in h.log()] == [
        ("firing", (T0 + 3 * MINUTE).isoformat()),
        ("resolved", (T0 + 5 * MINUTE).isoformat()),
    ]
    h.engine.close()


def test_op_compares_at_or_beyond_and_below(client: TestClient, tmp_path: Path) -> None:
    ingest(client, lines(5, "api", 3) + lines(6, "web", 1))
    at_least = Scheduled(name="at-least", op=">=")
    beyond = Scheduled(name="beyond", op=">")
    too_few = Scheduled(name="too-few", query="* | stats count() by service", op="<", threshold=2)
    h = Harness(client, tmp_path / "state", at_least, beyond, too_few)
    h.run_at(T0 + MINUTE)
    found = {(a.rule, a.labels["service"]) for a in h.engine.alerts()}
    assert found == {("at-least", "api"), ("too-few", "web")}  # 3 >= 3, not > 3; web has 1 < 2
    h.engine.close()


def test_a_restart_between_runs_neither_misses_nor_doubles_a_transition(client: TestClient, tmp_path: Path) -> None:
    ingest(client, lines(5, "api", 5))
    rule = Scheduled(**{"for": "1m"})
    whole = Harness(client, tmp_path / "whole", rule)
    for minute in (1, 2, 3):
        whole.run_at(T0 + minute * MINUTE)
    assert [s for s, _, _ in whole.log()] == ["firing"]

    first = Harness(client, tmp_path / "split", rule)
    first.run_at(T0 + MINUTE)  # pending, committed with the run
    # The process dies here (no close); the next one starts from what was committed.
    second = Harness(client, tmp_path / "split", rule)
    assert [str(a.status) for a in second.engine.alerts()] == ["pending"]
    assert second.run_at(T0 + MINUTE) == 0  # that run is done already
    second.run_at(T0 + 2 * MINUTE)
    second.run_at(T0 + 3 * MINUTE)
    assert second.log() == whole.log()
    whole.engine.close()
    second.engine.close()


def test_lines_that_arrive_after_a_run_count_in_the_next(client: TestClient, tmp_path: Path) -> None:
    ingest(client, lines(5, "api", 3))
    h = Harness(client, tmp_path / "state", Scheduled())
    h.run_at(T0 + MINUTE)
    assert h.engine.alerts() == []
    ingest(client, lines(50, "api", 2))  # stamped before the first run, stored after it
    h.run_at(T0 + 2 * MINUTE)
    (alert,) = h.engine.alerts()
    assert alert.value == 5
    h.engine.close()


def test_runs_wait_max_delay_and_are_aligned_to_every() -> None:
    rule = Scheduled(max_delay="10s").evaluator()
    assert rule.due(T0 + MINUTE + timedelta(seconds=5)) == T0  # the run for T0+1m waits until T0+1m10s
    assert rule.due(T0 + MINUTE + timedelta(seconds=10)) == T0 + MINUTE
    assert rule.next_due(T0 + MINUTE + timedelta(seconds=10)) == T0 + 2 * MINUTE + timedelta(seconds=10)
    rule.apply(T0 + MINUTE, {})
    assert rule.due(T0 + MINUTE + timedelta(seconds=30)) is None
    assert rule.plan_for("acme", T0 + MINUTE).plan.start == T0 - 4 * MINUTE  # range defaults to the window


def test_the_bus_engine_skips_scheduled_rules(tmp_path: Path) -> None:
    clock = Clock()
    clock.now = T0 + MINUTE
    e = RulesEngine(tmp_path / "state", (Scheduled(),), clock=clock, idle=timedelta(0), tick=None)
    records = [{"ts": (T0 + timedelta(seconds=5)).isoformat(), "level": "error", "service": "api"}] * 10
    e.handle(stored(1, records))
    e.tick()
    assert e.alerts() == [] and e.status()[0]["matched"] == 0
    ((_, rule),) = e.scheduled()
    assert rule.last_at is None
    e.close()


def test_a_failing_run_changes_nothing_and_is_tried_again(client: TestClient, tmp_path: Path) -> None:
    ingest(client, lines(5, "api", 5))
    rule = Scheduled(query="level:error | stats min(ts) as first by service", value="first")  # not a number
    h = Harness(client, tmp_path / "state", rule)
    assert h.run_at(T0 + MINUTE) == 0
    ((_, evaluator),) = h.engine.scheduled()
    assert evaluator.failures == 1 and "not a number" in evaluator.last_error
    assert evaluator.last_at is None and h.engine.history() == []
    h.run_at(T0 + MINUTE)
    assert evaluator.failures == 2  # still due: tried again on the next pass
    h.engine.close()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"query": "level:error | sort -ts"}, "query", "needs a stats, top or rare pipe"),
        ({"query": "* | timechart count()"}, "query", "use stats"),
        ({"query": "* | stats count(), avg(x) as a"}, "value", "set `value` to one of count, a"),
        ({"value": "n"}, "value", "'n' is not computed by the query"),
        ({"op": "<", "resolve_at": 1}, "resolve_at", "at least threshold (3)"),
        ({"group_by": ["service"]}, "group_by", "its query's `by` fields"),
    ],
)
def test_settings_are_checked(overrides: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Scheduled(**overrides)
    (error,) = caught.value.errors()
    assert error["loc"] == (field,) and message in error["msg"]


def test_a_query_without_pipes_counts_lines_and_top_compares_its_count() -> None:
    assert Scheduled(query="level:error").value_column == "count"
    assert Scheduled(query="* | top 3 service").value_column == "count"
    assert Scheduled(query="* | top 3 service", value="percent").value_column == "percent"
