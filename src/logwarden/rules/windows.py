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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
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

    def observe_newest(self, newest: int | None) -> None:
        """Take a batch's newest event time (µs since 1970), computed once for every rule."""
        if newest is not None and (self.newest_us is None or newest > self.newest_us):
            self.newest_us = newest

    def head(self, now: datetime) -> datetime | None:
        """Where rules evaluate given the wall clock `now` (None before any line)."""
        if self.newest_us is None:
            return None
        return min(_time(self.newest_us), now)


class GroupRows:
    """Group keys ↔ rows of a window's ring arrays: a row per group, reused once its group is forgotten.
    Python runs per distinct key of a batch, never per line; the owner grows its arrays to `len(keys)` rows."""

    def __init__(self) -> None:
        self.row: dict[str, int] = {}  # group key → row
        self.keys: list[str | None] = []  # row → group key (None: free)
        self.free: list[int] = []

    def rows_of(self, keys: Sequence[str] | pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The row of each key (new groups get one)."""
        arr = keys if isinstance(keys, pa.Array | pa.ChunkedArray) else pa.array(keys, pa.string())
        encoded = pc.dictionary_encode(arr)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        row = self.row
        rows = np.empty(len(encoded.dictionary), dtype=np.int64)
        for i, key in enumerate(encoded.dictionary.to_pylist()):
            found = row.get(key)
            rows[i] = found if found is not None else self._new(key)
        index: np.ndarray = encoded.indices.to_numpy(zero_copy_only=False)
        picked: np.ndarray = rows[index]
        return picked

    def rows_for(self, groups: Sequence[str], codes: np.ndarray) -> np.ndarray:
        """The row of each key `groups[code]`; groups without one get one, in the order they first appear in
        `codes` (as `rows_of` would give them)."""
        row = self.row
        rows = np.zeros(len(groups), dtype=np.int64)
        missing: list[int] = []
        for code, key in enumerate(groups):
            found = row.get(key)
            if found is None:
                missing.append(code)
            else:
                rows[code] = found
        if missing:
            new = np.zeros(len(groups), dtype=bool)
            new[missing] = True
            wanted = codes[new[codes]]
            if len(wanted):
                used, first = np.unique(wanted, return_index=True)
                for code in used[np.argsort(first)].tolist():
                    rows[code] = self._new(groups[code])
        picked: np.ndarray = rows[codes]
        return picked

    def _new(self, key: str) -> int:
        if self.free:
            r = self.free.pop()
            self.keys[r] = key
        else:
            r = len(self.keys)
            self.keys.append(key)
        self.row[key] = r
        return r

    def forget(self, r: int) -> None:
        """Free row `r` (its group has nothing left)."""
        key = self.keys[r]
        if key is not None:
            del self.row[key]
            self.keys[r] = None
            self.free.append(r)

    def __len__(self) -> int:
        return len(self.row)


def grown_rows(array: np.ndarray, rows: int, fill: float = 0) -> np.ndarray:
    """`array` with at least `rows` rows (doubling, at least 16), new rows set to `fill`."""
    if rows <= len(array):
        return array
    size = max(16, 2 * len(array), rows)
    out = np.full((size, *array.shape[1:]), fill, dtype=array.dtype)
    out[: len(array)] = array
    return out


class CountWindow:
    """Per-group counts of lines over a sliding event-time window (see the module docstring).

    The buckets a window can still use — from the lateness horizon to a window beyond the head — live in a
    ring: a numpy array with a row per group and a column per bucket (`slots`), so adding a batch, summing a
    window and dropping expired buckets are array operations; Python runs per group, not per bucket. Lines for
    buckets beyond the ring (stamped far ahead of the head) wait in a small dict until the head comes near.
    """

    def __init__(self, window: timedelta, lateness: timedelta = timedelta(0), bucket: timedelta | None = None):
        self.window = window
        self.lateness = lateness
        self.bucket = bucket or bucket_for(window)
        self._bucket_us = int(self.bucket / timedelta(microseconds=1))
        self._span = max(1, window // self.bucket)  # buckets in a window
        # Buckets of lateness before the window (at most a window's worth: older lines never count again).
        self._late_span = min(-(-lateness // self.bucket), self._span)
        # lateness, the window, and half a window ahead of the head (lines further ahead wait in `_ahead`)
        self.slots = self._late_span + self._span + max(1, self._span // 2)
        self.late_lines = 0
        self._ring = np.zeros((0, self.slots), dtype=np.int32)
        self._rows = GroupRows()
        self._horizon: int | None = None  # lowest bucket still held; lower ones are outside every future window
        self._ahead: dict[str, dict[int, int]] = {}  # buckets beyond the ring, or all of them before a horizon
        # Rules whose windows are the same (rules/count.py) share one: it takes each batch once (`fed`: the
        # batch it took last) and reads and snapshots once per change (`version` counts changes).
        self.fed: int | None = None
        self.version = 0
        self._sums: tuple[int, int, list[str | None], np.ndarray] | None = None  # (head bucket, version, sums)
        self._snapshot: tuple[int, dict[str, object]] | None = None  # (version, snapshot)

    # --- adding ---------------------------------------------------------------------------------

    def add(self, keys: pa.Array | pa.ChunkedArray, ts: pa.Array | pa.ChunkedArray) -> None:
        """Count lines: one group key and one event time (timestamp[us]) per line, vectorized."""
        if len(keys) == 0:
            return
        # Integer division truncates toward zero: exact floor for times after 1970, which event times are.
        buckets = pc.divide(pc.cast(ts, pa.int64()), self._bucket_us)
        grouped = (
            pa.table({"k": keys, "b": buckets}).group_by(["k", "b"], use_threads=False).aggregate([("b", "count")])
        )
        self._add_grouped(grouped.column("k"), grouped.column("b").to_numpy(), grouped.column("b_count").to_numpy())

    def add_seconds(
        self,
        keys: Sequence[str] | pa.Array | pa.ChunkedArray,
        seconds: Sequence[int] | np.ndarray,
        counts: Sequence[int] | np.ndarray,
    ) -> None:
        """Count lines already grouped by (key, whole second since 1970): rules with the same query and
        `group_by` share one group-by per batch and each folds it into its own buckets (whole seconds)."""
        groups, codes = encode_keys(keys)
        self.add_second_codes(groups, codes, seconds, counts)

    def add_second_codes(
        self,
        groups: Sequence[str],
        codes: np.ndarray,
        seconds: Sequence[int] | np.ndarray,
        counts: Sequence[int] | np.ndarray,
    ) -> None:
        """`add_seconds` with the keys given as `groups[codes]` (the encoding rules of one query share)."""
        assert self._bucket_us % _US == 0, "only for buckets of whole seconds"
        secs = np.asarray(seconds, dtype=np.int64)
        self._add_coded(groups, codes, secs // (self._bucket_us // _US), np.asarray(counts, dtype=np.int64))

    def _add_grouped(
        self, keys: Sequence[str] | pa.Array | pa.ChunkedArray, buckets: np.ndarray, counts: np.ndarray
    ) -> None:
        groups, codes = encode_keys(keys)
        self._add_coded(groups, codes, buckets, counts)

    def _add_coded(self, groups: Sequence[str], codes: np.ndarray, buckets: np.ndarray, counts: np.ndarray) -> None:
        if len(buckets) == 0:
            return
        self.version += 1
        horizon = self._horizon
        if horizon is None:  # before the first evaluation: nothing is late yet, and the ring has no place
            for code, bucket, count in zip(codes.tolist(), buckets.tolist(), counts.tolist(), strict=True):
                per_group = self._ahead.setdefault(groups[code], {})
                per_group[bucket] = per_group.get(bucket, 0) + count
            return
        late = buckets < horizon
        if late.any():
            self.late_lines += int(counts[late].sum())
        beyond = buckets >= horizon + self.slots
        inside = ~(late | beyond)
        if beyond.any():
            for i in np.nonzero(beyond)[0].tolist():
                per_group = self._ahead.setdefault(groups[int(codes[i])], {})
                b = int(buckets[i])
                per_group[b] = per_group.get(b, 0) + int(counts[i])
        if not inside.all():
            index = np.nonzero(inside)[0]
            codes, buckets, counts = codes[index], buckets[index], counts[index]
        if len(buckets) == 0:
            return
        rows = self._rows.rows_for(groups, codes)
        self._ring = grown_rows(self._ring, len(self._rows.keys))  # new groups: before taking the ring
        # On the flat ring, in its own dtype: numpy's fast path (a 2-D index or a cast is ~20x slower).
        cells = rows * self.slots + buckets % self.slots
        if not self._ring.flags.c_contiguous:  # the flat view below must be a view
            self._ring = np.ascontiguousarray(self._ring)
        np.add.at(self._ring.reshape(-1), cells, counts.astype(self._ring.dtype))

    # --- reading --------------------------------------------------------------------------------

    def _advance(self, horizon: int) -> None:
        """Move the ring's low end to `horizon` (never back): expired buckets are cleared."""
        old = self._horizon
        if old is not None and horizon <= old:
            return
        self.version += 1
        if old is None or horizon - old >= self.slots:
            self._ring[:] = 0
        else:
            cols = np.arange(old, horizon) % self.slots
            self._ring[:, cols] = 0
        self._horizon = horizon
        if self._ahead:
            ahead, self._ahead = self._ahead, {}
            keys: list[str] = []
            buckets: list[int] = []
            counts: list[int] = []
            for key, per_group in ahead.items():
                for b, n in per_group.items():
                    if b >= horizon:  # lower: older than any window from now on (never counted)
                        keys.append(key)
                        buckets.append(b)
                        counts.append(n)
            if keys:
                self._add_grouped(keys, np.array(buckets, dtype=np.int64), np.array(counts, dtype=np.int64))

    def sums(self, head: datetime) -> tuple[list[str | None], np.ndarray]:
        """Every row's count in `(head - window, head]` (rows of no group have None for a key and count 0)."""
        end = _us(head) // self._bucket_us  # the bucket holding the head
        cached = self._sums
        if cached is not None and cached[0] == end and cached[1] == self.version:
            return cached[2], cached[3]  # a rule sharing this window read it at this head already
        start = end - self._span + 1
        self._advance(start - self._late_span)
        n = len(self._rows.keys)
        ring = self._ring[:n]
        cols = np.arange(start, end + 1) % self.slots
        totals = ring[:, cols].sum(axis=1) if n else np.zeros(0, dtype=np.int64)
        # Groups with nothing left in any bucket (and nothing ahead) are forgotten.
        if n:
            empty = np.nonzero(~ring.any(axis=1))[0].tolist()
            for r in empty:
                if self._rows.keys[r] not in self._ahead:
                    self._rows.forget(r)
                    self.version += 1
        self._sums = (end, self.version, self._rows.keys, totals)
        return self._rows.keys, totals

    def values(self, head: datetime, above: float | None = None, keep: Iterable[str] = ()) -> dict[str, int]:
        """Each group's count in `(head - window, head]` (groups with 0 left out); with `above`, only groups
        whose count is above it, and those in `keep`."""
        keys, totals = self.sums(head)
        picked = np.nonzero(totals if above is None else totals > above)[0]
        out = {keys[r]: int(totals[r]) for r in picked.tolist() if keys[r] is not None}
        for key in keep:
            r = self._rows.row.get(key)
            if r is not None and key not in out and totals[r]:
                out[key] = int(totals[r])
        return out  # type: ignore[return-value]

    @property
    def groups(self) -> int:
        return len(self._rows) + sum(1 for k in self._ahead if k not in self._rows.row)

    @property
    def whole_seconds(self) -> bool:
        """Whether buckets are whole seconds (every window of a second or more)."""
        return self._bucket_us % _US == 0

    # --- checkpoints ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        """JSON-able state, restored by `restore` (checkpointed with the bus cursor): the non-empty cells as
        (group, bucket, count) columns, serialized by orjson straight from the arrays. Taken once per change."""
        if self._snapshot is not None and self._snapshot[0] == self.version:
            return self._snapshot[1]
        n = len(self._rows.keys)
        rows, cols = np.nonzero(self._ring[:n])
        horizon = self._horizon or 0
        # A ring column's bucket: the one in [horizon, horizon + slots) with that remainder.
        buckets = horizon + (cols - horizon) % self.slots
        used = sorted(set(rows.tolist()))
        renumber = np.zeros(max(n, 1), dtype=np.int64)
        renumber[used] = np.arange(len(used))
        cells = orjson.dumps(
            {"g": renumber[rows], "b": buckets, "n": self._ring[rows, cols]}, option=orjson.OPT_SERIALIZE_NUMPY
        )
        snapshot: dict[str, object] = {
            "late": self.late_lines,
            "horizon": self._horizon,
            "keys": [self._rows.keys[r] for r in used],
            "cells": orjson.Fragment(cells),
            "ahead": {k: [[b, c] for b, c in v.items()] for k, v in self._ahead.items()},
        }
        self._snapshot = (self.version, snapshot)
        return snapshot

    def restore(self, state: dict[str, object]) -> None:
        fresh = CountWindow(self.window, self.lateness, self.bucket)
        for name in ("_ring", "_rows", "_horizon", "_ahead", "_sums", "_snapshot", "fed"):
            setattr(self, name, getattr(fresh, name))
        self.version += 1
        self.late_lines = int(state.get("late", 0))  # type: ignore[call-overload]
        horizon = state.get("horizon")
        ahead: dict[str, dict[int, int]] = {}
        old = state.get("counts")  # the format before the ring: {key: [[bucket, count], ...]}
        if isinstance(old, dict):
            for k, pairs in old.items():
                ahead[str(k)] = {int(b): int(n) for b, n in pairs}
        saved_ahead = state.get("ahead") or {}
        assert isinstance(saved_ahead, dict)
        for k, pairs in saved_ahead.items():
            per_group = ahead.setdefault(str(k), {})
            for b, n in pairs:
                per_group[int(b)] = per_group.get(int(b), 0) + int(n)
        cells = state.get("cells")
        if isinstance(cells, orjson.Fragment):  # a snapshot taken in this process, not read back from JSON
            cells = orjson.loads(orjson.dumps(cells))
        if isinstance(cells, dict):
            keys = state.get("keys") or []
            assert isinstance(keys, list)
            for g, b, n in zip(cells["g"], cells["b"], cells["n"], strict=True):
                per_group = ahead.setdefault(str(keys[g]), {})
                per_group[int(b)] = per_group.get(int(b), 0) + int(n)
        self._ahead = ahead
        if horizon is not None:
            self._horizon = None
            self._advance(int(horizon))  # type: ignore[call-overload]


def encode_keys(keys: Sequence[str] | pa.Array | pa.ChunkedArray) -> tuple[list[str], np.ndarray]:
    """Keys as (distinct keys in order of first appearance, each key's index in them)."""
    if isinstance(keys, pa.Array | pa.ChunkedArray):
        encoded = pc.dictionary_encode(keys)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        codes: np.ndarray = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        return encoded.dictionary.to_pylist(), codes
    index: dict[str, int] = {}
    coded = [index.setdefault(k, len(index)) for k in keys]
    return list(index), np.array(coded, dtype=np.int64)


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
