"""Per-bucket numeric state for rules whose value is a statistic of a field (rules/types/aggregate.py), and
`StatisticRule`, the base of rule types whose groups have a value only while they have lines in the window
(aggregate, ratio, cardinality).

**Numbers.** A field's values come as text (rules/fields.py) and are read as decimal numbers (`numbers`, vectorized):
JSON numbers and numeric text (`"12.5"`) count; anything else — words, booleans, NaN, infinities — is no number.

**Buckets.** Like `CountWindow` (rules/windows.py: buckets of a sixtieth of the window, the same horizon and
lateness), `NumericWindow` keeps per group and bucket the count, sum, min and max of the values and, for
percentiles, a log-bucketed histogram in the manner of DDSketch: bin `i` holds the magnitudes in
(γ^(i-1), γ^i] with γ = 1.01/0.99, so every value of a bin is within 1% of the bin's representative value;
negative values mirror positive ones and magnitudes up to 1e-9 share a zero bin. A bucket keeps at most
`MAX_BINS` bins, merging its lowest ones beyond that (the high percentiles alerts watch stay accurate). Raw values
are never kept. A batch folds in with one vectorized group-by over (group, bucket, bin) into numpy rings (a row per
group, a column per bucket, as in `CountWindow`); Python runs per triple only for histograms.

**The window's histogram** is kept incrementally with integer counts — a bucket entering the window adds its
bins, one leaving subtracts them — so a percentile costs one sort of the group's bins, not a merge of sixty
buckets at every evaluation; sums are always added in bucket order, so a restored window gives the same values.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationInfo
from pydantic_core import PydanticCustomError

from logwarden.rules.base import GroupRule
from logwarden.rules.state import AlertTracker, Transition
from logwarden.rules.windows import bucket_for

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
MIN_MAGNITUDE = 1e-9  # values closer to 0 than this share the zero bin
MAX_BINS = 2048  # per group and bucket: 1% bins from 1e-3 to 1e6 need about 1050
PERCENTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}

_LN_GAMMA = math.log(GAMMA)
_OFFSET = 1 - math.ceil(math.log(MIN_MAGNITUDE) / _LN_GAMMA)  # bin codes of indexable magnitudes start at 1
_LN_MAX = math.log(sys.float_info.max)
_NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"


# --- numbers and bins ----------------------------------------------------------------------------------


def numbers(text: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Each value as a finite float64, null where it is not one, vectorized: a decimal number — optional sign,
    digits, point and exponent, blanks around it allowed (`12.5`, `-3`, `1e3`) — whether it came as a JSON
    number or as text; anything else (words, booleans, `nan`, `0x1F`, `1_000`, overflowing ones) is none."""
    trimmed = pc.utf8_trim_whitespace(text)
    plain = pc.if_else(pc.match_substring_regex(trimmed, _NUMBER), trimmed, pa.scalar(None, pa.string()))
    value = pc.cast(plain, pa.float64())
    return pc.if_else(pc.is_finite(value), value, pa.scalar(None, pa.float64()))


