"""Event-time windows for streaming rules: the stream's head, and per-group counts in fixed time buckets.

Lines arrive in batches, roughly but not exactly in event-time order. Rules evaluate at the stream's **head**:
the newest event time seen, never ahead of the wall clock (so one line stamped an hour ahead cannot end every
window early). Evaluating at the head, not behind it, lets a burst fire in the very batch that completes it;
a line that arrives late still counts in every later evaluation whose window holds it, as long as it is no more
than `lateness` (the rule's `max_delay`) behind the start of the current window. An older line can no longer be
placed: it is counted as late (and, like every line, still stored). When no line arrives at all, the engine
moves the head by the wall clock (now − `max_delay`), so an alert still resolves.

Counts are kept per group in buckets of `bucket` (a sixtieth of the window, at least one second): adding a batch
is one vectorized group-by over (group key, bucket) — Python runs per (group, bucket) pair, never per line —
and a window's value is the sum of the buckets in `(head - window, head]`, exact to one bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

_US = 1_000_000
MIN_BUCKET = timedelta(seconds=1)
BUCKETS_PER_WINDOW = 60


def bucket_for(window: timedelta) -> timedelta:
    """The bucket width of a window: 1/60 of it, at least a second, at most the window itself."""
    return min(window, max(MIN_BUCKET, window / BUCKETS_PER_WINDOW))


def _us(t: datetime) -> int:
    return int((t - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def _time(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


@dataclass(slots=True)
class Watermark:
    """The stream's head: the newest event time seen, capped by the wall clock."""

    max_delay: timedelta
    newest_us: int | None = None

    def observe(self, ts: pa.Array | pa.ChunkedArray) -> None:
        """Take a batch's event times (timestamp[us, UTC])."""
        if len(ts) == 0:
            return
        newest = pc.max(ts).value  # microseconds
        if newest is not None and (self.newest_us is None or newest > self.newest_us):
            self.newest_us = int(newest)

    def head(self, now: datetime) -> datetime | None:
        """Where rules evaluate given the wall clock `now` (None before any line)."""
        if self.newest_us is None:
            return None
        return min(_time(self.newest_us), now)


@dataclass(slots=True)
class CountWindow:
    """Per-group counts of lines over a sliding event-time window (see the module docstring)."""

    window: timedelta
    lateness: timedelta = timedelta(0)
    bucket: timedelta = field(default=timedelta(0))
    late_lines: int = 0
    # group key → bucket index → lines
    _counts: dict[str, dict[int, int]] = field(default_factory=dict)
    _horizon: int | None = None  # buckets below this index are outside every future window

    def __post_init__(self) -> None:
        if not self.bucket:
            self.bucket = bucket_for(self.window)

    @property
    def _bucket_us(self) -> int:
        return int(self.bucket / timedelta(microseconds=1))

    def add(self, keys: pa.Array | pa.ChunkedArray, ts: pa.Array | pa.ChunkedArray) -> None:
        """Count lines: one group key and one event time (timestamp[us]) per line, vectorized."""
        if len(keys) == 0:
            return
        # Integer division truncates toward zero: exact floor for times after 1970, which event times are.
        buckets = pc.divide(pc.cast(ts, pa.int64()), self._bucket_us)
        table = pa.table({"k": keys, "b": buckets})
        if self._horizon is not None:
            late = pc.less(table.column("b"), self._horizon)
            n_late = pc.sum(pc.cast(late, pa.int64())).as_py() or 0
            if n_late:
                self.late_lines += n_late
                table = table.filter(pc.invert(late))
        grouped = table.group_by(["k", "b"]).aggregate([("b", "count")])
        for key, bucket, count in zip(
            grouped.column("k").to_pylist(),
            grouped.column("b").to_pylist(),
            grouped.column("b_count").to_pylist(),
            strict=True,
        ):
            per_group = self._counts.setdefault(key, {})
            per_group[bucket] = per_group.get(bucket, 0) + count

    def add_seconds(self, keys: Sequence[str], seconds: Sequence[int], counts: Sequence[int]) -> None:
        """Count lines already grouped by (key, whole second since 1970): rules with the same query and
        `group_by` share one group-by per batch and each folds it into its own buckets (whole seconds)."""
        assert self._bucket_us % _US == 0, "only for buckets of whole seconds"
        per_bucket = self._bucket_us // _US
        horizon = self._horizon
        for key, second, count in zip(keys, seconds, counts, strict=True):
            bucket = second // per_bucket
            if horizon is not None and bucket < horizon:
                self.late_lines += count
                continue
            per_group = self._counts.setdefault(key, {})
            per_group[bucket] = per_group.get(bucket, 0) + count

    @property
    def whole_seconds(self) -> bool:
        """Whether buckets are whole seconds (every window of a second or more)."""
        return self._bucket_us % _US == 0

    def values(self, head: datetime) -> dict[str, int]:
        """Each group's count in `(head - window, head]`; buckets too old for any later window are dropped."""
        end = _us(head) // self._bucket_us  # the bucket holding the head
        start = end - (self.window // self.bucket) + 1
        horizon = start - -(-self.lateness // self.bucket)  # late lines may still land in [horizon, start)
        self._horizon = horizon if self._horizon is None else max(self._horizon, horizon)
        out: dict[str, int] = {}
        for key in list(self._counts):
            per_group = self._counts[key]
            for b in [b for b in per_group if b < self._horizon]:
                del per_group[b]
            if not per_group:
                del self._counts[key]
                continue
            total = sum(n for b, n in per_group.items() if start <= b <= end)
            if total:
                out[key] = total
        return out

    @property
    def groups(self) -> int:
        return len(self._counts)

    # --- checkpoints ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        """JSON-able state, restored by `restore` (checkpointed with the bus cursor)."""
        return {
            "late": self.late_lines,
            "horizon": self._horizon,
            "counts": {k: [[b, n] for b, n in sorted(v.items())] for k, v in self._counts.items()},
        }

    def restore(self, state: dict[str, object]) -> None:
        self.late_lines = int(state.get("late", 0))  # type: ignore[call-overload]
        horizon = state.get("horizon")
        self._horizon = None if horizon is None else int(horizon)  # type: ignore[call-overload]
        counts = state.get("counts", {})
        assert isinstance(counts, dict)
        self._counts = {str(k): {int(b): int(n) for b, n in pairs} for k, pairs in counts.items()}


def group_keys(table: pa.Table, fields: Iterable[str]) -> pa.Array:
    """One key per row: the group fields' values as text, joined by U+001F (a separator log values do not hold
    in practice); a row without a field has "" for it (a group of its own)."""
    columns = [c for c in fields]
    if not columns:
        return pa.repeat(pa.scalar(""), table.num_rows)
    parts = []
    for name in columns:
        col = table.column(name) if name in table.column_names else pa.nulls(table.num_rows, pa.string())
        text = pc.fill_null(pc.cast(col, pa.string()), "")
        parts.append(text)
    if len(parts) == 1:
        return parts[0].combine_chunks() if isinstance(parts[0], pa.ChunkedArray) else parts[0]
    joined = pc.binary_join_element_wise(*parts, "\x1f")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined
