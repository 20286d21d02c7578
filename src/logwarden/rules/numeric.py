"""Per-bucket numeric state for rules whose value is a statistic of a field (rules/types/aggregate.py). The numbers
and histogram bins it keeps are read and computed by rules/sketch.py; the rules' base, `StatisticRule`, is in
rules/statistic.py.

**Buckets.** Like `CountWindow` (rules/windows.py: buckets of a sixtieth of the window, the same horizon and
lateness), `NumericWindow` keeps per group and bucket the count, sum, min and max of the values and, for
percentiles, a log-bucketed histogram in the manner of DDSketch: bin `i` holds the magnitudes in
(γ^(i-1), γ^i] with γ = 1.01/0.99, so every value of a bin is within 1% of the bin's representative value;
negative values mirror positive ones and magnitudes up to 1e-9 share a zero bin. A bucket keeps at most
`MAX_BINS` bins, merging its lowest ones beyond that (the high percentiles alerts watch stay accurate). Raw values
are never kept. A batch folds in with one sort of its lines by (group, bucket, bin) and segment reductions into
numpy rings (a row per group, a column per bucket, as in `CountWindow`); Python runs per group, never per bin.

**Histograms** are cells — one per (group, bucket, bin) — in two numpy columns: sorted int64 keys packing (group,
bin, ring column), and counts. A batch's cells merge in with a binary search (`np.insert` for new ones), expired
buckets drop out with one mask, and a bucket beyond `MAX_BINS` collapses vectorized. As a group's cells are
contiguous and in bin order, a percentile is a masked cumulative sum over the window's cells and one binary
search per group — computed only for the groups whose [min, max] reaches beyond the rule's bar (or that alert).
Sums are added in the same order on every replay (lines sorted stably, buckets summed in bucket order), so a
restored window gives the same values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.rules.sketch import MAX_BINS, MAX_CODE, PERCENTILES, bin_codes, bin_value
from logwarden.rules.windows import GroupRows, bucket_for, grown_rows


def _collapse(group: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Histograms as cells sorted by (group, code): merge each group's lowest bins into one so at most `MAX_BINS`
    remain, vectorized. Returns which cells stay and every cell's new count (0 for the merged ones)."""
    index = np.arange(len(group))
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    sizes = np.diff(np.r_[starts, len(group)])
    segment = np.repeat(np.arange(len(starts)), sizes)
    excess = np.maximum(sizes - MAX_BINS, 0)[segment]
    first = starts[segment]
    merged = index - first < excess  # below the bin of rank `excess`, which takes them in
    out = np.zeros_like(counts)
    np.add.at(out, np.where(merged, first + excess, index), counts)
    return ~merged, out


# --- the window ----------------------------------------------------------------------------------------


