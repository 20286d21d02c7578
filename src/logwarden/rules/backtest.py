"""Backtests: what a rule would have alerted on, replaying one tenant's stored lines through a fresh evaluator.

The lines of [since, until) come in ts order (rules/history.py) and are cut on a time grid: each step of
`resolution` is fed to the rule as one batch (of at most `STEP_LINES`), then the rule evaluates with the clock at
the step's end: after lines at the newest line's time, as after a batch; in a step without lines at the clock
less `max_delay`, as the server's idle ticker does — so an alert whose lines stop resolves on time, and one that
fires inside a gap (too few lines) does too. Times of firing and resolving are exact to one step.

`resolution` is the rule's bucket (a sixtieth of its window, at least a second), coarser when the range would
need more than `max_evaluations` steps (7 days of a 1-minute window: 31 s). The work is bounded: at most
`max_lines` lines are read (the result says when it stopped there and how far it got), at most
`max_evaluations` evaluations run, and at most `max_alerts` alerts are listed (all are counted).

The running server's rules are never touched: the evaluator is new, its state thrown away at the end.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, TypeAdapter, ValidationError

from logwarden.rules.base import BatchCache, HistoryReader
from logwarden.rules.model import Rule
from logwarden.rules.state import AlertStatus
from logwarden.rules.types import KNOWN_TYPES, RuleSpec
from logwarden.rules.windows import bucket_for

MAX_LINES = 5_000_000
MAX_EVALUATIONS = 20_000
MAX_ALERTS = 1_000
STEP_LINES = 65_536  # a step's lines are fed as one batch, or in batches of this many
EVIDENCE_LINES = 5
SERIES_GROUPS = 6  # groups in the value series: those that alerted first, then the most extreme
SERIES_POINTS = 1_500  # beyond this many steps a point spans several (their most extreme value)
SERIES_TRACKED = 200  # groups whose values are kept; beyond it a rule reports only the groups that can hold
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST = datetime.min.replace(tzinfo=UTC)


class BacktestError(ValueError):
    """A rule or range a backtest cannot run; `field` names the part of the request that is wrong."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.message = message
        self.field = field


_RULE = TypeAdapter(RuleSpec)


def parse_rule(mapping: Any, prefix: str = "rule") -> Rule:
    """A rule mapping (as in a rule file) validated; BacktestError names the first wrong field
    (`rule.threshold: Input should be a valid number …`)."""
    if not isinstance(mapping, dict):
        raise BacktestError("must be a mapping (a rule as written in a rule file)", prefix)
    try:
        rule = _RULE.validate_python(mapping)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = list(err["loc"])
            if loc and loc[0] in KNOWN_TYPES:
                del loc[0]  # the union member's tag, not a key of the mapping
            message = err["msg"]
            ctx = err.get("ctx") or {}
            if err["type"] == "union_tag_invalid":
                loc, message = ["type"], f"unknown rule type '{ctx.get('tag')}': use one of {', '.join(KNOWN_TYPES)}"
            elif err["type"] == "union_tag_not_found":
                loc, message = ["type"], f"missing `type`: use one of {', '.join(KNOWN_TYPES)}"
            elif err["type"] == "template_syntax":
                loc.append(ctx.get("key", ""))
            problems.append((".".join([prefix, *map(str, loc)]), message))
        error = BacktestError("; ".join(f"{w}: {m}" for w, m in problems))
        error.field = problems[0][0]
        raise error from None
    except (OverflowError, ArithmeticError) as exc:  # a duration too large for Python's timedelta
        raise BacktestError(f"a value is out of range: {exc}", prefix) from None
    assert isinstance(rule, Rule)
    return rule


def rule_mapping(rule: Rule) -> dict[str, Any]:
    """A rule as the mapping a rule file would hold (durations in seconds), for sending it to a server."""

    def plain(value: Any) -> Any:
        if isinstance(value, timedelta):
            return value.total_seconds()
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, BaseModel):
            return {(f.alias or name): plain(getattr(value, name)) for name, f in type(value).model_fields.items()}
        return value

    out = plain(rule)
    assert isinstance(out, dict)
    return out


