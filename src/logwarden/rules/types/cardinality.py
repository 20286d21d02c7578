"""`cardinality`: the number of distinct values of a field per group over a sliding window, compared with a
threshold (ElastAlert's *cardinality*): users per client IP, hosts logging one error.

**Exact, up to a cap.** Each group keeps the distinct values it has seen with the newest bucket each was seen in
(`DistinctWindow`), at most `max_values` of them; the value is how many were seen in the window. A HyperLogLog
would bound memory further but its error (~1-2%) blurs the small thresholds these rules use (more than 5 users),
is harder to check in a test, and a cap bounds memory as well; past the cap a group's value reads `max_values`
while a value it had to drop is in the window. Per batch: one vectorized group-by over (group, value) after the
late lines are set apart; Python runs per distinct (group, value) pair.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from logwarden.rules.base import BatchCache
from logwarden.rules.model import FIELD_NAME_PATTERN, Rule
from logwarden.rules.numeric import window_span
from logwarden.rules.statistic import StatisticRule, check_resolve_at
from logwarden.rules.windows import bucket_for

LONG_VALUE = 64  # longer values are kept as a hash: a snapshot holds at most `max_values` short strings per group


class CardinalityRule(Rule):
    """Fires for a group when the number of distinct values of `field` among its lines in the window is above
    `threshold` (or below it, with `op: <`). Lines without the field are not counted; a group without lines
    that have it has no value: it does not alert, and its alert resolves."""

    type: Literal["cardinality"] = "cardinality"
    """`cardinality`."""
    field: str = Field(pattern=FIELD_NAME_PATTERN)
    """The field whose distinct values are counted: a core field (`host`) or an attribute (`user`,
    `attrs.client_ip`); values compare as text."""
    op: Literal[">", "<"] = ">"
    """`>` fires when there are more distinct values than `threshold`, `<` when there are fewer."""
    threshold: float = Field(ge=0)
    """The number of distinct values the count is compared with."""
    resolve_at: float | None = None
    """Hysteresis: once firing, the alert resolves only when the count is back at this level or beyond it (at
    or below it with `op: >`, at or above it with `op: <`; default: `threshold`)."""
    max_values: int = Field(10_000, ge=1, le=1_000_000)
    """The most distinct values kept per group (exact up to it). A group that saw more in its window counts
    `max_values`, so keep it above `threshold`."""

    _resolve_at = field_validator("resolve_at")(check_resolve_at)

    @field_validator("max_values")
    @classmethod
    def _above_threshold(cls, value: int, info: ValidationInfo) -> int:
        threshold = info.data.get("threshold")
        if info.data.get("op", ">") == ">" and threshold is not None and value <= threshold:
            raise PydanticCustomError(
                "max_values",
                "must be greater than threshold ({threshold}): the count never goes above max_values",
                {"threshold": f"{threshold:g}"},
            )
        return value

    def evaluator(self) -> CardinalityEvaluator:
        return CardinalityEvaluator(self)


def _kept(value: str) -> str:
    """How a value is kept: as itself, or as a hash when it is long (U+0000 never starts a log value)."""
    if len(value) <= LONG_VALUE:
        return value
    return "\x00" + hashlib.blake2b(value.encode(), digest_size=16).hexdigest()


class DistinctWindow:
    """Per group, the distinct values seen over a sliding event-time window (see the module docstring), in the
    buckets of `CountWindow` (rules/windows.py) with the same horizon and lateness."""

    def __init__(self, window: timedelta, lateness: timedelta = timedelta(0), *, max_values: int = 10_000) -> None:
        self.window = window
        self.lateness = lateness
        self.bucket = bucket_for(window)
        self.max_values = max_values
        self.late_lines = 0
        self._bucket_us = int(self.bucket / timedelta(microseconds=1))
        self._reach = window // self.bucket + -(-lateness // self.bucket)  # buckets a line counts for, lateness too
        self._newest: dict[str, dict[str, int]] = {}  # group key → value → newest bucket it was seen in
        self._by_bucket: dict[str, dict[int, set[str]]] = {}  # group key → bucket → the values newest there
        self._dropped: dict[str, int] = {}  # group key → newest bucket of a value dropped at the cap
        self._horizon: int | None = None

    def add(self, keys: pa.Array, ts: pa.Array | pa.ChunkedArray, values: pa.Array) -> None:
        """Take one group key, event time (timestamp[us]) and value (text, null: none) per line."""
        if len(keys) == 0:
            return
        buckets = pc.divide(pc.cast(ts, pa.int64()), self._bucket_us)
        table = pa.table({"k": keys, "b": buckets, "v": values})
        if self._horizon is not None:
            late = pc.less(table.column("b"), self._horizon)
            n_late = pc.sum(pc.cast(late, pa.int64())).as_py() or 0
            if n_late:
                self.late_lines += n_late
                table = table.filter(pc.invert(late))
        table = table.filter(pc.is_valid(table.column("v")))
        # One thread: pairs come in the order of the lines, so the same values reach the cap on a replay.
        grouped = table.group_by(["k", "v"], use_threads=False).aggregate([("b", "max")])
        for key, value, b in zip(
            grouped.column("k").to_pylist(),
            grouped.column("v").to_pylist(),
            grouped.column("b_max").to_pylist(),
            strict=True,
        ):
            self._see(key, _kept(value), b)

    def _see(self, key: str, value: str, b: int) -> None:
        newest = self._newest.setdefault(key, {})
        by_bucket = self._by_bucket.setdefault(key, {})
        before = newest.get(value)
        if before is not None:
            if before >= b:
                return
            by_bucket[before].discard(value)  # newer now: it moves to bucket b
            if not by_bucket[before]:
                del by_bucket[before]
        elif len(newest) >= self.max_values:
            # Values no window holding `b` can count make room first (they may not be evaluated out yet).
            self._forget(key, b - self._reach + 1)
            if len(newest) >= self.max_values:
                self._dropped[key] = max(self._dropped.get(key, b), b)
                return
        newest[value] = b
        by_bucket.setdefault(b, set()).add(value)

    def _forget(self, key: str, below: int) -> None:
        """Drop a group's values whose newest bucket is below `below`."""
        by_bucket, newest = self._by_bucket[key], self._newest[key]
        for b in [b for b in by_bucket if b < below]:
            for value in by_bucket.pop(b):
                del newest[value]

    def values(self, head: datetime) -> dict[str, int]:
        """Each group's distinct values seen in `(head - window, head]` (a value seen ahead of the head, on a
        clock running ahead, counts too); values too old for any later window are forgotten."""
        start, _, horizon = window_span(head, self.window, self.bucket, self.lateness)
        self._horizon = horizon if self._horizon is None else max(self._horizon, horizon)
        out: dict[str, int] = {}
        for key in list(self._by_bucket):
            self._forget(key, self._horizon)
            by_bucket = self._by_bucket[key]
            if self._dropped.get(key, self._horizon) < self._horizon:
                del self._dropped[key]
            if not by_bucket:
                del self._by_bucket[key], self._newest[key]
                self._dropped.pop(key, None)
                continue
            count = sum(len(values) for b, values in by_bucket.items() if b >= start)
            if self._dropped.get(key, start - 1) >= start:
                count = self.max_values  # values beyond the cap were seen in the window
            if count:
                out[key] = count
        return out

    @property
    def groups(self) -> int:
        return len(self._newest)

    # --- checkpoints ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state: per group, `[bucket, [values newest there]]` rows."""
        return {
            "late": self.late_lines,
            "horizon": self._horizon,
            "dropped": self._dropped,
            "values": {k: [[b, sorted(v)] for b, v in sorted(by.items())] for k, by in self._by_bucket.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.late_lines = int(state.get("late", 0))
        horizon = state.get("horizon")
        self._horizon = None if horizon is None else int(horizon)
        self._dropped = {str(k): int(b) for k, b in state.get("dropped", {}).items()}
        self._by_bucket = {}
        self._newest = {}
        for key, rows in state.get("values", {}).items():
            by_bucket = self._by_bucket[str(key)] = {int(b): set(values) for b, values in rows}
            self._newest[str(key)] = {value: b for b, values in by_bucket.items() for value in values}


class CardinalityEvaluator(StatisticRule):
    """Distinct values of `field` per group over the window (see the module docstring)."""

    def __init__(self, spec: CardinalityRule) -> None:
        super().__init__(spec)
        self.window = DistinctWindow(spec.window, lateness=spec.max_delay, max_values=spec.max_values)

    def add(self, matched: pa.Table, keys: pa.Array, shared: BatchCache) -> tuple[pa.Array, pa.Table] | None:
        values = shared.fields(self.filter.text, matched, [self.spec.field])[self.spec.field]
        self.window.add(keys, matched.column("ts"), values)
        present = pc.is_valid(values)
        return keys.filter(present), matched.filter(present)

    def values(self, at: datetime) -> dict[str, float]:
        return self.reported({k: float(v) for k, v in self.window.values(at).items()})

    def window_snapshot(self) -> Any:
        return self.window.snapshot()

    def window_restore(self, state: Any) -> None:
        self.window.restore(state)

    @property
    def late_lines(self) -> int:
        return self.window.late_lines

    @property
    def groups(self) -> int:
        return self.window.groups
