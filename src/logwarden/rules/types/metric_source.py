"""`aggregate` rules over a log metric (`metric:` instead of `query:`): evaluated on a schedule from the series
(logmetrics/query.py `window_values`), not per batch.

Such a rule runs like a `scheduled` rule (rules/scheduler.py): every `every` (default: the group's `interval`,
else 1m), aligned, `max_delay` after its evaluation time T; it reads `fn` of the metric over `[T − window, T)`
per `group_by` labels of each tenant's series (those `match` keeps), and the engine commits the values through
the same alert state machine (`for`, `keep_firing_for`, `resolve_at`, flap detection) and the normal alert path.
A rule made through the API reads its tenant's series only; a rule file's rule reads every tenant's, each group
labelled with its tenant.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from logwarden.config.logmetrics import MetricDefinition
from logwarden.logmetrics.query import MetricQueryError, RangeQuery, check, window_values
from logwarden.rules.state import AlertTracker, fingerprint
from logwarden.rules.types.scheduled import DEFAULT_EVERY, ScheduledEvaluator

if TYPE_CHECKING:
    from logwarden.logmetrics.store import SeriesStore
    from logwarden.rules.types.aggregate import AggregateRule


class SeriesSource(Protocol):
    """Where metric rules read series: the server's log metrics (logmetrics/subscriber.py)."""

    @property
    def store(self) -> SeriesStore: ...

    @property
    def definitions(self) -> dict[str, MetricDefinition]: ...


class MetricRuleError(ValueError):
    """A run that cannot read its metric (turned off, unknown name, a label it does not have): the rule's
    `last_error`, tried again at the next run."""


def metric_rule_problem(spec: AggregateRule, source: SeriesSource | None) -> str | None:
    """What makes a rule over a metric unable to run with the metrics in force (`<field>: <what>`, the field as the
    rules API names it), or None: checked when a rule is made through the API, so a mistake is a 400, not a
    `last_error` found later."""
    if spec.metric is None:
        return None
    if source is None:
        return f"rule.metric: log metrics are turned off (metrics.enabled: false): no metric {spec.metric!r}"
    definition = source.definitions.get(spec.metric)
    if definition is None:
        known = ", ".join(sorted(source.definitions)) or "none"
        return f"rule.metric: no log metric named {spec.metric!r} (defined: {known})"
    try:
        check(RangeQuery(definition.name, spec.fn, 0, 10, 10, tuple(spec.group_by)), definition)
    except MetricQueryError as exc:
        text = str(exc)
        return "rule.group_by" + text[len("by") :] if text.startswith("by:") else f"rule.fn: {text}"
    unknown = [name for name in spec.match if name not in definition.labels]
    if unknown:
        known = ", ".join(definition.labels) or "none"
        return f"rule.match: metric {definition.name!r} has no label {unknown[0]!r} (its labels: {known})"
    return None


class MetricRuleEvaluator(ScheduledEvaluator):
    """An `aggregate` rule with `metric`: the scheduler's side of a `scheduled` rule (due, apply, checkpoints),
    its values read from series (`values_from`) instead of a query over lines."""

    def __init__(self, spec: AggregateRule) -> None:
        # Not ScheduledEvaluator.__init__: that one parses a query; this rule has a metric instead.
        self.spec = spec  # type: ignore[assignment]  # the scheduler reads only what both rule types have
        self.rule = spec
        self.name = spec.name
        self.metric = str(spec.metric)
        self.every: timedelta = spec.every or DEFAULT_EVERY
        self.range: timedelta = spec.window
        self.tenant = spec.tenant
        self.match = {k: [v] if isinstance(v, str) else v for k, v in spec.match.items()}
        flap = spec.flap_detection
        self.tracker = AlertTracker(
            spec.name,
            threshold=spec.threshold,
            for_=spec.for_,
            keep_firing_for=spec.keep_firing_for,
            recover=spec.resolve_at,
            above=spec.op == ">",
            flap_window=flap.window if flap is not None else None,
            flap_changes=flap.changes if flap is not None else 0,
        )
        self.last_at: datetime | None = None
        self.matched_lines = 0  # groups with a value, over every run
        self.runs = 0
        self.failures = 0
        self.last_error: str | None = None
        self._groups = 0

    def definition(self, source: SeriesSource | None) -> MetricDefinition:
        """The metric in force; MetricRuleError when log metrics are off or it is not defined."""
        if source is None:
            raise MetricRuleError(f"metric {self.metric!r}: log metrics are turned off (metrics.enabled: false)")
        found = source.definitions.get(self.metric)
        if found is None:
            known = ", ".join(sorted(source.definitions)) or "none"
            raise MetricRuleError(f"metric: no log metric named {self.metric!r} (defined: {known})")
        return found

    def values_from(
        self, store: SeriesStore, definition: MetricDefinition, tenants: list[str], at: datetime, now: datetime
    ) -> dict[str, tuple[dict[str, str], float]]:
        """The run at `at`: `fn` over `[at − window, at)` per group of each tenant's series, by fingerprint.
        Blocking (DuckDB): run it off the event loop."""
        end = int(at.timestamp()) // 10 * 10  # the finest tier's buckets: whole 10 s
        start = end - max(10, int(self.range.total_seconds()) // 10 * 10)
        out: dict[str, tuple[dict[str, str], float]] = {}
        for tenant in tenants:
            found = window_values(
                store, definition, tenant, self.rule.fn, self.rule.group_by, start, end, now, self.match
            )
            for group, value in found:
                labels = {"tenant": tenant, **group}
                out[fingerprint(self.name, labels)] = (labels, value)
        return out
