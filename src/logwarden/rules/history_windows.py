"""What rules that compare a group's recent lines with its own past share (`spike`, `anomaly`).

- `BucketCounts`: per-group line counts in fixed buckets, kept as long as the rule needs (a window and its
  reference, or the windows not yet fed to a model); adding a batch is one vectorized group-by, then Python per
  (group, bucket) pair, never per line. A sum over a time range that does not fall on bucket edges takes the
  overlapped share of the edge buckets (lines spread evenly within a bucket).
- `bucket_dividing`: a bucket width that divides the window, so the window just before the current one, and
  fixed (tumbling) windows, are whole buckets: exact, not interpolated.
- `DirectionalTracker`: the alert state machine for conditions up, down or both ways around a level (a ratio
  above `factor` or below `1/factor`; a deviation above `+t` or below `-t`).
- `HistoryRule`: the `GroupRule` base of those types: late lines by a horizon (a time before which lines can no
  longer be placed), the moment the rule started watching (`since`: no comparison with a past it did not see),
  and the series above fed from the batch's shared per-second grouping.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.rules.base import SEP, BatchCache, GroupRule
from logwarden.rules.state import AlertTracker

US = 1_000_000
BUCKETS_PER_WINDOW = 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Direction = Literal["up", "down", "both"]


def to_us(value: datetime | timedelta) -> int:
    """Microseconds since 1970 (a time) or in a duration."""
    if isinstance(value, datetime):
        value = value - _EPOCH
    return int(value / timedelta(microseconds=1))


def bucket_dividing(window_us: int) -> int:
    """A bucket width (µs) that divides the window: the largest whole number of seconds at most a sixtieth of
    it that divides it (a second at least); the window itself when it is not whole seconds."""
    if window_us % US:
        return window_us
    seconds = window_us // US
    for width in range(max(1, seconds // BUCKETS_PER_WINDOW), 0, -1):
        if seconds % width == 0:
            return width * US
    return US  # unreachable: 1 divides every window


def bucket_for_span(span_us: int, unit_us: int, most: int) -> int:
    """The smallest multiple of `unit_us` that covers `span_us` in at most `most` buckets."""
    return unit_us * max(1, -(-span_us // (unit_us * most)))


@dataclass(slots=True)
class BucketCounts:
    """Line counts per group and bucket of `bucket_us` (bucket i holds `[i*bucket_us, (i+1)*bucket_us)`)."""

    bucket_us: int
    _counts: dict[str, dict[int, int]] = field(default_factory=dict)
    _floor: int | None = None  # buckets below this index have been dropped

    @property
    def whole_seconds(self) -> bool:
        return self.bucket_us % US == 0

    def add(self, keys: pa.Array | pa.ChunkedArray, ts: pa.Array | pa.ChunkedArray) -> None:
        """Count lines: one group key and one event time (timestamp[us]) per line, vectorized."""
        if len(keys) == 0:
            return
        # Integer division truncates toward zero: the floor for event times after 1970.
        buckets = pc.divide(pc.cast(ts, pa.int64()), self.bucket_us)
        grouped = (
            pa.table({"k": keys, "b": buckets}).group_by(["k", "b"], use_threads=False).aggregate([("b", "count")])
        )
        for key, bucket, count in zip(
            grouped.column("k").to_pylist(),
            grouped.column("b").to_pylist(),
            grouped.column("b_count").to_pylist(),
            strict=True,
        ):
            per_group = self._counts.setdefault(key, {})
            per_group[bucket] = per_group.get(bucket, 0) + count

    def add_seconds(self, keys: Sequence[str], seconds: Sequence[int], counts: Sequence[int]) -> None:
        """Count lines already grouped by (key, whole second): the batch's shared grouping (rules/base.py)."""
        per_bucket = self.bucket_us // US
        for key, second, count in zip(keys, seconds, counts, strict=True):
            per_group = self._counts.setdefault(key, {})
            bucket = second // per_bucket
            per_group[bucket] = per_group.get(bucket, 0) + count

    def total(self, key: str, first: int, last: int) -> int:
        """Lines of one group in buckets `first..last` (inclusive)."""
        per_group = self._counts.get(key)
        if not per_group or last < first:
            return 0
        if last - first < len(per_group):
            return sum(per_group.get(b, 0) for b in range(first, last + 1))
        return sum(n for b, n in per_group.items() if first <= b <= last)

    def totals(self, first: int, last: int) -> dict[str, int]:
        """Each group's lines in buckets `first..last`; groups without any are left out."""
        out: dict[str, int] = {}
        for key in self._counts:
            n = self.total(key, first, last)
            if n:
                out[key] = n
        return out

    def spread_total(self, key: str, start_us: int, end_us: int) -> float:
        """Lines of one group in `[start_us, end_us)`, edge buckets by the share of them the range covers."""
        per_group = self._counts.get(key)
        if not per_group or end_us <= start_us:
            return 0.0
        width = self.bucket_us
        total = 0.0
        for b in range(start_us // width, (end_us - 1) // width + 1):
            n = per_group.get(b)
            if n:
                lo, hi = max(start_us, b * width), min(end_us, (b + 1) * width)
                total += n if hi - lo == width else n * (hi - lo) / width
        return total

    def spread_totals(self, start_us: int, end_us: int) -> dict[str, float]:
        out: dict[str, float] = {}
        for key in self._counts:
            n = self.spread_total(key, start_us, end_us)
            if n:
                out[key] = n
        return out

    def drop_before(self, first: int) -> None:
        """Forget buckets below index `first` (and groups left without any)."""
        if self._floor is not None and first <= self._floor:
            return
        self._floor = first
        for key in list(self._counts):
            per_group = self._counts[key]
            for b in [b for b in per_group if b < first]:
                del per_group[b]
            if not per_group:
                del self._counts[key]

    def items(self, key: str) -> dict[int, int]:
        """One group's buckets (read only)."""
        return self._counts.get(key, {})

    @property
    def keys(self) -> list[str]:
        return list(self._counts)

    def snapshot(self) -> dict[str, Any]:
        return {
            "floor": self._floor,
            # (bucket, count) pairs: orjson writes the tuples as arrays, with no list built per pair.
            "counts": {k: sorted(v.items()) for k, v in self._counts.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        floor = state.get("floor")
        self._floor = None if floor is None else int(floor)
        self._counts = {str(k): {int(b): int(n) for b, n in pairs} for k, pairs in state.get("counts", {}).items()}


def reciprocal(level: float) -> float:
    """The mirror of a ratio level (a spike of `factor` up, or down to `1/factor`)."""
    return 1.0 / level if level else math.inf


@dataclass(slots=True)
class DirectionalTracker(AlertTracker):
    """An `AlertTracker` whose condition is `value > level` (up), `value < mirror(level)` (down) or either
    (both); the recovery level (`recover`) is mirrored the same way."""

    direction: Direction = "up"
    mirror: Callable[[float], float] = operator.neg

    def _beyond(self, value: float, level: float) -> bool:
        if self.direction == "up":
            return value > level
        if self.direction == "down":
            return value < self.mirror(level)
        return value > level or value < self.mirror(level)

    @classmethod
    def like(cls, tracker: AlertTracker, direction: Direction, mirror: Callable[[float], float]) -> DirectionalTracker:
        """A directional tracker with the settings of `tracker` (as GroupRule made it)."""
        return cls(
            rule=tracker.rule,
            threshold=tracker.threshold,
            for_=tracker.for_,
            keep_firing_for=tracker.keep_firing_for,
            recover=tracker.recover,
            above=True,
            flap_window=tracker.flap_window,
            flap_changes=tracker.flap_changes,
            direction=direction,
            mirror=mirror,
        )


class HistoryRule(GroupRule):
    """Base of evaluators that keep a group's counts beyond one window (see the module docstring).

    Subclasses read `self.fine` (buckets dividing the window), may add series with `extra_series`, raise the
    late-line horizon with `raise_horizon` in `values`, and save their own state with `history_snapshot` /
    `history_restore`.
    """

    def __init__(
        self,
        spec: Any,
        *,
        threshold: float,
        recover: float | None,
        direction: Direction,
        mirror: Callable[[float], float],
    ) -> None:
        super().__init__(spec, threshold=threshold, recover=recover)
        self.tracker = DirectionalTracker.like(self.tracker, direction, mirror)
        self.window_us = to_us(spec.window)
        self.lateness_us = to_us(spec.max_delay)
        self.fine = BucketCounts(bucket_dividing(self.window_us))
        self.per_window = self.window_us // self.fine.bucket_us  # fine buckets in one window
        self.horizon_us: int | None = None  # lines before this are late
        self.since_us: int | None = None  # the first head the rule evaluated at: it saw nothing before
        self.late = 0

    def extra_series(self) -> list[BucketCounts]:
        """Series fed with the same lines as `fine`."""
        return []

    def add(self, matched: pa.Table, keys: pa.Array, shared: BatchCache) -> tuple[pa.Array, pa.Table] | None:
        series = [self.fine, *self.extra_series()]
        if all(s.whole_seconds for s in series):
            ks, secs, counts = shared.seconds(self.filter.text, matched, self.label_names, keys)
            if self.horizon_us is not None:
                first = -(-self.horizon_us // US)  # the horizon falls on a bucket edge: whole seconds
                kept = [(k, s, n) for k, s, n in zip(ks, secs, counts, strict=True) if s >= first]
                self.late += sum(counts) - sum(n for _, _, n in kept)
                ks, secs, counts = [k for k, _, _ in kept], [s for _, s, _ in kept], [n for _, _, n in kept]
            for s in series:
                s.add_seconds(ks, secs, counts)
        else:
            ts = matched.column("ts")
            if self.horizon_us is not None:
                in_time = pc.greater_equal(pc.cast(ts, pa.int64()), self.horizon_us)
                n_late = len(ts) - (pc.sum(pc.cast(in_time, pa.int64())).as_py() or 0)
                if n_late:
                    self.late += n_late
                    keys, ts = keys.filter(in_time), ts.filter(in_time)
            for s in series:
                s.add(keys, ts)
        return keys, matched

    def raise_horizon(self, horizon_us: int) -> None:
        """Lines before `horizon_us` are late from now on (the horizon never moves back)."""
        self.horizon_us = horizon_us if self.horizon_us is None else max(self.horizon_us, horizon_us)

    def started(self, at_us: int) -> int:
        """When the rule started watching (the first head it evaluated at)."""
        if self.since_us is None:
            self.since_us = at_us
        return self.since_us

    def key_of(self, labels: dict[str, str]) -> str:
        return SEP.join(labels.get(n, "") for n in self.label_names)

    def history_snapshot(self) -> dict[str, Any]:
        return {}

    def history_restore(self, state: dict[str, Any]) -> None:
        return None

    def window_snapshot(self) -> Any:
        return {
            "fine": self.fine.snapshot(),
            "horizon": self.horizon_us,
            "since": self.since_us,
            "late": self.late,
            **self.history_snapshot(),
        }

    def window_restore(self, state: Any) -> None:
        self.fine.restore(state["fine"])
        self.horizon_us = state.get("horizon")
        self.since_us = state.get("since")
        self.late = int(state.get("late", 0))
        self.history_restore(state)

    @property
    def late_lines(self) -> int:
        return self.late


def finite_alert_values(state: dict[str, Any]) -> dict[str, Any]:
    """A rule snapshot whose alert values are JSON: an infinite value is kept as the text `inf`, which
    `Alert.from_json` reads back as a float (JSON has no infinity; orjson would write null)."""
    for alert in state.get("alerts", {}).get("alerts", []):
        value = alert.get("value")
        if isinstance(value, float) and not math.isfinite(value):
            alert["value"] = "inf" if value > 0 else "-inf"
    return state


def hour_of_week(at_us: int) -> int:
    """The UTC hour of the week of a time, 0 = Monday 00:00–01:00 (1970-01-01 was a Thursday)."""
    return (at_us // (3600 * US) + 72) % 168
