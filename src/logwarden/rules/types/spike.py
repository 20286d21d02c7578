"""`spike`: a group's count in the current window against a reference — the window just before, the same
window some time ago, or a trailing baseline (ElastAlert's *spike*).

The current window is the sliding window of `threshold` rules (`(head − window, head]`, in buckets that divide
the window). `compare: previous` sums the same buckets one window earlier: exact. `{offset: …}` and
`{baseline: …}` read a second, coarser series kept for the reference span only (at most `MAX_OFFSET_BUCKETS` or
`MAX_BASELINE_BUCKETS` buckets per group, so a week's offset stays bounded); where the reference range does not
fall on its bucket edges the edge buckets count by the share of them it covers.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from logwarden.model.units import Duration
from logwarden.rules.history_windows import (
    BucketCounts,
    Direction,
    HistoryRule,
    bucket_for_span,
    finite_alert_values,
    reciprocal,
    to_us,
)
from logwarden.rules.model import Rule, RuleSettings

MAX_OFFSET_BUCKETS = 2048
MAX_BASELINE_BUCKETS = 256
NO_CHANGE = 1.0  # the ratio of a group whose counts are both below min_count: never compared


class SpikeOffset(RuleSettings):
    """Compare with the same window `offset` earlier."""

    offset: Duration = Field(gt=timedelta(0))
    """How far back the reference window is (`1d`, `1w`); at least `window`."""


class SpikeBaseline(RuleSettings):
    """Compare with the mean rate over a trailing span."""

    baseline: Duration = Field(gt=timedelta(0))
    """The span before the current window whose mean rate, per `window`, is the reference (`1h`); at least
    `window`."""


class SpikeRule(Rule):
    """Fires for a group when its count in the window is more than `factor` times its reference (`direction:
    up`), less than the reference divided by `factor` (`down`), or either (`both`). The value is the ratio
    current / reference; a reference of 0 with at least `min_count` current lines is an infinite ratio (a spike
    up). No alert until the rule has watched the whole reference span."""

    type: Literal["spike"] = "spike"
    """`spike`."""
    compare: Literal["previous"] | SpikeOffset | SpikeBaseline = "previous"
    """The reference: `previous` (the window just before the current one), `{offset: 1w}` (the same window that
    long ago) or `{baseline: 1h}` (the mean count per window over that span before the current window)."""
    factor: float = Field(gt=1)
    """How many times the reference the count must pass (`3`: fires above 3× up, below a third down)."""
    direction: Direction = "up"
    """`up` (more lines than usual), `down` (fewer) or `both`."""
    min_count: int = Field(10, ge=1)
    """The larger of the current count and the reference must be at least this for the group to be compared
    (so 0 → 1 is no spike); below it the value is 1."""
    resolve_factor: float | None = None
    """Hysteresis: once firing, the alert resolves only when the ratio is back within this factor (at least 1,
    at most `factor`; default: as soon as it is within `factor`)."""

    @field_validator("compare", mode="before")
    @classmethod
    def _compare_shape(cls, value: Any) -> Any:
        if value == "previous" or (isinstance(value, dict) and len(value) == 1 and set(value) < {"offset", "baseline"}):
            return value
        if isinstance(value, SpikeOffset | SpikeBaseline):
            return value
        raise PydanticCustomError("compare", "use previous, {offset: <duration>} or {baseline: <duration>}", {})

    @field_validator("compare")
    @classmethod
    def _span_covers_window(
        cls, value: Literal["previous"] | SpikeOffset | SpikeBaseline, info: ValidationInfo
    ) -> Literal["previous"] | SpikeOffset | SpikeBaseline:
        span = value.offset if isinstance(value, SpikeOffset) else None
        span = value.baseline if isinstance(value, SpikeBaseline) else span
        window = info.data.get("window")
        if span is not None and window is not None and span < window:
            raise PydanticCustomError("compare", "the reference span must be at least window", {})
        return value

    @field_validator("resolve_factor")
    @classmethod
    def _within_factor(cls, value: float | None, info: ValidationInfo) -> float | None:
        factor = info.data.get("factor")
        if value is not None and factor is not None and not 1 <= value <= factor:
            raise PydanticCustomError(
                "resolve_factor", "must be between 1 and factor ({factor})", {"factor": f"{factor:g}"}
            )
        return value

    @property
    def threshold(self) -> float:
        """What annotation templates see as `threshold`."""
        return self.factor

    def evaluator(self) -> SpikeEvaluator:
        return SpikeEvaluator(self)


class SpikeEvaluator(HistoryRule):
    """Counts per group in buckets dividing the window (and a coarser series for an offset or baseline); the
    value of a group is its ratio current / reference."""

    def __init__(self, spec: SpikeRule) -> None:
        super().__init__(
            spec,
            threshold=spec.factor,
            recover=spec.resolve_factor,
            direction=spec.direction,
            mirror=reciprocal,
        )
        self.min_count = spec.min_count
        compare = spec.compare
        self.offset_us = to_us(compare.offset) if isinstance(compare, SpikeOffset) else None
        self.baseline_us = to_us(compare.baseline) if isinstance(compare, SpikeBaseline) else None
        self.coarse: BucketCounts | None = None
        if self.offset_us is not None:
            width = bucket_for_span(self.offset_us + self.window_us, self.fine.bucket_us, MAX_OFFSET_BUCKETS)
            self.coarse = BucketCounts(width)
        elif self.baseline_us is not None:
            width = bucket_for_span(self.baseline_us + self.window_us, self.fine.bucket_us, MAX_BASELINE_BUCKETS)
            self.coarse = BucketCounts(width)

    def extra_series(self) -> list[BucketCounts]:
        return [] if self.coarse is None else [self.coarse]

    def values(self, at: datetime) -> dict[str, float]:
        at_us = to_us(at)
        since = self.started(at_us)
        width, n = self.fine.bucket_us, self.per_window
        end = at_us // width  # the bucket holding the head
        start = end - n + 1
        horizon = start - -(-self.lateness_us // width)
        self.raise_horizon(horizon * width)
        current = self.fine.totals(start, end)
        reference: dict[str, float]
        if self.coarse is None:  # previous: the n buckets before the current window
            ref_start_us = (start - n) * width
            reference = {k: float(v) for k, v in self.fine.totals(start - n, start - 1).items()}
            self.fine.drop_before(min(horizon, start - n))
        else:
            if self.offset_us is not None:
                ref_start_us, ref_end_us = start * width - self.offset_us, (end + 1) * width - self.offset_us
                reference = self.coarse.spread_totals(ref_start_us, ref_end_us)
            else:
                assert self.baseline_us is not None
                ref_start_us, ref_end_us = start * width - self.baseline_us, start * width
                scale = self.window_us / self.baseline_us
                reference = {k: v * scale for k, v in self.coarse.spread_totals(ref_start_us, ref_end_us).items()}
            self.fine.drop_before(horizon)
            self.coarse.drop_before(ref_start_us // self.coarse.bucket_us)
        out: dict[str, float] = {}
        if ref_start_us >= since:  # the rule saw the whole reference span
            for key in current.keys() | reference.keys():
                out[key] = self.ratio(current.get(key, 0), reference.get(key, 0.0))
        # A group that left both series reads as 0, which is a spike down: it has no ratio any more.
        for alert in self.tracker.alerts.values():
            out.setdefault(self.key_of(alert.labels), NO_CHANGE)
        return out

    def ratio(self, current: int, reference: float) -> float:
        if max(current, reference) < self.min_count:
            return NO_CHANGE
        return current / reference if reference else math.inf

    def history_snapshot(self) -> dict[str, Any]:
        return {} if self.coarse is None else {"coarse": self.coarse.snapshot()}

    def history_restore(self, state: dict[str, Any]) -> None:
        if self.coarse is not None and "coarse" in state:
            self.coarse.restore(state["coarse"])

    def snapshot(self) -> dict[str, Any]:
        return finite_alert_values(super().snapshot())

    @property
    def groups(self) -> int:
        return len(set(self.fine.keys) | set(self.coarse.keys if self.coarse is not None else []))