@dataclass(slots=True)
class BacktestAlert:
    """One alert the rule would have raised."""

    labels: dict[str, str]
    pending_at: datetime
    fired_at: datetime
    value: float
    peak: float
    resolved_at: datetime | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    flapping: bool = False

    def to_json(self, until: datetime) -> dict[str, Any]:
        end = self.resolved_at or until
        return {
            "labels": self.labels,
            "pending_at": self.pending_at.isoformat(),
            "fired_at": self.fired_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "still_firing": self.resolved_at is None,
            "duration_seconds": (end - self.fired_at).total_seconds(),
            "value": self.value,
            "peak": self.peak,
            "flapping": self.flapping,
            "evidence": self.evidence,
        }


@dataclass(slots=True)
class BacktestResult:
    """What a backtest found, and how much work it took."""

    rule: str
    tenant: str
    since: datetime
    until: datetime
    resolution: timedelta
    alerts: list[BacktestAlert] = field(default_factory=list)
    alerts_total: int = 0
    lines_scanned: int = 0
    lines_matched: int = 0
    late_lines: int = 0
    evaluations: int = 0
    capped: bool = False
    replayed_until: datetime | None = None
    took_seconds: float = 0.0
    series: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        end = self.replayed_until or self.until
        return {
            "rule": self.rule,
            "tenant": self.tenant,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "replayed_until": end.isoformat(),
            "resolution_seconds": self.resolution.total_seconds(),
            "alerts_total": self.alerts_total,
            "alerts_listed": len(self.alerts),
            "alerts": [a.to_json(end) for a in self.alerts],
            "lines_scanned": self.lines_scanned,
            "lines_matched": self.lines_matched,
            "late_lines": self.late_lines,
            "evaluations": self.evaluations,
            "capped": self.capped,
            "took_seconds": round(self.took_seconds, 3),
            "series": self.series,
        }


def resolution_for(spec: Any, since: datetime, until: datetime, max_evaluations: int = MAX_EVALUATIONS) -> timedelta:
    """The replay's step: the rule's bucket, or whole multiples of it so the range needs ≤ `max_evaluations`."""
    window = getattr(spec, "window", None)
    step = bucket_for(window) if isinstance(window, timedelta) and window > timedelta(0) else timedelta(seconds=1)
    steps = (until - since) / step
    return step * max(1, math.ceil(steps / max_evaluations))


