"""A backtest's value series: the rule's value per step for each group (what it compared with its threshold),
below the threshold too, with the groups that alerted first; bounded in points and groups."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from logwarden.rules import backtest as backtest_module
from logwarden.rules.backtest import backtest, parse_rule
from tests.unit.rules.test_backtest import T0, pages, records, run


def _group(series: dict[str, Any], service: str) -> dict[str, Any]:
    return next(g for g in series["groups"] if g["labels"]["service"] == service)


def _value_at(series: dict[str, Any], group: dict[str, Any], seconds: float) -> float | None:
    """The group's point holding the step that ends `seconds` after the start."""
    point = int((seconds - 1) // series["step_seconds"])
    value = group["values"][point]
    assert value is None or isinstance(value, float)
    return value


def test_a_threshold_rule_plots_its_counts_below_and_above_the_threshold() -> None:
    lines = records(0, "api", 2) + records(20, "api", 6) + records(30, "web", 1)
    series = run(lines).to_json()["series"]
    # One hour of 1 s steps, folded into at most 1,500 points of 3 s (each the highest count of its steps).
    assert series["step_seconds"] == 3 and series["points"] == 1200 and len(series["groups"][0]["values"]) == 1200
    assert (series["threshold"], series["recover"], series["above"], series["complete"]) == (3.0, None, True, True)
    # The group that alerted comes first.
    assert [(g["labels"]["service"], g["alerts"]) for g in series["groups"]] == [("api", 1), ("web", 0)]
    api, web = _group(series, "api"), _group(series, "web")
    assert _value_at(series, api, 1) == 2  # below the threshold: still plotted
    assert _value_at(series, api, 21) == 8
    assert _value_at(series, api, 70) == 6  # the first 2 lines left the window at 60 s
    assert _value_at(series, api, 90) == 0  # every line has left: 0, as the state machine reads it
    assert max(v for v in api["values"] if v is not None) == 8
    assert _value_at(series, web, 31) == 1
    # Before its first line a group has no value yet.
    assert _value_at(series, web, 1) is None


def test_an_absence_rule_plots_its_lowest_count_per_point() -> None:
    lines = [r for s in range(0, 120, 10) for r in records(s, "api", 1)]
    spec = parse_rule({"name": "quiet", "type": "absence", "query": "*", "group_by": ["service"], "window": "1m"})
    result = backtest(spec, pages(lines, 3), tenant="default", since=T0, until=T0 + timedelta(minutes=10))
    series = result.to_json()["series"]
    assert series["above"] is False
    (api,) = series["groups"]
    assert api["alerts"] == 1
    # The count fell below the threshold once the lines stopped: the lowest value is the one that fired.
    known = [v for v in api["values"] if v is not None]
    assert known and min(known) < series["threshold"] < max(known)


def test_beyond_the_tracked_groups_the_series_says_it_is_incomplete(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backtest_module, "SERIES_TRACKED", 3)
    lines = [r for i in range(8) for r in records(i, f"s{i}", 1)] + records(30, "hot", 5)
    series = run(lines).to_json()["series"]
    assert series["complete"] is False
    # The alerting group is kept even past the bound, and comes first.
    assert series["groups"][0]["labels"]["service"] == "hot" and series["groups"][0]["alerts"] == 1
    assert series["groups_total"] <= 4