def bin_codes(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The histogram bin of each value (float64, no nulls), vectorized: 0 for magnitudes up to `MIN_MAGNITUDE`,
    `i + _OFFSET` for a positive value in (γ^(i-1), γ^i], and the negation of its magnitude's code for a negative
    one — so codes sort like the values they stand for."""
    magnitude = pc.abs(values)
    indexable = pc.greater(magnitude, MIN_MAGNITUDE)
    safe = pc.if_else(indexable, magnitude, 1.0)
    index = pc.add(pc.cast(pc.ceil(pc.divide(pc.ln(safe), _LN_GAMMA)), pa.int64()), _OFFSET)
    signed = pc.if_else(pc.less(values, 0.0), pc.negate(index), index)
    return pc.if_else(indexable, signed, pa.scalar(0, pa.int64()))


def bin_value(code: int) -> float:
    """The representative value of a bin: within `RELATIVE_ACCURACY` of every value in it."""
    if code == 0:
        return 0.0
    exponent = (abs(code) - _OFFSET) * _LN_GAMMA + math.log(2 / (GAMMA + 1))
    value = math.exp(min(exponent, _LN_MAX))
    return value if code > 0 else -value


def quantile(bins: dict[int, int], q: float) -> float:
    """The `q` quantile (0..1) of the values a histogram holds: the representative value of the bin holding
    the value of rank q·(n-1) (the lowest of rank 0)."""
    n = sum(bins.values())
    rank = q * (n - 1)
    seen = 0
    for code in sorted(bins):
        seen += bins[code]
        if seen > rank:
            return bin_value(code)
    return bin_value(max(bins))


def _collapse(bins: dict[int, int]) -> dict[int, int]:
    """Merge a histogram's lowest bins into one so at most `MAX_BINS` remain; returns the change (code → delta)."""
    codes = sorted(bins)
    into = codes[len(codes) - MAX_BINS]
    delta: dict[int, int] = {}
    for code in codes[: len(codes) - MAX_BINS]:
        n = bins.pop(code)
        delta[code] = -n
        delta[into] = delta.get(into, 0) + n
    bins[into] += delta.get(into, 0)
    return delta


# --- the window ----------------------------------------------------------------------------------------


def _us(t: datetime) -> int:
    return int((t - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def window_span(head: datetime, window: timedelta, bucket: timedelta, lateness: timedelta) -> tuple[int, int, int]:
    """(start, end, horizon) buckets of a window at `head`: it covers buckets `start..end`; a late line may
    still land in `horizon..start-1` (as in rules/windows.py: CountWindow)."""
    end = _us(head) // int(bucket / timedelta(microseconds=1))
    start = end - (window // bucket) + 1
    return start, end, start - -(-lateness // bucket)


def _number(value: float) -> float | str:
    """A float for JSON: orjson writes infinities as null, so they go as text (float() reads both back)."""
    return value if math.isfinite(value) else str(value)


@dataclass(slots=True)
class BucketStats:
    """The values of one group in one bucket."""

    n: int
    total: float
    lo: float
    hi: float
    bins: dict[int, int] | None  # histogram bin code → values (only for percentiles)


class NumericWindow:
    """Per-group statistics of numbers over a sliding event-time window (see the module docstring).

    Like `CountWindow` (rules/windows.py), the buckets a window can still use — from the lateness horizon to a
    window beyond the head — live in numpy rings with a row per group and a column per bucket (count, sum, min,
    max), so folding a batch in, summing a window and expiring buckets are array operations; buckets beyond the
    ring (or all of them before the first evaluation) wait in a small dict. Histograms are sparse dicts per group
    and bucket.
    """

    def __init__(self, window: timedelta, lateness: timedelta = timedelta(0), *, histogram: bool = False) -> None:
        self.window = window
        self.lateness = lateness
        self.bucket = bucket_for(window)
        self.histogram = histogram
        self.late_lines = 0
        self._bucket_us = int(self.bucket / timedelta(microseconds=1))
        self._span = max(1, window // self.bucket)  # buckets in a window
        self._late_span = -(-lateness // self.bucket)  # buckets of lateness before the window
        self.slots = self._late_span + 2 * self._span  # lateness, the window, and one more window ahead
        self._n = np.zeros((0, self.slots), dtype=np.int64)
        self._sum = np.zeros((0, self.slots), dtype=np.float64)
        self._lo = np.full((0, self.slots), np.inf)
        self._hi = np.full((0, self.slots), -np.inf)
        self._row: dict[str, int] = {}  # group key → ring row
        self._keys: list[str | None] = []  # ring row → group key (None: free)
        self._free: list[int] = []
        self._horizon: int | None = None  # lowest bucket the ring holds; lower ones are outside every window
        self._ahead: dict[str, dict[int, BucketStats]] = {}  # buckets beyond the ring, or all before a horizon
        self._bins: dict[str, dict[int, dict[int, int]]] = {}  # group key → ring bucket → histogram
        self._at: tuple[int, int] | None = None  # the window's buckets (start, end) at the last evaluation
        self._window_bins: dict[str, dict[int, int]] = {}  # group key → its histogram over `_at`
        self._quantiles: dict[str, tuple[float, float]] = {}  # group key → (q, quantile) while its bins stay

    # --- adding ---------------------------------------------------------------------------------

    def add(self, keys: pa.Array, ts: pa.Array | pa.ChunkedArray, values: pa.Array) -> None:
        """Fold in one group key, event time (timestamp[us]) and number (float64, null: none) per line."""
        if len(keys) == 0:
            return
        buckets = pc.divide(pc.cast(ts, pa.int64()), self._bucket_us)  # truncation is floor after 1970
        table = pa.table({"k": keys, "b": buckets, "x": values})
        if self._horizon is not None:
            late = pc.less(table.column("b"), self._horizon)
            n_late = pc.sum(pc.cast(late, pa.int64())).as_py() or 0
            if n_late:
                self.late_lines += n_late
                table = table.filter(pc.invert(late))
        table = table.filter(pc.is_valid(table.column("x")))
        if table.num_rows == 0:
            return
        names = ["k", "b"]
        if self.histogram:
            table = table.append_column("c", bin_codes(table.column("x")))
            names.append("c")
        # One thread: the groups (and so the order sums are added in) are the same on every replay.
        grouped = table.group_by(names, use_threads=False).aggregate(
            [("x", "count"), ("x", "sum"), ("x", "min"), ("x", "max")]
        )
        n = grouped.column("x_count").to_numpy()
        self._fold(
            grouped.column("k").to_pylist(),
            grouped.column("b").to_numpy(),
            n,
            grouped.column("x_sum").to_numpy(),
            grouped.column("x_min").to_numpy(),
            grouped.column("x_max").to_numpy(),
            [{c: k} for c, k in zip(grouped.column("c").to_pylist(), n.tolist(), strict=True)]
            if self.histogram
            else None,
        )

    def _fold(
        self,
        keys: list[str],
        buckets: np.ndarray,
        n: np.ndarray,
        total: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        bins: list[dict[int, int]] | None,
    ) -> None:
        """Fold (group, bucket) statistics in: into the ring, or, beyond it, into `_ahead`."""
        horizon = self._horizon
        inside = (
            np.zeros(len(buckets), dtype=bool)
            if horizon is None
            else (buckets >= horizon) & (buckets < horizon + self.slots)
        )
        for i in np.nonzero(~inside)[0].tolist():
            per_group = self._ahead.setdefault(keys[i], {})
            b = int(buckets[i])
            stats = per_group.get(b)
            if stats is None:
                stats = per_group[b] = BucketStats(0, 0.0, math.inf, -math.inf, {} if bins is not None else None)
            stats.n += int(n[i])
            stats.total += float(total[i])
            stats.lo = min(stats.lo, float(lo[i]))
            stats.hi = max(stats.hi, float(hi[i]))
            if stats.bins is not None and bins is not None:
                for code, count in bins[i].items():
                    stats.bins[code] = stats.bins.get(code, 0) + count
                if len(stats.bins) > MAX_BINS:
                    _collapse(stats.bins)  # a bucket ahead of the window: in no window histogram yet
        index = np.nonzero(inside)[0]
        if len(index) == 0:
            return
        inside_keys = [keys[i] for i in index.tolist()]
        rows = self._rows_of(inside_keys)  # may grow the rings: before taking them
        cols = buckets[index] % self.slots
        np.add.at(self._n, (rows, cols), n[index])
        np.add.at(self._sum, (rows, cols), total[index])
        np.minimum.at(self._lo, (rows, cols), lo[index])
        np.maximum.at(self._hi, (rows, cols), hi[index])
        if bins is None:
            return
        crowded: set[tuple[str, int]] = set()
        for key, b, i in zip(inside_keys, buckets[index].tolist(), index.tolist(), strict=True):
            held = self._bins.setdefault(key, {}).setdefault(b, {})
            for code, count in bins[i].items():
                held[code] = held.get(code, 0) + count
            if self._in_window(b):
                self._apply(key, bins[i])
            if len(held) > MAX_BINS:
                crowded.add((key, b))
        for key, b in sorted(crowded):
            delta = _collapse(self._bins[key][b])
            if self._in_window(b):
                self._apply(key, delta)

    def _rows_of(self, keys: list[str]) -> np.ndarray:
        """The ring row of each key (new groups get one): Python per (group, bucket), never per line."""
        row = self._row
        rows = np.empty(len(keys), dtype=np.int64)
        for i, key in enumerate(keys):
            found = row.get(key)
            rows[i] = found if found is not None else self._new_row(key)
        return rows

    def _new_row(self, key: str) -> int:
        if self._free:
            r = self._free.pop()
            self._keys[r] = key
        else:
            r = len(self._keys)
            self._keys.append(key)
            if r >= len(self._n):
                size = max(16, 2 * len(self._n))
                self._n = _grown(self._n, size, 0)
                self._sum = _grown(self._sum, size, 0.0)
                self._lo = _grown(self._lo, size, math.inf)
                self._hi = _grown(self._hi, size, -math.inf)
        self._row[key] = r
        return r

    def _in_window(self, b: int) -> bool:
        return self._at is not None and self._at[0] <= b <= self._at[1]

    def _apply(self, key: str, delta: dict[int, int], sign: int = 1) -> None:
        """Add (`sign` 1) or subtract (-1) bin counts to a group's window histogram."""
        window_bins = self._window_bins.setdefault(key, {})
        for code, n in delta.items():
            count = window_bins.get(code, 0) + sign * n
            if count:
                window_bins[code] = count
            else:
                del window_bins[code]
        self._quantiles.pop(key, None)

    # --- reading --------------------------------------------------------------------------------

    def _advance(self, horizon: int) -> None:
        """Move the ring's low end to `horizon` (never back): expired buckets are cleared."""
        old = self._horizon
        if old is not None and horizon <= old:
            return
        if old is None or horizon - old >= self.slots:
            cols: np.ndarray | slice = slice(None)
        else:
            cols = np.arange(old, horizon) % self.slots
        self._n[:, cols] = 0
        self._sum[:, cols] = 0.0
        self._lo[:, cols] = math.inf
        self._hi[:, cols] = -math.inf
        self._horizon = horizon
        for key in list(self._bins):
            per_group = self._bins[key]
            for b in [b for b in per_group if b < horizon]:
                held = per_group.pop(b)
                if self._in_window(b):
                    self._apply(key, held, -1)
            if not per_group:
                del self._bins[key]
        if self._ahead:
            ahead, self._ahead = self._ahead, {}
            moved = [(k, b, s) for k, per_group in ahead.items() for b, s in per_group.items() if b >= horizon]
            if moved:
                self._fold(
                    [k for k, _, _ in moved],
                    np.array([b for _, b, _ in moved], dtype=np.int64),
                    np.array([s.n for _, _, s in moved], dtype=np.int64),
                    np.array([s.total for _, _, s in moved], dtype=np.float64),
                    np.array([s.lo for _, _, s in moved], dtype=np.float64),
                    np.array([s.hi for _, _, s in moved], dtype=np.float64),
                    [s.bins or {} for _, _, s in moved] if self.histogram else None,
                )

    def _move_window(self, start: int, end: int) -> None:
        """Window histograms follow the window to `start..end`: buckets entering add, buckets leaving subtract."""
        old = self._at
        self._at = (start, end)
        if old == self._at:
            return
        for key, per_group in self._bins.items():
            for b, held in per_group.items():
                was = old is not None and old[0] <= b <= old[1]
                if was != (start <= b <= end):
                    self._apply(key, held, -1 if was else 1)

    def values(
        self,
        head: datetime,
        fn: str,
        min_count: int = 1,
        *,
        beyond: tuple[bool, float] | None = None,
        keep: Iterable[str] = (),
    ) -> dict[str, float]:
        """Each group's `fn` (avg, sum, min, max, count or a `PERCENTILES` name) of its values in
        `(head - window, head]`; a group with fewer than `min_count` values there has none. With `beyond`
        (`(True, bar)`: only values above `bar`; `(False, bar)`: below it), only those and the groups in `keep`."""
        end = _us(head) // self._bucket_us  # the bucket holding the head
        start = end - self._span + 1
        self._advance(start - self._late_span)
        self._move_window(start, end)
        rows = len(self._keys)
        if rows == 0:
            return {}
        cols = np.arange(start, end + 1) % self.slots
        n = self._n[:rows][:, cols].sum(axis=1)
        self._forget_empty(rows)
        if fn == "count":
            value = n.astype(np.float64)
        elif fn in ("sum", "avg"):
            total = self._sum[:rows][:, cols].sum(axis=1)  # columns in bucket order: the same sum on a replay
            with np.errstate(divide="ignore", invalid="ignore"):
                value = total if fn == "sum" else total / n
        elif fn == "min":
            value = self._lo[:rows][:, cols].min(axis=1)
        elif fn == "max":
            value = self._hi[:rows][:, cols].max(axis=1)
        else:
            lo = self._lo[:rows][:, cols].min(axis=1)
            hi = self._hi[:rows][:, cols].max(axis=1)
            value = np.zeros(rows)
            q = PERCENTILES[fn]
            for r in np.nonzero(n >= max(min_count, 1))[0].tolist():
                key = self._keys[r]
                assert key is not None
                value[r] = min(max(self._quantile(key, q), lo[r]), hi[r])
        counted = n >= max(min_count, 1)
        picked = counted
        if beyond is not None:
            above, bar = beyond
            picked = counted & ((value > bar) if above else (value < bar))
        out = {self._keys[r]: float(value[r]) for r in np.nonzero(picked)[0].tolist()}
        for key in keep:
            found = self._row.get(key)
            if found is not None and key not in out and counted[found]:
                out[key] = float(value[found])
        return out  # type: ignore[return-value]

    def _forget_empty(self, rows: int) -> None:
        """Groups with nothing left in any bucket (and nothing ahead) are forgotten."""
        for r in np.nonzero(~self._n[:rows].any(axis=1))[0].tolist():
            key = self._keys[r]
            if key is not None and key not in self._ahead:
                del self._row[key]
                self._keys[r] = None
                self._free.append(r)
                self._window_bins.pop(key, None)
                self._quantiles.pop(key, None)

    def _quantile(self, key: str, q: float) -> float:
        cached = self._quantiles.get(key)
        if cached is None or cached[0] != q:
            cached = self._quantiles[key] = (q, quantile(self._window_bins[key], q))
        return cached[1]

    @property
    def groups(self) -> int:
        return len(self._row) + sum(1 for k in self._ahead if k not in self._row)

    # --- checkpoints ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state: per group, `[bucket, n, sum, min, max, [code, count, …] or null]` rows."""
        buckets: dict[str, list[list[Any]]] = {}
        rows, cols = np.nonzero(self._n[: len(self._keys)])
        horizon = self._horizon or 0
        ring_buckets = horizon + (cols - horizon) % self.slots  # the bucket in the ring's range with that column
        for r, c, b in zip(rows.tolist(), cols.tolist(), ring_buckets.tolist(), strict=True):
            key = self._keys[r]
            assert key is not None
            held = self._bins.get(key, {}).get(b) if self.histogram else None
            stats = BucketStats(
                int(self._n[r, c]), float(self._sum[r, c]), float(self._lo[r, c]), float(self._hi[r, c]), held
            )
            buckets.setdefault(key, []).append(_stats_row(b, stats))
        for key, per_group in self._ahead.items():
            buckets.setdefault(key, []).extend(_stats_row(b, s) for b, s in per_group.items())
        return {
            "late": self.late_lines,
            "horizon": self._horizon,
            "at": list(self._at) if self._at is not None else None,
            "buckets": {k: sorted(v) for k, v in buckets.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        fresh = NumericWindow(self.window, self.lateness, histogram=self.histogram)
        for name in ("_n", "_sum", "_lo", "_hi", "_row", "_keys", "_free", "_bins", "_window_bins", "_quantiles"):
            setattr(self, name, getattr(fresh, name))
        self.late_lines = int(state.get("late", 0))
        at = state.get("at")
        self._at = None if at is None else (int(at[0]), int(at[1]))
        self._horizon = None
        self._ahead = {}
        for key, rows in state.get("buckets", {}).items():
            per_group = self._ahead[str(key)] = {}
            for b, n, total, lo, hi, flat in rows:
                bins = None if flat is None else {int(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
                if self.histogram and bins is None:
                    bins = {}
                per_group[int(b)] = BucketStats(int(n), float(total), float(lo), float(hi), bins)
        horizon = state.get("horizon")
        if horizon is not None:
            self._advance(int(horizon))  # into the ring, histograms into the window's


def _stats_row(b: int, s: BucketStats) -> list[Any]:
    flat = None if s.bins is None else [x for code in sorted(s.bins) for x in (code, s.bins[code])]
    return [b, s.n, _number(s.total), _number(s.lo), _number(s.hi), flat]


def _grown(ring: np.ndarray, rows: int, fill: float) -> np.ndarray:
    grown = np.full((rows, ring.shape[1]), fill, dtype=ring.dtype)
    grown[: len(ring)] = ring
    return grown


# --- rules whose groups have a value only with lines -----------------------------------------------------


class PresentValuesTracker(AlertTracker):
    """An `AlertTracker` for values that exist only for groups with lines in their window: a group left out of
    an evaluation has no value (not 0) — its condition does not hold, whatever `op`, and its alert keeps the
    last value it had."""

    @classmethod
    def like(cls, tracker: AlertTracker) -> PresentValuesTracker:
        return cls(**{f.name: getattr(tracker, f.name) for f in fields(tracker) if f.init})

    def update(
        self,
        at: datetime,
        values: dict[str, tuple[dict[str, str], float]],
        evidence: Mapping[str, list[dict[str, Any]]] | Callable[[str], list[dict[str, Any]] | None] | None = None,
    ) -> list[Transition]:
        absent = {fp: alert.value for fp, alert in self.alerts.items() if fp not in values}
        if absent:
            never = -math.inf if self.above else math.inf  # beyond neither the threshold nor a recovery level
            values = {**values, **{fp: (self.alerts[fp].labels, never) for fp in absent}}
        out = AlertTracker.update(self, at, values, evidence)
        for fp, last in absent.items():
            if fp in self.alerts:
                self.alerts[fp].value = last
        for t in out:
            if t.alert.fingerprint in absent:
                t.alert.value = absent[t.alert.fingerprint]
        return out


class StatisticRule(GroupRule):
    """A `GroupRule` whose value is a statistic of a group's lines in the window (an average, a share, a number
    of distinct values) compared by the rule's `op` (`>` or `<`) with its `threshold`, recovering at
    `resolve_at`: a group without enough lines has no value, so its alert resolves instead of reading 0."""

    def __init__(self, spec: Any) -> None:
        self.above = spec.op == ">"
        super().__init__(spec, recover=spec.resolve_at)
        self.tracker = PresentValuesTracker.like(self.tracker)

    def beyond(self) -> tuple[bool, float]:
        """(above, bar): the values that can hold, or keep an alert firing, are those above `bar` (below it when
        not `above`) — the state machine needs no other group unless it has an alert."""
        threshold, recover = self.tracker.threshold, self.tracker.recover
        if recover is None:
            return self.above, threshold
        return self.above, min(threshold, recover) if self.above else max(threshold, recover)

    def reported(self, values: dict[str, float]) -> dict[str, float]:
        """The groups the state machine needs (see `beyond`) of `values`: leaving out the others changes nothing,
        and keeps the per-group work to the groups that matter."""
        above, bar = self.beyond()
        keep = self.alert_keys() if self.tracker.alerts else set()
        return {k: v for k, v in values.items() if k in keep or (v > bar if above else v < bar)}


# --- settings shared by these rule types -------------------------------------------------------------------


def check_resolve_at(value: float | None, info: ValidationInfo) -> float | None:
    """`resolve_at` must be on the resolving side of `threshold`: at most it for `op: >`, at least for `<`."""
    threshold = info.data.get("threshold")
    op = info.data.get("op", ">")
    if value is None or threshold is None:
        return value
    if op == ">" and value > threshold:
        raise PydanticCustomError(
            "resolve_at", "must be at most threshold ({threshold}) with op '>'", {"threshold": f"{threshold:g}"}
        )
    if op == "<" and value < threshold:
        raise PydanticCustomError(
            "resolve_at", "must be at least threshold ({threshold}) with op '<'", {"threshold": f"{threshold:g}"}
        )
    return value