def backtest(
    spec: Rule,
    pages: Iterable[pa.Table],
    *,
    tenant: str,
    since: datetime,
    until: datetime,
    max_lines: int = MAX_LINES,
    max_evaluations: int = MAX_EVALUATIONS,
    max_alerts: int = MAX_ALERTS,
    history: HistoryReader | None = None,
    progress: Callable[[int, datetime], None] | None = None,
) -> BacktestResult:
    """Replay `pages` (one tenant's lines of [since, until), ts order) through a fresh evaluator of `spec`."""
    started = time.perf_counter()
    if since >= until:
        raise BacktestError(f"must be after since ({since.isoformat()})", "until")
    rule = spec.evaluator()
    if getattr(spec, "metric", None) is not None:
        raise BacktestError(
            "an aggregate rule over a log metric reads series, not lines: it is backtested over its series "
            "(rules/backtest_metric.py, POST /api/v1/rules/backtest)",
            "rule.metric",
        )
    if not callable(getattr(rule, "observe", None)) or getattr(spec, "type", "") == "scheduled":
        raise BacktestError(f"a {spec.type} rule runs on a schedule, not on lines: it cannot be replayed", "rule.type")
    if getattr(rule, "needs_history", False):
        if history is not None:
            rule.seed(history, since)
        rule.needs_history = False
    resolution = resolution_for(spec, since, until, max_evaluations)
    res_us = _us_delta(resolution)
    since_us = _us(since)
    steps = math.ceil((until - since) / resolution)
    max_delay: timedelta = getattr(spec, "max_delay", timedelta(0))
    result = BacktestResult(spec.name, tenant, since, until, resolution)
    series = _ValueSeries(rule, steps)
    replay = _Replay(rule, result, max_alerts, max_delay)

    def step_end(k: int) -> datetime:
        return since + min(resolution * (k + 1), until - since)

    current = 0  # the step whose lines are being gathered
    gathered: list[pa.Table] = []  # its lines so far: one batch per step, whatever the pages

    fed = False  # the current step had lines: it evaluates at its newest line, as a batch does

    def feed() -> None:
        nonlocal fed
        if gathered:
            lines = pa.concat_tables(gathered) if len(gathered) > 1 else gathered[0]
            gathered.clear()
            rule.observe(lines, BatchCache(lines))
            fed = True

    for read in pages:
        page = read
        if result.lines_scanned + page.num_rows > max_lines:
            page = page.slice(0, max_lines - result.lines_scanned)
            result.capped = True
        if page.num_rows:
            result.lines_scanned += page.num_rows
            ts_us = pc.cast(page.column("ts"), pa.int64())
            step_of = pc.divide(pc.subtract(ts_us, since_us), res_us)
            runs = pc.run_end_encode(step_of.combine_chunks() if isinstance(step_of, pa.ChunkedArray) else step_of)
            begin = 0
            for end, step in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
                k = min(max(int(step), 0), steps - 1)
                if current < k:
                    feed()
                while current < k:
                    series.step = current
                    replay.evaluate(step_end(current), idle=not fed)
                    fed = False
                    current += 1
                gathered.append(page.slice(begin, end - begin))
                if sum(t.num_rows for t in gathered) >= STEP_LINES:
                    feed()
                begin = end
            if progress is not None:
                progress(result.lines_scanned, page.column("ts")[-1].as_py())
        if result.capped:
            break
    feed()
    # Lines stop (or the cap is reached): the clock runs on to the end of the range, or of the last step fed.
    last = current if result.capped else steps - 1
    while current <= last:
        series.step = current
        replay.evaluate(step_end(current), idle=not fed)
        fed = False
        current += 1
    result.replayed_until = step_end(last)
    result.series = series.to_json(since, resolution, min(last + 1, steps), replay.alerted)
    result.lines_matched = rule.matched_lines
    result.late_lines = rule.late_lines
    result.took_seconds = time.perf_counter() - started
    return result


class _Replay:
    """Evaluations of the replayed rule and the alerts they make (with each alert's peak value)."""

    def __init__(self, rule: Any, result: BacktestResult, max_alerts: int, max_delay: timedelta) -> None:
        self.rule = rule
        self.result = result
        self.max_alerts = max_alerts
        self.max_delay = max_delay
        self.open: dict[str, BacktestAlert] = {}
        self.alerted: dict[str, int] = {}  # fingerprint → how many times it fired
        self.peaks: dict[str, float] = {}
        self.above: bool = getattr(rule.tracker, "above", True)

    def evaluate(self, at: datetime, *, idle: bool) -> None:
        """Evaluate with the clock at `at`: at the newest line after lines (as after a batch), else at the clock
        less `max_delay` (as the server's idle ticker does)."""
        idle_head = at - min(self.max_delay, at - _FIRST) if idle else None
        transitions = self.rule.evaluate(at, idle_head=idle_head)
        self.result.evaluations += 1
        for fp, alert in self.rule.tracker.alerts.items():
            value = float(alert.value)
            seen = self.peaks.get(fp)
            if seen is None or (value > seen if self.above else value < seen):
                self.peaks[fp] = value
        for t in transitions:
            fp = t.alert.fingerprint
            if t.status is AlertStatus.FIRING:
                self.result.alerts_total += 1
                self.alerted[fp] = self.alerted.get(fp, 0) + 1
                record = BacktestAlert(
                    labels=dict(t.alert.labels),
                    pending_at=t.alert.active_at,
                    fired_at=t.at,
                    value=float(t.alert.value),
                    peak=self.peaks.get(fp, float(t.alert.value)),
                    evidence=list(t.alert.evidence[-EVIDENCE_LINES:]),
                    flapping=t.alert.flapping,
                )
                self.open[fp] = record
                if len(self.result.alerts) < self.max_alerts:
                    self.result.alerts.append(record)
            elif t.status is AlertStatus.RESOLVED:
                record_or_none = self.open.pop(fp, None)
                if record_or_none is not None:
                    record_or_none.resolved_at = t.at
                    record_or_none.flapping = record_or_none.flapping or t.alert.flapping
        for fp in [fp for fp in self.peaks if fp not in self.rule.tracker.alerts]:
            del self.peaks[fp]
        for fp, record in self.open.items():
            record.peak = self.peaks.get(fp, record.peak)


