"""`aggregate`: a statistic of a numeric field per group over a sliding window — the average, a percentile, … —
compared with a threshold (ElastAlert's *metric aggregation*).

Per batch the field of the matching lines is cast to numbers in one vectorized step and folded into the window
with one sort by (group, bucket, histogram bin) (rules/numeric.py); lines whose value is not a number are
skipped and counted (`skipped_values`). Percentiles are computed only for the groups whose range reaches beyond
the threshold (or that alert).

With `metric` instead of `query` the rule reads a log metric's series rather than lines: it runs on a schedule
like a `scheduled` rule (rules/types/metric_source.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from logwarden.model.schema import CORE_COLUMNS
from logwarden.model.units import Duration
from logwarden.rules.base import EVIDENCE_COLUMNS, ROW_COLUMN, BatchCache
from logwarden.rules.model import FIELD_NAME_PATTERN, Rule
from logwarden.rules.numeric import NumericWindow
from logwarden.rules.sketch import PERCENTILES, numbers
from logwarden.rules.statistic import StatisticRule, check_resolve_at

if TYPE_CHECKING:
    from logwarden.rules.types.metric_source import MetricRuleEvaluator

AggregateFn = Literal["avg", "sum", "min", "max", "count", "p50", "p90", "p95", "p99", "rate"]
NUMERIC_CORE_COLUMNS = frozenset({"severity"})
METRIC_FNS = ("rate", "sum", "avg", "max", "p50", "p95", "p99")  # what /query_range computes from series


class AggregateRule(Rule):
    """Fires for a group when a statistic of a numeric field over its window — `fn` of `field`, such as the p99
    of `duration_ms` — is above `threshold` (or below it, with `op: <`). A group with fewer than `min_count`
    values in its window has no value: it does not alert, and its alert resolves."""

    type: Literal["aggregate"] = "aggregate"
    """`aggregate`."""
    query: str = "*"
    """Lines the rule looks at, in the search language without pipes (`level:error service:api`); `*` for all.
    Required unless `metric` is given (and not allowed with it)."""
    metric: str | None = None
    """Instead of `query` and `field`: the name of a log metric (docs/metrics.md) whose series the rule reads,
    on a schedule (every `every`), over its `window` from the coarsest tier that fits; `group_by` names the
    metric's labels that split it into groups. The rule's tenant's series only (a rule file's rule: each
    tenant's on its own)."""
    match: dict[str, str | list[str]] = Field(default_factory=dict)
    """With `metric` only: series whose labels have these values (`{status: ["500", "503"], method: GET}`);
    the others are left out. Default: every series of the metric."""
    every: Duration | None = Field(None, gt=timedelta(0))
    """With `metric` only: how often the rule is evaluated (default: the group's `interval`, else `1m`); runs
    are aligned to multiples of it and start `max_delay` after their evaluation time."""
    field: str | None = Field(None, pattern=FIELD_NAME_PATTERN)
    """The numeric field: an attribute (`duration_ms`, `attrs.latency`) or `severity`. JSON numbers and numeric
    text (`"12.5"`) count; a line whose value is anything else is skipped (and counted), a line without it
    ignored. Required with `query`; not with `metric` (the metric's own field is aggregated)."""
    fn: AggregateFn
    """`avg`, `sum`, `min`, `max`, `count` (of the values), or a percentile: `p50`, `p90`, `p95`, `p99` (within 1%
    of the exact one). With `metric`: `rate` (per second), `sum`, `avg`, `max`, `p50`, `p95` or `p99`, as
    `/api/v1/metrics/query_range` computes them (`avg`/`max` need a `sum`, `histogram` or `summary` metric, the
    percentiles a `histogram` or `summary`)."""
    op: Literal[">", "<"] = ">"
    """`>` fires when the value is above `threshold`, `<` when it is below."""
    threshold: float
    """The level the value is compared with, in the field's unit."""
    resolve_at: float | None = None
    """Hysteresis: once firing, the alert resolves only when the value is back at this level or beyond it (at
    or below it with `op: >`, at or above it with `op: <`; default: `threshold`)."""
    min_count: int = Field(1, ge=1)
    """How many values a group needs in its window to be evaluated, so one slow request is not a p99."""

    _resolve_at = field_validator("resolve_at")(check_resolve_at)
    _tenant: str | None = PrivateAttr(None)

    @field_validator("field")
    @classmethod
    def _numeric_field(cls, value: str | None) -> str | None:
        if value is not None and value in CORE_COLUMNS and value not in NUMERIC_CORE_COLUMNS:
            raise PydanticCustomError(
                "numeric_field",
                "'{field}' is not numeric: aggregate needs a number per line, such as an attribute "
                "(`duration_ms`, `attrs.latency`) or `severity`",
                {"field": value},
            )
        return value

    @model_validator(mode="after")
    def _source(self) -> AggregateRule:
        # A rule reads lines (`query` + `field`) or a metric's series (`metric`), never both.
        given = self.model_fields_set
        if self.metric is None:
            problems = {
                "query": None if "query" in given else "required: the lines to look at (or `metric`: a log metric)",
                "field": None if self.field is not None else "required: the numeric field (or `metric` instead)",
                "fn": "`rate` needs `metric` (a log metric's series)" if self.fn == "rate" else None,
                "every": "only with `metric` (an aggregate over lines runs on each batch)" if self.every else None,
                "match": "only with `metric` (filter lines with `query`)" if self.match else None,
            }
        else:
            problems = {
                "metric": None if self.metric.strip() else "must name a log metric",
                "query": "not with `metric`: the metric's definition selects the lines" if "query" in given else None,
                "field": "not with `metric`: the metric's own field is aggregated" if self.field is not None else None,
                "fn": None if self.fn in METRIC_FNS else f"with `metric` use one of {', '.join(METRIC_FNS)}",
                "min_count": "not with `metric`" if "min_count" in given else None,
            }
        for name, problem in problems.items():
            if problem is not None:
                raise PydanticCustomError("metric_rule", "{field}: {problem}", {"field": name, "problem": problem})
        return self

    @property
    def tenant(self) -> str | None:
        """With `metric`: the one tenant whose series the rule reads (a rule made through the API), or None."""
        return self._tenant

    def scoped(self, tenant: str) -> AggregateRule:
        """This metric rule restricted to one tenant's series."""
        copy = self.model_copy()
        copy._tenant = tenant
        return copy

    def evaluator(self) -> AggregateEvaluator | MetricRuleEvaluator:
        if self.metric is not None:
            from logwarden.rules.types.metric_source import MetricRuleEvaluator  # imports the series query

            return MetricRuleEvaluator(self)
        return AggregateEvaluator(self)


