"""`ratio` rules: the settings are checked (a threshold is a fraction); through the real engine the share of
matching lines fires per group once `min_total` lines are in the window, counts only lines of `total_query`,
is pending with `for`, resolves with hysteresis and when its group disappears, counts late lines, shares the
totals' filtering with other rules, and survives a restart mid-window without a missed or doubled transition."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from logwarden.rules.base import BatchCache
from logwarden.rules.model import RuleFile
from logwarden.rules.types.ratio import RatioEvaluator, RatioRule
from tests.unit.rules.harness import T0, Clock, engine, feed, restarted, stored, valued_transitions


def spec(**overrides: Any) -> RatioRule:
    settings: dict[str, Any] = {
        "name": "error-rate",
        "type": "ratio",
        "query": "level:error",
        "group_by": ["service"],
        "window": "1m",
        "threshold": 0.1,
        "min_total": 10,
        "samples": 2,
    }
    settings.update(overrides)
    return RatioRule.model_validate(settings)


def lines(seconds: float, service: str, errors: int, infos: int, **extra: Any) -> list[dict[str, Any]]:
    ts = (T0 + timedelta(seconds=seconds)).isoformat()
    levels = ["error"] * errors + ["info"] * infos
    return [
        {"ts": ts, "service": service, "level": lv, "msg": f"{service} {lv} {i}", **extra}
        for i, lv in enumerate(levels)
    ]


# --- settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"threshold": 5}, "threshold", "write 5% as 0.05"),
        ({"threshold": -0.1}, "threshold", "greater than or equal to 0"),
        ({"total_query": "service:(api"}, "total_query", "invalid query at column"),
        ({"resolve_at": 0.2}, "resolve_at", "at most threshold (0.1) with op '>'"),
        ({"op": "<", "resolve_at": 0.05}, "resolve_at", "at least threshold (0.1) with op '<'"),
        ({"min_total": 0}, "min_total", "greater than or equal to 1"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(overrides: dict[str, Any], field: str, message: str) -> None:
    rule = {"name": "r", "type": "ratio", "query": "level:error", "window": "1m", "threshold": 0.1}
    with pytest.raises(ValidationError) as caught:
        RuleFile.model_validate({"groups": [{"name": "g", "rules": [{**rule, **overrides}]}]})
    (error,) = caught.value.errors()
    assert error["loc"][-1] == field and message in error["msg"]


def test_a_rule_file_gives_a_ratio_rule_with_its_defaults() -> None:
    rule = {"name": "r", "type": "ratio", "query": "level:error", "window": "5m", "threshold": 0.05}
    (r,) = RuleFile.model_validate({"groups": [{"name": "g", "rules": [rule]}]}).groups[0].rules
    assert isinstance(r, RatioRule)
    assert (r.total_query, r.op, r.resolve_at, r.min_total) == ("*", ">", None, 10)
    assert isinstance(r.evaluator(), RatioEvaluator)


# --- through the engine -----------------------------------------------------------------------------------


def test_the_share_fires_per_service_once_there_are_enough_lines(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, spec())
    # api: 3 errors of 12 lines (25%); web: 1 of 20 (5%); db: 3 of 4 (75%, but under min_total).
    feed(e, clock, [(1, 2, lines(1, "api", 3, 9) + lines(1, "web", 1, 19) + lines(1, "db", 3, 1))])
    (alert,) = e.alerts()
    assert alert.labels == {"tenant": "default", "service": "api"} and alert.value == 0.25
    assert [s["message"] for s in alert.evidence] == ["api error 1", "api error 2"]  # the matching lines
    assert e.status()[0]["groups"] == 3
    feed(e, clock, [(2, 3, lines(2, "db", 0, 6))])  # db: 3 of 10 now
    assert {a.labels["service"]: a.value for a in e.alerts()} == {"api": 0.25, "db": 0.3}
    e.close()


def test_only_lines_of_total_query_count_on_either_side(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, spec(total_query="env:prod", group_by=[], threshold=0.45))
    # prod: 4 errors of 10 lines; staging: 10 errors, in neither count.
    records = lines(1, "api", 4, 6, env="prod") + lines(1, "api", 10, 0, env="staging")
    feed(e, clock, [(1, 2, records)])
    assert e.alerts() == []
    feed(e, clock, [(2, 3, lines(2, "api", 2, 0, env="prod"))])  # 6 of 12
    assert [a.value for a in e.alerts()] == [0.5]
    e.close()


def test_pending_with_for_then_firing(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, spec(**{"for": "20s"}))
    feed(e, clock, [(1, 1, lines(0, "api", 5, 5)), (2, 11, lines(10, "api", 5, 5))])
    assert [str(a.status) for a in e.alerts()] == ["pending"] and e.history() == []
    feed(e, clock, [(3, 21, lines(20, "api", 5, 5))])
    assert [(s, at) for s, at, _, _ in valued_transitions(e)] == [("firing", (T0 + timedelta(seconds=20)).isoformat())]
    e.close()


@pytest.mark.parametrize(("resolve_at", "resolved_at"), [(None, 70), (0.05, 140)])
def test_hysteresis_keeps_the_alert_until_the_share_is_back_at_resolve_at(
    tmp_path: Path, resolve_at: float | None, resolved_at: int
) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, spec(resolve_at=resolve_at))
    batches = [(1, 1, lines(0, "api", 5, 5)), (2, 71, lines(70, "api", 1, 11)), (3, 141, lines(140, "api", 0, 20))]
    feed(e, clock, batches)
    log = valued_transitions(e)
    assert [(s, at) for s, at, _, _ in log] == [
        ("firing", T0.isoformat()),
        ("resolved", (T0 + timedelta(seconds=resolved_at)).isoformat()),
    ]
    assert log[1][3] == (1 / 12 if resolve_at is None else 0)
    e.close()


def test_too_little_success_fires_and_a_service_that_stops_resolves(tmp_path: Path) -> None:
    """With `op: <`, a service whose lines stop has no share — not 0, which would keep it firing forever."""
    clock = Clock()
    e = engine(tmp_path, clock, spec(name="success", query="status:<400", op="<", threshold=0.9))
    ok = [{"ts": T0.isoformat(), "service": "api", "status": 200 if i < 7 else 503} for i in range(10)]
    web = [{"ts": (T0 + timedelta(seconds=120)).isoformat(), "service": "web", "status": 200} for _ in range(10)]
    feed(e, clock, [(1, 1, ok), (2, 121, web)])
    assert [(s, labels["service"], value) for s, _, labels, value in valued_transitions(e)] == [
        ("firing", "api", 0.7),
        ("resolved", "api", 0.7),
    ]
    e.close()


def test_late_lines_are_counted_not_evaluated(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, spec())
    feed(e, clock, [(1, 600, lines(600, "api", 0, 10)), (2, 601, lines(10, "api", 8, 2))])
    assert e.alerts() == [] and e.status()[0]["late"] == 10
    e.close()


def test_a_window_under_a_second_counts_the_same(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, spec(window="500ms", max_delay="0s", min_total=2, total_query="service:api"))
    feed(e, clock, [(1, 1, lines(0.1, "api", 1, 1)), (2, 2, lines(1.9, "api", 1, 3))])
    # At 1.9 s the 500 ms window holds the second batch only: 1 of 4.
    assert [a.value for a in e.alerts()] == [0.25]
    e.close()


def test_rules_with_the_same_total_query_share_its_filtering(tmp_path: Path) -> None:
    rules = [spec(name="a"), spec(name="b", query="level:warn"), spec(name="c", total_query="service:api")]
    table = stored(1, lines(1, "api", 3, 9)).table
    shared = BatchCache(table)
    for rule in rules:
        rule.evaluator().observe(table, shared)
    assert sorted(shared._matched) == ["*", "level:error", "level:warn", "service:api"]


BATCHES = [
    (1, 1, lines(0, "api", 1, 9) + lines(0, "web", 5, 5)),  # web fires
    (2, 11, lines(10, "api", 4, 6)),  # api: 5 of 20 fires
    (3, 31, lines(30, "api", 0, 30) + lines(30, "web", 0, 40)),  # api 5/50, web 5/50: both resolve
    (4, 41, lines(40, "api", 20, 0)),  # api fires again: 25/70
    (5, 75, lines(75, "web", 9, 1)),  # api's window (15 s, 75 s]: 20/50; web 9/50 + fires
    (6, 200, lines(200, "db", 0, 10)),  # the others' windows empty: they resolve
]


@pytest.mark.parametrize("commit", [timedelta(0), timedelta(hours=1)])
@pytest.mark.parametrize("split", range(1, len(BATCHES)))
def test_a_restart_mid_window_neither_misses_nor_doubles_a_transition(
    tmp_path: Path, commit: timedelta, split: int
) -> None:
    rules = (spec(), spec(name="info-share", query="level:info", op="<", threshold=0.6, resolve_at=0.7))
    expected, replayed = restarted(tmp_path, rules, BATCHES, split, commit)
    assert [s for s, _, _, _ in expected].count("firing") >= 5
    assert replayed == expected
