"""Backtests of `aggregate` rules over a log metric: the rule's scheduled runs over [since, until), each reading its
window from the series (rules/types/metric_source.py), through a fresh evaluator and the same alert state machine.

Runs fall on the multiples of the rule's `every` (as the scheduler runs them) after `since`, up to `until`; a range
that would need more than `MAX_METRIC_EVALUATIONS` runs takes every n-th (the result's `resolution_seconds` says
which), since each run is one read of the series store. The answer has the shape of a backtest over lines
(rules/backtest.py), with no lines scanned. A range whose windows begin before every tier's retention is refused
(400 naming `since`): those series are gone, and a backtest over them would report silence as health.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from logwarden.rules.backtest import MAX_ALERTS, BacktestError, BacktestResult, _Replay, _ValueSeries
from logwarden.rules.state import Transition
from logwarden.rules.types.metric_source import MetricRuleEvaluator, SeriesSource, metric_rule_problem

if TYPE_CHECKING:
    from logwarden.config.logmetrics import MetricDefinition
    from logwarden.logmetrics.store import SeriesStore
    from logwarden.rules.types.aggregate import AggregateRule

MAX_METRIC_EVALUATIONS = 2_000  # runs of one backtest: each reads the series store (a few ms)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _SeriesRuns:
    """The evaluator as the replay drives it: `evaluate(at)` is the scheduled run at `at` over the series."""

    def __init__(
        self, rule: MetricRuleEvaluator, store: SeriesStore, definition: MetricDefinition, tenant: str, now: datetime
    ) -> None:
        self.rule = rule
        self.store = store
        self.definition = definition
        self.tenant = tenant
        self.now = now

    @property
    def tracker(self) -> Any:
        return self.rule.tracker

    @tracker.setter
    def tracker(self, value: Any) -> None:
        self.rule.tracker = value

    @property
    def groups(self) -> int:
        return self.rule.groups

    def evaluate(self, at: datetime, idle_head: datetime | None = None) -> list[Transition]:
        values = self.rule.values_from(self.store, self.definition, [self.tenant], at, self.now)
        return self.rule.apply(at, values)


def backtest_metric_rule(
    spec: AggregateRule,
    source: SeriesSource | None,
    *,
    tenant: str,
    since: datetime,
    until: datetime,
    now: datetime,
    max_evaluations: int = MAX_METRIC_EVALUATIONS,
    max_alerts: int = MAX_ALERTS,
) -> BacktestResult:
    """Replay `spec`'s runs over `tenant`'s series of its metric in [since, until). Blocking (DuckDB)."""
    started = time.perf_counter()
    if since >= until:
        raise BacktestError(f"must be after since ({since.isoformat()})", "until")
    problem = metric_rule_problem(spec, source)
    if problem is not None:
        field, _, message = problem.partition(": ")
        raise BacktestError(message, field)
    assert source is not None and spec.metric is not None
    definition = source.definitions[spec.metric]
    store = source.store
    kept = max(store.retention)
    if since - spec.window < now - timedelta(seconds=kept):
        raise BacktestError(
            f"the series of metric {spec.metric!r} are kept {kept // 86400} days: a window before "
            f"{(now - timedelta(seconds=kept)).isoformat()} has no points left",
            "since",
        )
    rule = MetricRuleEvaluator(spec)
    every_us = rule.every // timedelta(microseconds=1)
    first = ((since - _EPOCH) // timedelta(microseconds=1)) // every_us + 1  # the first run after `since`
    last = ((until - _EPOCH) // timedelta(microseconds=1)) // every_us  # the last at or before `until`
    runs = max(0, last - first + 1)
    stride = max(1, math.ceil(runs / max_evaluations))
    steps = math.ceil(runs / stride)
    resolution = rule.every * stride
    result = BacktestResult(spec.name, tenant, since, until, resolution)
    runner = _SeriesRuns(rule, store, definition, tenant, now)
    series = _ValueSeries(runner, max(steps, 1))
    replay = _Replay(runner, result, max_alerts, timedelta(0))
    for k in range(steps):
        at = _EPOCH + timedelta(microseconds=(first + k * stride) * every_us)
        series.step = k
        replay.evaluate(at, idle=False)
    result.replayed_until = until
    # The value series starts at the first run's window end, one point per run.
    first_at = _EPOCH + timedelta(microseconds=first * every_us)
    result.series = series.to_json(first_at, resolution, steps, replay.alerted)
    result.lines_matched = rule.matched_lines
    result.took_seconds = time.perf_counter() - started
    return result