class _ValueSeries:
    """The rule's value per step for each group: what its state machine compared with the threshold.

    The rule reports every group (`every_group`) while it has at most SERIES_TRACKED; a group it leaves out
    then reads as 0, as the state machine reads it. Beyond that it reports only the groups that can hold, and
    a step without a group's value is a gap (`complete` is false). Steps are folded into at most SERIES_POINTS
    points, each the most extreme value of its steps (the highest, or the lowest for a rule on too little).
    """

    def __init__(self, rule: Any, steps: int) -> None:
        self.rule = rule
        self.step = 0
        self.per_point = max(1, math.ceil(steps / SERIES_POINTS))
        self.points = math.ceil(steps / self.per_point)
        self.above: bool = getattr(rule.tracker, "above", True)
        self.every = hasattr(rule, "every_group")
        self.complete = self.every
        self.labels: dict[str, dict[str, str]] = {}
        self.values: dict[str, list[float | None]] = {}
        if self.every:
            rule.every_group = True
        rule.tracker = _RecordingTracker(rule.tracker, self.record)

    def record(self, values: dict[str, tuple[dict[str, str], float]]) -> None:
        """One evaluation's `values` (fingerprint → (labels, value)), at step `self.step`."""
        if self.every and getattr(self.rule, "groups", 0) > SERIES_TRACKED:
            self.every = self.rule.every_group = self.complete = False  # too many groups to plot them all
        point = min(self.step // self.per_point, self.points - 1)
        alerts = self.rule.tracker.alerts
        for fp, (labels, value) in values.items():
            row = self.values.get(fp)
            if row is None:
                if len(self.values) >= SERIES_TRACKED and fp not in alerts:
                    self.complete = False
                    continue
                row = self.values[fp] = [None] * self.points
                self.labels[fp] = labels
            self._fold(row, point, value)
        if self.every:
            for fp, row in self.values.items():
                if fp not in values:
                    self._fold(row, point, 0.0)

    def _fold(self, row: list[float | None], point: int, value: float) -> None:
        seen = row[point]
        if seen is None or (value > seen if self.above else value < seen):
            row[point] = value

    def to_json(self, since: datetime, resolution: timedelta, steps: int, alerted: dict[str, int]) -> dict[str, Any]:
        tracker = self.rule.tracker
        points = math.ceil(steps / self.per_point)

        def extreme(fp: str) -> float:
            known = [v for v in self.values[fp][:points] if v is not None]
            if not known:
                return -math.inf
            return max(known) if self.above else -min(known)

        shown = sorted(self.values, key=lambda fp: (-alerted.get(fp, 0), -extreme(fp)))[:SERIES_GROUPS]
        return {
            "start": since.isoformat(),
            "step_seconds": (resolution * self.per_point).total_seconds(),
            "points": points,
            "threshold": float(tracker.threshold),
            "recover": None if tracker.recover is None else float(tracker.recover),
            "above": self.above,
            "complete": self.complete,
            "groups_total": len(self.values),
            "groups": [
                {"labels": self.labels[fp], "alerts": alerted.get(fp, 0), "values": self.values[fp][:points]}
                for fp in shown
            ],
        }


class _RecordingTracker:
    """The rule's AlertTracker, recording the values of each `update` (everything else is the tracker's)."""

    def __init__(self, tracker: Any, record: Callable[[dict[str, tuple[dict[str, str], float]]], None]) -> None:
        object.__setattr__(self, "_tracker", tracker)
        object.__setattr__(self, "_record", record)

    def update(self, at: datetime, values: dict[str, tuple[dict[str, str], float]], evidence: Any = None) -> Any:
        self._record(values)
        return self._tracker.update(at, values, evidence)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracker, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._tracker, name, value)


def _us(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(microseconds=1)


def _us_delta(d: timedelta) -> int:
    return int(d / timedelta(microseconds=1))