class AggregateEvaluator(StatisticRule):
    """`fn` of the numeric `field` per group over the window (see the module docstring)."""

    def __init__(self, spec: AggregateRule) -> None:
        super().__init__(spec)
        self.window = NumericWindow(spec.window, lateness=spec.max_delay, histogram=spec.fn in PERCENTILES)
        self.skipped_values = 0  # lines whose field was there but not a number

    def add(self, matched: pa.Table, keys: pa.Array, shared: BatchCache) -> tuple[pa.Array, pa.Table] | None:
        field = str(self.spec.field)  # set: a rule without `metric` requires it
        text = shared.fields(self.filter.text, matched, [field])[field]
        values = numbers(text)
        valid = pc.is_valid(values)
        self.skipped_values += values.null_count - text.null_count  # there, but not a number
        self.window.add(keys, matched.column("ts"), values)
        if self.spec.samples == 0:
            return None  # no evidence kept
        if values.null_count == 0:
            return keys, matched  # every line: evidence shared with the query's other rules
        # Evidence needs only its columns (or a lean line's row): filtering the others would cost more than the rule.
        lines = matched.select([c for c in (*EVIDENCE_COLUMNS, ROW_COLUMN) if c in matched.column_names])
        return keys.filter(valid), lines.filter(valid)

    def values(self, at: datetime) -> dict[str, float]:
        keep = self.alert_keys() if self.tracker.alerts else ()
        return self.window.values(
            at, self.spec.fn, self.spec.min_count, beyond=None if self.every_group else self.beyond(), keep=keep
        )

    def window_snapshot(self) -> Any:
        return {**self.window.snapshot(), "skipped": self.skipped_values}

    def window_restore(self, state: Any) -> None:
        self.window.restore(state)
        self.skipped_values = int(state.get("skipped", 0))

    @property
    def late_lines(self) -> int:
        return self.window.late_lines

    @property
    def groups(self) -> int:
        return self.window.groups
