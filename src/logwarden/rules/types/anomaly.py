"""`anomaly`: a group's count per `window` against what is usual for it, in deviations (a robust z-score).

Time is cut into fixed windows (`[k·window, (k+1)·window)`, UTC). A fixed window **closes** when the head passes
its end by `max_delay`; its count (0 for a known group without lines) then feeds the group's model, and a line of
a closed window arriving later is late. The model is `mad` — median and median absolute deviation of the last
`history` closed windows — or `ewma` — exponentially weighted mean and variance (`alpha`), with
`seasonality: hour_of_week` one per UTC hour of the week.

The value compared is the count in the sliding window ending at the head (`(head − window, head]`, as
`threshold` rules count): always a whole window of lines, so it is comparable with the closed windows, never a
partial one, and it reacts in the batch that brings the lines. The deviation is `(count − centre) / spread`,
the spread being at least √centre (the noise of a count of that size) and at least 1, so a perfectly steady
group does not alert on one extra line.

A change that lasts becomes the new usual (with `mad`, after half of `history`), and a group without a line for
`history` windows (a week with seasonality) is forgotten, its alert resolved: `absence` is the rule for silence.
Windows that began before the rule first evaluated are not learnt (it did not see all their lines).
"""

from __future__ import annotations

import math
import operator
import statistics
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from logwarden.rules.history_windows import US, Direction, HistoryRule, hour_of_week, to_us
from logwarden.rules.model import Rule

MAD_SCALE = 1.4826  # MAD × this estimates the standard deviation of normally distributed counts
HOURS_PER_WEEK = 168