def _us(t: datetime) -> int:
    return int((t - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def window_span(head: datetime, window: timedelta, bucket: timedelta, lateness: timedelta) -> tuple[int, int, int]:
    """(start, end, horizon) buckets of a window at `head`: it covers buckets `start..end`; a late line may
    still land in `horizon..start-1` (as in rules/windows.py: CountWindow)."""
    end = _us(head) // int(bucket / timedelta(microseconds=1))
    span = max(1, window // bucket)
    start = end - span + 1
    # At most a window's worth of lateness buckets, as in CountWindow: older lines never count again.
    return start, end, start - min(-(-lateness // bucket), span)


def _number(value: float) -> float | str:
    """A float for JSON: orjson writes infinities as null, so they go as text (float() reads both back)."""
    return value if math.isfinite(value) else str(value)


def _floats(values: np.ndarray) -> np.ndarray | list[float | str]:
    """A float64 array for orjson: the array itself, or a list with non-finite values as text (`_number`)."""
    return values if np.isfinite(values).all() else [_number(v) for v in values.tolist()]


_I64 = np.zeros(0, dtype=np.int64)  # never written to: an empty column


def _no_ints() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _no_floats() -> np.ndarray:
    return np.zeros(0, dtype=np.float64)


@dataclass(slots=True)
class Buckets:
    """Values per (ring row, bucket) as columns — count, sum, min, max — and, for percentiles, histogram cells
    per (ring row, bucket, bin code) as columns: what a batch adds, and what waits beyond the ring."""

    row: np.ndarray = field(default_factory=_no_ints)
    b: np.ndarray = field(default_factory=_no_ints)
    n: np.ndarray = field(default_factory=_no_ints)
    total: np.ndarray = field(default_factory=_no_floats)
    lo: np.ndarray = field(default_factory=_no_floats)
    hi: np.ndarray = field(default_factory=_no_floats)
    cell_row: np.ndarray = field(default_factory=_no_ints)
    cell_b: np.ndarray = field(default_factory=_no_ints)
    code: np.ndarray = field(default_factory=_no_ints)
    count: np.ndarray = field(default_factory=_no_ints)

    def __len__(self) -> int:
        return len(self.row)

    def select(self, stats: np.ndarray, cells: np.ndarray) -> Buckets:
        """The (row, bucket) rows where `stats` holds and the cells where `cells` does."""
        return Buckets(
            *(a[stats] for a in (self.row, self.b, self.n, self.total, self.lo, self.hi)),
            *(a[cells] for a in (self.cell_row, self.cell_b, self.code, self.count)),
        )

    def merged(self, other: Buckets) -> Buckets:
        """This and `other` (its sums added after this one's), one row per (row, bucket) and one cell per (row,
        bucket, code), sorted, every histogram at most `MAX_BINS` bins."""
        if len(other) == 0 and len(self) != 0:
            return self
        cat = [np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self)]
        row, b, n, total, lo, hi, cell_row, cell_b, code, count = cat
        if len(row) == 0:
            return Buckets()
        order = np.lexsort((b, row))  # stable: sums keep their order
        row, b, n, total, lo, hi = row[order], b[order], n[order], total[order], lo[order], hi[order]
        pair = (row[1:] != row[:-1]) | (b[1:] != b[:-1])
        starts = np.flatnonzero(np.r_[True, pair])
        out = Buckets(
            row[starts],
            b[starts],
            np.add.reduceat(n, starts),
            _sums(pair, total, len(starts)),
            np.minimum.reduceat(lo, starts),
            np.maximum.reduceat(hi, starts),
        )
        if len(cell_row):
            order = np.lexsort((code, cell_b, cell_row))
            cell_row, cell_b, code, count = cell_row[order], cell_b[order], code[order], count[order]
            pair = (cell_row[1:] != cell_row[:-1]) | (cell_b[1:] != cell_b[:-1])
            starts = np.flatnonzero(np.r_[True, pair | (code[1:] != code[:-1])])
            cell_row, cell_b, code = cell_row[starts], cell_b[starts], code[starts]
            count = np.add.reduceat(count, starts)
            group = np.cumsum(np.r_[0, (cell_row[1:] != cell_row[:-1]) | (cell_b[1:] != cell_b[:-1])])
            keep, count = _collapse(group, count)
            out.cell_row, out.cell_b, out.code, out.count = cell_row[keep], cell_b[keep], code[keep], count[keep]
        return out


# Histogram cells in the ring are kept in one sorted int64 key per cell: (row, code, ring column), so a group's
# cells are contiguous and in code order — the order a quantile reads them in.
_CODE_BITS = 17
_CODE_SHIFT = 1 << (_CODE_BITS - 1)
_CODE_MASK = (1 << _CODE_BITS) - 1
assert MAX_CODE < _CODE_SHIFT  # every float64's code fits


def _line_order(rows: np.ndarray, b: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
    """The order that sorts lines by (row, bucket[, bin code]), stably — equal lines keep their order, so sums
    are added in the same order on every replay and machine: one argsort of unique int64 keys (the line's index
    in the lowest bits) where they fit, a lexsort otherwise."""
    n = len(rows)
    low, span = int(b.min()), int(b.max()) - int(b.min()) + 1
    index_bits = max(1, (n - 1).bit_length())
    code_bits = 0 if codes is None else _CODE_BITS
    if (int(rows.max()) + 1) * span < 1 << (62 - code_bits - index_bits):
        key = rows * span + (b - low)
        if codes is not None:
            key = (key << _CODE_BITS) | (codes + _CODE_SHIFT)
        ordered: np.ndarray = np.argsort((key << index_bits) | np.arange(n))
        return ordered
    return np.lexsort((b, rows)) if codes is None else np.lexsort((codes, b, rows))


def _sums(change: np.ndarray, values: np.ndarray, segments: int) -> np.ndarray:
    """Per segment of consecutive values (a new one where `change`, between neighbours, holds), their sum added
    one by one in order (np.bincount): the same on every machine."""
    segment = np.r_[0, np.cumsum(change)]
    return np.bincount(segment, weights=values, minlength=segments)


class NumericWindow:
    """Per-group statistics of numbers over a sliding event-time window (see the module docstring).

    Like `CountWindow` (rules/windows.py), the buckets a window can still use — from the lateness horizon to a
    window beyond the head — live in numpy rings with a row per group and a column per bucket (count, sum, min,
    max), so folding a batch in, summing a window and expiring buckets are array operations. Histograms are
    cells in sorted numpy columns (see `_cell`). Buckets beyond the ring (or all of them before the first
    evaluation) wait in `_ahead`, as columns too.
    """

    def __init__(self, window: timedelta, lateness: timedelta = timedelta(0), *, histogram: bool = False) -> None:
        self.window = window
        self.lateness = lateness
        self.bucket = bucket_for(window)
        self.histogram = histogram
        self.late_lines = 0
        self._bucket_us = int(self.bucket / timedelta(microseconds=1))
        self._span = max(1, window // self.bucket)  # buckets in a window
        # Buckets of lateness before the window (at most a window's worth, as in CountWindow).
        self._late_span = min(-(-lateness // self.bucket), self._span)
        self.slots = self._late_span + 2 * self._span  # lateness, the window, and one more window ahead
        self._n = np.zeros((0, self.slots), dtype=np.int64)
        self._sum = np.zeros((0, self.slots), dtype=np.float64)
        self._lo = np.full((0, self.slots), np.inf)
        self._hi = np.full((0, self.slots), -np.inf)
        self._bins = np.zeros((0, self.slots), dtype=np.int32)  # histogram cells per row and column
        self._cell = _I64  # sorted keys of the ring's histogram cells: ((row << _CODE_BITS) | code) * slots + column
        self._count = _I64  # values per cell
        self._rows = GroupRows()
        self._horizon: int | None = None  # lowest bucket the ring holds; lower ones are outside every window
        self._ahead = Buckets()  # buckets beyond the ring, or all before a horizon

    # --- adding ---------------------------------------------------------------------------------

    def add(self, keys: pa.Array | pa.ChunkedArray, ts: pa.Array | pa.ChunkedArray, values: pa.Array) -> None:
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
        rows = self._rows_of(table.column("k"))
        b = table.column("b").to_numpy()
        x = table.column("x").to_numpy()
        codes = bin_codes(table.column("x")).to_numpy() if self.histogram else None
        order = _line_order(rows, b, codes)
        rows, b, x = rows[order], b[order], x[order]
        pair = (rows[1:] != rows[:-1]) | (b[1:] != b[:-1])
        starts = np.flatnonzero(np.r_[True, pair])
        added = Buckets(
            rows[starts],
            b[starts],
            np.diff(np.r_[starts, len(rows)]),
            _sums(pair, x, len(starts)),
            np.minimum.reduceat(x, starts),
            np.maximum.reduceat(x, starts),
        )
        if codes is not None:
            codes = codes[order]
            cells = np.flatnonzero(np.r_[True, pair | (codes[1:] != codes[:-1])])
            added.cell_row, added.cell_b, added.code = rows[cells], b[cells], codes[cells]
            added.count = np.diff(np.r_[cells, len(rows)])
        self._fold(added)

    def _fold(self, added: Buckets) -> None:
        """Fold (row, bucket) statistics and histogram cells in (unique, as `add` and `Buckets.merged` give them):
        into the ring, or, beyond it, into `_ahead`."""
        horizon = self._horizon
        if horizon is None:
            self._ahead = self._ahead.merged(added)
            return
        inside = (added.b >= horizon) & (added.b < horizon + self.slots)
        cells_inside = (added.cell_b >= horizon) & (added.cell_b < horizon + self.slots)
        if not inside.all() or not cells_inside.all():
            self._ahead = self._ahead.merged(added.select(~inside, ~cells_inside))
            added = added.select(inside, cells_inside)
        if len(added) == 0:
            return
        rows, cols = added.row, added.b % self.slots  # unique pairs: plain fancy indexing adds them
        self._n[rows, cols] += added.n
        self._sum[rows, cols] += added.total
        self._lo[rows, cols] = np.minimum(self._lo[rows, cols], added.lo)
        self._hi[rows, cols] = np.maximum(self._hi[rows, cols], added.hi)
        if len(added.cell_row):
            self._add_cells(added.cell_row, added.cell_b % self.slots, added.code, added.count)

    def _add_cells(self, rows: np.ndarray, cols: np.ndarray, codes: np.ndarray, counts: np.ndarray) -> None:
        """Merge (row, column, code) cells, unique, into the ring's sorted cells; then collapse any (row,
        column) histogram beyond `MAX_BINS` bins."""
        keys = ((rows << _CODE_BITS) | (codes + _CODE_SHIFT)) * self.slots + cols
        order = np.argsort(keys)
        keys, counts = keys[order], counts[order]
        pos = np.searchsorted(self._cell, keys)
        found = pos < len(self._cell)
        found[found] = self._cell[pos[found]] == keys[found]
        self._count[pos[found]] += counts[found]
        new = ~found
        if not new.any():
            return
        self._cell = np.insert(self._cell, pos[new], keys[new])
        self._count = np.insert(self._count, pos[new], counts[new])
        new_rows, new_cols = rows[order][new], cols[order][new]
        pairs, added = np.unique(new_rows * self.slots + new_cols, return_counts=True)
        self._bins.reshape(-1)[pairs] += added.astype(np.int32)  # a view: the ring is contiguous
        crowded = self._bins[new_rows, new_cols] > MAX_BINS
        if crowded.any():
            self._collapse_ring(np.unique(new_rows[crowded] * self.slots + new_cols[crowded]))

    def _collapse_ring(self, pairs: np.ndarray) -> None:
        """Collapse the ring histograms of (row · slots + column) `pairs` to `MAX_BINS` bins (rare)."""
        pair_of = (self._cell // self.slots >> _CODE_BITS) * self.slots + self._cell % self.slots
        index = np.flatnonzero(np.isin(pair_of, pairs))
        index = index[np.argsort(pair_of[index], kind="stable")]  # by pair, then code
        keep, counts = _collapse(pair_of[index], self._count[index])
        self._count[index] = counts
        self._cell = np.delete(self._cell, index[~keep])
        self._count = np.delete(self._count, index[~keep])
        self._bins[pairs // self.slots, pairs % self.slots] = MAX_BINS

    def _rows_of(self, keys: pa.Array | pa.ChunkedArray | list[str]) -> np.ndarray:
        """The ring row of each key (new groups get one, and the rings grow): Python per distinct key."""
        rows = self._rows.rows_of(keys)
        size = len(self._rows.keys)
        if size > len(self._n):
            self._n = grown_rows(self._n, size, 0)
            self._sum = grown_rows(self._sum, size, 0.0)
            self._lo = grown_rows(self._lo, size, math.inf)
            self._hi = grown_rows(self._hi, size, -math.inf)
            self._bins = grown_rows(self._bins, size, 0)
        return rows

    # --- reading --------------------------------------------------------------------------------

    def _advance(self, horizon: int) -> None:
        """Move the ring's low end to `horizon` (never back): expired buckets are cleared."""
        old = self._horizon
        if old is not None and horizon <= old:
            return
        if old is None or horizon - old >= self.slots:
            cols: np.ndarray | slice = slice(None)
            self._cell, self._count = _I64, _I64
        else:
            cols = np.arange(old, horizon) % self.slots
            expired = np.zeros(self.slots, dtype=bool)
            expired[cols] = True
            kept = ~expired[self._cell % self.slots]
            self._cell, self._count = self._cell[kept], self._count[kept]
        self._n[:, cols] = 0
        self._sum[:, cols] = 0.0
        self._lo[:, cols] = math.inf
        self._hi[:, cols] = -math.inf
        self._bins[:, cols] = 0
        self._horizon = horizon
        if len(self._ahead):
            ahead, self._ahead = self._ahead, Buckets()
            # Lower buckets are older than any window from now on: never counted.
            self._fold(ahead.select(ahead.b >= horizon, ahead.cell_b >= horizon))

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
        rows = len(self._rows.keys)
        if rows == 0:
            return {}
        cols = np.arange(start, end + 1) % self.slots
        n = self._n[:rows][:, cols].sum(axis=1)
        self._forget_empty(rows)
        counted = n >= max(min_count, 1)
        kept = np.zeros(rows, dtype=bool)
        kept[[r for r in map(self._rows.row.get, keep) if r is not None]] = True
        if fn == "count":
            value = n.astype(np.float64)
        elif fn in ("sum", "avg"):
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # sums may overflow to ±inf
                total = self._sum[:rows][:, cols].sum(axis=1)  # columns in bucket order: the same on a replay
                value = total if fn == "sum" else total / n
        elif fn == "min":
            value = self._lo[:rows][:, cols].min(axis=1)
        elif fn == "max":
            value = self._hi[:rows][:, cols].max(axis=1)
        else:
            lo = self._lo[:rows][:, cols].min(axis=1)
            hi = self._hi[:rows][:, cols].max(axis=1)
            # A percentile lies within [min, max]: only groups whose range reaches beyond the bar need one.
            wanted = counted if beyond is None else counted & ((hi > beyond[1]) if beyond[0] else (lo < beyond[1]))
            value = np.full(rows, np.nan)  # no value: never beyond the bar
            found, codes = self._percentile_bins(np.flatnonzero(wanted | (counted & kept)), cols, PERCENTILES[fn])
            for r, code in zip(found.tolist(), codes.tolist(), strict=True):
                value[r] = min(max(bin_value(code), lo[r]), hi[r])
        picked = counted
        if beyond is not None:
            above, bar = beyond
            picked = counted & (((value > bar) if above else (value < bar)) | kept)
        return {self._rows.keys[r]: float(value[r]) for r in np.flatnonzero(picked).tolist()}  # type: ignore[misc]

    def _percentile_bins(self, rows: np.ndarray, cols: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
        """(rows, bin codes): for each of `rows`, the bin of the `q` quantile of its cells in ring columns `cols`
        — the bin holding the value of rank q·(n-1), as `quantile` — vectorized over the cells."""
        if len(rows) == 0 or len(self._cell) == 0:
            return _I64, _I64
        wanted = np.zeros(len(self._rows.keys), dtype=bool)
        wanted[rows] = True
        in_window = np.zeros(self.slots, dtype=bool)
        in_window[cols] = True
        row_code = self._cell // self.slots
        cell_rows = row_code >> _CODE_BITS
        picked = wanted[cell_rows] & in_window[self._cell % self.slots]
        cell_rows, counts = cell_rows[picked], self._count[picked]
        if len(cell_rows) == 0:
            return _I64, _I64
        starts = np.flatnonzero(np.r_[True, cell_rows[1:] != cell_rows[:-1]])
        seen = np.cumsum(counts)  # the cells of a row are contiguous and in code order
        before = seen[starts] - counts[starts]
        n = np.diff(np.r_[before, seen[-1]])
        # The first cell where the row's running count passes the rank: reaches floor(rank) + 1.
        need = np.floor(q * (n - 1).astype(np.float64)).astype(np.int64) + 1
        at = np.searchsorted(seen, before + need, side="left")
        return cell_rows[starts], (row_code[picked][at] & _CODE_MASK) - _CODE_SHIFT

    def _forget_empty(self, rows: int) -> None:
        """Groups with nothing left in any bucket (and nothing ahead) are forgotten."""
        empty = np.count_nonzero(self._n[:rows], axis=1) == 0
        empty[self._ahead.row] = False
        for r in np.flatnonzero(empty).tolist():
            self._rows.forget(r)

    @property
    def groups(self) -> int:
        return len(self._rows)

    # --- checkpoints ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state: the groups' `keys`, and as columns serialized by orjson straight from the arrays,
        `stats` (`g` the index of the key, `b` bucket, `n`, `sum`, `min`, `max`) and histogram `cells` (`g`,
        `b`, `c` bin code, `n`)."""
        held = self._held()
        used, g = np.unique(held.row, return_inverse=True)
        cell_g = np.searchsorted(used, held.cell_row)
        stats = {"g": g, "b": held.b, "n": held.n, "sum": _floats(held.total), "min": held.lo, "max": held.hi}
        cells = {"g": cell_g, "b": held.cell_b, "c": held.code, "n": held.count}
        return {
            "late": self.late_lines,
            "horizon": self._horizon,
            "keys": [self._rows.keys[r] for r in used.tolist()],
            "stats": orjson.Fragment(orjson.dumps(stats, option=orjson.OPT_SERIALIZE_NUMPY)),
            "cells": orjson.Fragment(orjson.dumps(cells, option=orjson.OPT_SERIALIZE_NUMPY))
            if self.histogram
            else None,
        }

    def _held(self) -> Buckets:
        """Everything the window holds — the ring's buckets and those ahead — as columns by absolute bucket."""
        rows, cols = np.nonzero(self._n[: len(self._rows.keys)])
        horizon = self._horizon or 0
        ring_bucket = horizon + (np.arange(self.slots) - horizon) % self.slots  # the bucket of each ring column
        row_code = self._cell // self.slots
        ring = Buckets(
            rows,
            ring_bucket[cols],
            self._n[rows, cols],
            self._sum[rows, cols],
            self._lo[rows, cols],
            self._hi[rows, cols],
            row_code >> _CODE_BITS,
            ring_bucket[self._cell % self.slots],
            (row_code & _CODE_MASK) - _CODE_SHIFT,
            self._count,
        )
        ahead = self._ahead
        return Buckets(*(np.concatenate([getattr(ring, f.name), getattr(ahead, f.name)]) for f in fields(ring)))

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a `snapshot`, or the state the window kept before its histograms were columns (`buckets`:
        per group, `[bucket, n, sum, min, max, [code, count, …] or null]` rows)."""
        fresh = NumericWindow(self.window, self.lateness, histogram=self.histogram)
        for name in ("_n", "_sum", "_lo", "_hi", "_bins", "_cell", "_count", "_rows", "_ahead"):
            setattr(self, name, getattr(fresh, name))
        self.late_lines = int(state.get("late", 0))
        self._horizon = None
        held = _restored(state) if "stats" in state else _restored_rows(state.get("buckets") or {})
        if held is not None:
            keys, buckets = held
            rows = self._rows_of([str(k) for k in keys])
            buckets.row, buckets.cell_row = rows[buckets.row], rows[buckets.cell_row]
            if not self.histogram:
                buckets.cell_row = buckets.cell_b = buckets.code = buckets.count = _I64
            self._ahead = Buckets().merged(buckets)
        horizon = state.get("horizon")
        if horizon is not None:
            self._advance(int(horizon))  # into the ring


def _loaded(value: Any) -> dict[str, list[Any]]:
    if isinstance(value, orjson.Fragment):  # a snapshot taken in this process, not read back from JSON
        value = orjson.loads(orjson.dumps(value))
    return value or {}


def _restored(state: dict[str, Any]) -> tuple[list[str], Buckets]:
    stats, cells = _loaded(state.get("stats")), _loaded(state.get("cells"))

    def ints(columns: dict[str, list[Any]], name: str) -> np.ndarray:
        return np.array(columns.get(name, []), dtype=np.int64)

    def floats(name: str) -> np.ndarray:
        return np.array([float(v) for v in stats.get(name, [])], dtype=np.float64)

    buckets = Buckets(
        ints(stats, "g"), ints(stats, "b"), ints(stats, "n"), floats("sum"), floats("min"), floats("max"),
        ints(cells, "g"), ints(cells, "b"), ints(cells, "c"), ints(cells, "n"),
    )  # fmt: skip
    return list(state.get("keys") or []), buckets


def _restored_rows(saved: dict[str, list[list[Any]]]) -> tuple[list[str], Buckets] | None:
    """The columns of the earlier format: per group, `[bucket, n, sum, min, max, [code, count, …] or null]`."""
    if not saved:
        return None
    keys = list(saved)
    stats: list[list[Any]] = [[], [], [], [], [], []]
    cells: list[list[int]] = [[], [], [], []]
    for g, rows in enumerate(saved.values()):
        for b, n, total, lo, hi, flat in rows:
            for column, value in zip(stats, (g, int(b), int(n), float(total), float(lo), float(hi)), strict=True):
                column.append(value)
            for i in range(0, len(flat or ()), 2):
                for column, value in zip(cells, (g, int(b), int(flat[i]), int(flat[i + 1])), strict=True):
                    column.append(value)
    ints = [np.array(c, dtype=np.int64) for c in (*stats[:3], *cells)]
    lo_hi = [np.array(c, dtype=np.float64) for c in stats[3:]]
    return keys, Buckets(*ints[:3], *lo_hi, *ints[3:])
