"""`aggregate`: a statistic of a numeric field per group over a sliding window — the average, a percentile, … —
compared with a threshold (ElastAlert's *metric aggregation*).

Per batch the field of the matching lines is cast to numbers in one vectorized step and folded into the window
with one sort by (group, bucket, histogram bin) (rules/numeric.py); lines whose value is not a number are
skipped and counted (`skipped_values`). Percentiles are computed only for the groups whose range reaches beyond
the threshold (or that alert).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from logwarden.model.schema import CORE_COLUMNS
from logwarden.rules.base import EVIDENCE_COLUMNS, ROW_COLUMN, BatchCache
from logwarden.rules.model import FIELD_NAME_PATTERN, Rule
from logwarden.rules.numeric import PERCENTILES, NumericWindow, StatisticRule, check_resolve_at, numbers

AggregateFn = Literal["avg", "sum", "min", "max", "count", "p50", "p90", "p95", "p99"]
NUMERIC_CORE_COLUMNS = frozenset({"severity"})


class AggregateRule(Rule):
    """Fires for a group when a statistic of a numeric field over its window — `fn` of `field`, such as the p99
    of `duration_ms` — is above `threshold` (or below it, with `op: <`). A group with fewer than `min_count`
    values in its window has no value: it does not alert, and its alert resolves."""

    type: Literal["aggregate"] = "aggregate"
    """`aggregate`."""
    field: str = Field(pattern=FIELD_NAME_PATTERN)
    """The numeric field: an attribute (`duration_ms`, `attrs.latency`) or `severity`. JSON numbers and numeric
    text (`"12.5"`) count; a line whose value is anything else is skipped (and counted), a line without it
    ignored."""
    fn: AggregateFn
    """`avg`, `sum`, `min`, `max`, `count` (of the values), or a percentile: `p50`, `p90`, `p95`, `p99` (within 1%
    of the exact one)."""
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

    @field_validator("field")
    @classmethod
    def _numeric_field(cls, value: str) -> str:
        if value in CORE_COLUMNS and value not in NUMERIC_CORE_COLUMNS:
            raise PydanticCustomError(
                "numeric_field",
                "'{field}' is not numeric: aggregate needs a number per line, such as an attribute "
                "(`duration_ms`, `attrs.latency`) or `severity`",
                {"field": value},
            )
        return value

    def evaluator(self) -> AggregateEvaluator:
        return AggregateEvaluator(self)


class AggregateEvaluator(StatisticRule):
    """`fn` of the numeric `field` per group over the window (see the module docstring)."""

    def __init__(self, spec: AggregateRule) -> None:
        super().__init__(spec)
        self.window = NumericWindow(spec.window, lateness=spec.max_delay, histogram=spec.fn in PERCENTILES)
        self.skipped_values = 0  # lines whose field was there but not a number

    def add(self, matched: pa.Table, keys: pa.Array, shared: BatchCache) -> tuple[pa.Array, pa.Table] | None:
        text = shared.fields(self.filter.text, matched, [self.spec.field])[self.spec.field]
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
        return self.window.values(at, self.spec.fn, self.spec.min_count, beyond=self.beyond(), keep=keep)

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