class AnomalyRule(Rule):
    """Fires for a group when its count in the window deviates from its usual count per window by more than
    `threshold` spreads (`direction: up` above, `down` below, `both`). The usual count is learnt per group from
    closed fixed windows (`method: mad` or `ewma`, optionally per hour of the week); a group fires only after
    `warmup` of them. The value is the signed deviation."""

    type: Literal["anomaly"] = "anomaly"
    """`anomaly`."""
    method: Literal["mad", "ewma"] = "mad"
    """`mad`: median and median absolute deviation (×1.4826) of the last `history` windows, robust to outliers;
    `ewma`: exponentially weighted mean and variance, weight `alpha` for the newest window."""
    threshold: float = Field(4, gt=0)
    """How many spreads from the usual count fire the alert."""
    resolve_below: float | None = None
    """Hysteresis: once firing, the alert resolves only when the deviation is back to at most this many spreads
    (at most `threshold`; default: as soon as it is no longer beyond `threshold`)."""
    direction: Direction = "both"
    """`up` (more lines than usual), `down` (fewer) or `both`."""
    history: int = Field(24, ge=3, le=1000)
    """Closed windows the `mad` model keeps; with either method, a group without a line for this many windows
    (a week's with `seasonality`) is forgotten."""
    alpha: float = Field(0.1, gt=0, le=1)
    """`ewma` only: the weight of the newest window (higher follows changes faster)."""
    warmup: int = Field(12, ge=1)
    """Closed windows a group's model must have learnt from before it may fire (with `seasonality`, windows of
    the current hour-of-week slot)."""
    seasonality: Literal["hour_of_week"] | None = None
    """`hour_of_week`: a separate `ewma` model per UTC hour of the week (168 slots), for traffic that follows the
    clock; needs `method: ewma` and a `window` that divides an hour."""

    @field_validator("resolve_below")
    @classmethod
    def _within_threshold(cls, value: float | None, info: ValidationInfo) -> float | None:
        threshold = info.data.get("threshold")
        if value is not None and threshold is not None and not 0 <= value <= threshold:
            raise PydanticCustomError(
                "resolve_below", "must be between 0 and threshold ({threshold})", {"threshold": f"{threshold:g}"}
            )
        return value

    @field_validator("alpha")
    @classmethod
    def _ewma_only(cls, value: float, info: ValidationInfo) -> float:
        if info.data.get("method") == "mad":  # runs only for an alpha given in the file
            raise PydanticCustomError("alpha", "applies to method: ewma only", {})
        return value

    @field_validator("seasonality")
    @classmethod
    def _seasonal_ewma(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        if info.data.get("method", "ewma") != "ewma":
            raise PydanticCustomError("seasonality", "needs method: ewma", {})
        window = info.data.get("window")
        if window is not None and timedelta(hours=1) % window:
            raise PydanticCustomError("seasonality", "needs a window that divides an hour", {})
        return value

    def evaluator(self) -> AnomalyEvaluator:
        return AnomalyEvaluator(self)


class GroupModel:
    """What is usual for one group: its recent closed-window counts (`mad`), or a mean and variance (`ewma`),
    per hour-of-week slot with seasonality (slot -1 without)."""

    __slots__ = ("cached", "counts", "moments", "quiet", "seen")

    def __init__(self) -> None:
        self.seen = 0  # closed windows learnt from
        self.quiet = 0  # closed windows in a row without a line
        self.counts: list[int] = []
        self.moments: dict[int, list[float]] = {}  # slot → [mean, variance, windows]
        self.cached: tuple[float, float] | None = None  # cached (centre, spread) of the mad model

    def to_json(self) -> dict[str, Any]:
        moments = {str(slot): m for slot, m in self.moments.items()}
        return {"seen": self.seen, "quiet": self.quiet, "counts": self.counts, "moments": moments}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GroupModel:
        model = cls()
        model.seen, model.quiet = int(data["seen"]), int(data["quiet"])
        model.counts = [int(n) for n in data.get("counts", [])]
        model.moments = {int(s): [float(x) for x in m] for s, m in data.get("moments", {}).items()}
        return model


def spread_floor(centre: float) -> float:
    return math.sqrt(max(centre, 1.0))


class AnomalyEvaluator(HistoryRule):
    """Counts per group in buckets dividing the window; closed fixed windows feed a `GroupModel` per group; the
    value of a group is the deviation of its sliding-window count."""

    def __init__(self, spec: AnomalyRule) -> None:
        super().__init__(
            spec,
            threshold=spec.threshold,
            recover=spec.resolve_below,
            direction=spec.direction,
            mirror=operator.neg,
        )
        self.method = spec.method
        self.history = spec.history
        self.alpha = spec.alpha
        self.warmup = spec.warmup
        self.seasonal = spec.seasonality is not None
        windows_per_hour = 3600 * US // self.window_us if self.seasonal else 0
        self.forget_windows = HOURS_PER_WEEK * windows_per_hour if self.seasonal else spec.history
        self.models: dict[str, GroupModel] = {}
        self.closed: int | None = None  # the newest fixed window that has closed

    # --- learning ---------------------------------------------------------------------------------

    def _close(self, at_us: int, since: int) -> None:
        """Feed every fixed window that closed by head `at_us` to the models of its groups."""
        last = (at_us - self.lateness_us) // self.window_us - 1  # window k closes at (k+1)·window + max_delay
        if self.closed is None:
            self.closed = -(-since // self.window_us) - 1  # windows begun before the rule watched are not learnt
        if last <= self.closed:
            return
        n = self.per_window
        first = self.closed + 1
        for key in set(self.fine.keys) | set(self.models):
            per_window: dict[int, int] = {}
            for b, count in self.fine.items(key).items():
                k = b // n
                if first <= k <= last:
                    per_window[k] = per_window.get(k, 0) + count
            model = self.models.get(key)
            k = first
            while k <= last:
                if model is None:  # a new (or forgotten) group's history starts with its next line
                    later = [j for j in per_window if j >= k]
                    if not later:
                        break
                    k = min(later)
                    model = self.models[key] = GroupModel()
                self._learn(model, per_window.get(k, 0), k)
                if model.quiet >= self.forget_windows:
                    del self.models[key]
                    model = None
                k += 1
        self.closed = last

    def _learn(self, model: GroupModel, count: int, k: int) -> None:
        model.seen += 1
        model.quiet = 0 if count else model.quiet + 1
        if self.method == "mad":
            model.counts.append(count)
            del model.counts[: -self.history]
            model.cached = None
            return
        slot = hour_of_week(k * self.window_us) if self.seasonal else -1
        moments = model.moments.get(slot)
        if moments is None:
            model.moments[slot] = [float(count), 0.0, 1.0]
            return
        mean, var, n = moments
        delta = count - mean
        mean += self.alpha * delta
        var = (1 - self.alpha) * (var + self.alpha * delta * delta)
        model.moments[slot] = [mean, var, n + 1]

    def _usual(self, model: GroupModel, at_us: int) -> tuple[float, float] | None:
        """(centre, spread) of a group at head `at_us`, or None while it is warming up."""
        if self.method == "mad":
            if model.seen < self.warmup or not model.counts:
                return None
            if model.cached is None:
                centre = float(statistics.median(model.counts))
                mad = statistics.median(abs(c - centre) for c in model.counts)
                model.cached = (centre, max(MAD_SCALE * mad, spread_floor(centre)))
            return model.cached
        moments = model.moments.get(hour_of_week(at_us) if self.seasonal else -1)
        if moments is None or moments[2] < self.warmup:
            return None
        mean, var, _ = moments
        return mean, max(math.sqrt(var), spread_floor(mean))

    # --- evaluation -------------------------------------------------------------------------------

    def values(self, at: datetime) -> dict[str, float]:
        at_us = to_us(at)
        since = self.started(at_us)
        self._close(at_us, since)
        assert self.closed is not None
        width, n = self.fine.bucket_us, self.per_window
        end = at_us // width
        start = end - n + 1
        # A line of a window that has closed (by this head) is late; the sliding window and the open windows
        # keep their buckets.
        self.raise_horizon((at_us - self.lateness_us) // self.window_us * self.window_us)
        self.fine.drop_before(min(start, (self.closed + 1) * n))
        out: dict[str, float] = {}
        for key, model in self.models.items():
            usual = self._usual(model, at_us)
            if usual is not None:
                centre, spread = usual
                out[key] = (self.fine.total(key, start, end) - centre) / spread
        return out

    def history_snapshot(self) -> dict[str, Any]:
        return {"closed": self.closed, "models": {k: m.to_json() for k, m in self.models.items()}}

    def history_restore(self, state: dict[str, Any]) -> None:
        self.closed = state.get("closed")
        self.models = {str(k): GroupModel.from_json(m) for k, m in state.get("models", {}).items()}

    @property
    def groups(self) -> int:
        return len(set(self.fine.keys) | set(self.models))
