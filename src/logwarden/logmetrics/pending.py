"""Points waiting for the next commit (`Pending`): per series and 10 s bucket, folded at commit (`merged`).

Series are numbered as they first appear (a dict lookup per distinct series and batch, never per line), so the
points wait as small integer-keyed tables and merge with an integer group-by; their names are attached once,
to the merged rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

SeriesKey = tuple[str, str, str]  # metric, tenant, labels (JSON)
_POINTS = pa.schema(
    [("s", pa.int32()), ("ts", pa.int64()), ("n", pa.float64()), ("total", pa.float64()), ("lo", pa.float64()),
     ("hi", pa.float64())]
)  # fmt: skip
_BINS = pa.schema([("s", pa.int32()), ("ts", pa.int64()), ("bin", pa.int16()), ("n", pa.int64())])


@dataclass(frozen=True, slots=True)
class Merged:
    """What one commit adds. `keys`: the series, numbered by their position; `points` (s, ts, n, total, lo, hi):
    one row per series number and bucket; `bins` (s, ts, bin, n): a key may repeat (summed by readers);
    `series` (key, lines, sum of values) and `series_bins` (key, bin, lines): the same summed over the buckets."""

    keys: list[SeriesKey]
    points: pa.Table
    bins: pa.Table
    series: list[tuple[SeriesKey, float, float]]
    series_bins: list[tuple[SeriesKey, int, int]]

    @property
    def empty(self) -> bool:
        """Whether the commit adds no point."""
        return bool(self.points.num_rows == 0)


@dataclass
class Pending:
    """Points of the batches handled since the last commit."""

    lines: int = 0
    _ids: dict[SeriesKey, int] = field(default_factory=dict)
    _keys: list[SeriesKey] = field(default_factory=list)
    _points: list[pa.Table] = field(default_factory=list)
    _bins: list[pa.Table] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self._points)

    def series_ids(self, metric: str, series: list[tuple[str, str]]) -> np.ndarray:
        """The number of each (tenant, labels) series of `metric`."""
        out = np.empty(len(series), dtype=np.int32)
        for i, (tenant, labels) in enumerate(series):
            key = (metric, tenant, labels)
            found = self._ids.get(key)
            if found is None:
                found = self._ids[key] = len(self._keys)
                self._keys.append(key)
            out[i] = found
        return out

    def add(
        self,
        sid: np.ndarray,
        ts: np.ndarray,
        n: np.ndarray,
        total: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        bins: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Points (per series number and bucket) and, for a distribution, `bins` (index of the point, bin, n)."""
        self._points.append(pa.table({"sid": sid, "ts": ts, "n": n, "total": total, "lo": lo, "hi": hi}))
        if bins is not None and len(bins[0]):
            point, index, count = bins
            self._bins.append(
                pa.table(
                    {"sid": sid[point], "ts": ts[point], "bin": index.astype(np.int16), "n": count.astype(np.int64)}
                )
            )

    def merged(self) -> Merged:
        """Points: one row per series and bucket (counts and sums add, minima and maxima combine); bins as the
        batches gave them (a key may repeat: readers of the store sum them)."""
        keys = self._keys
        if not self._points:
            return Merged([], _POINTS.empty_table(), _BINS.empty_table(), [], [])
        points = pa.concat_tables(self._points).group_by(["sid", "ts"], use_threads=False)
        points = points.aggregate([("n", "sum"), ("total", "sum"), ("lo", "min"), ("hi", "max")])
        points = pa.table(
            [points.column(c) for c in ("sid", "ts", "n_sum", "total_sum", "lo_min", "hi_max")], schema=_POINTS
        )
        per_series = points.group_by("s", use_threads=False).aggregate([("n", "sum"), ("total", "sum")])
        series = [
            (keys[s], n, total)
            for s, n, total in zip(
                per_series.column("s").to_pylist(),
                per_series.column("n_sum").to_pylist(),
                per_series.column("total_sum").to_pylist(),
                strict=True,
            )
        ]
        if not self._bins:
            return Merged(keys, points, _BINS.empty_table(), series, [])
        # Not merged per bucket: batches rarely share a (series, bucket, bin), and the store sums duplicates anyway.
        bins = pa.concat_tables(self._bins).rename_columns(_BINS.names)
        per_bin = bins.group_by(["s", "bin"], use_threads=False).aggregate([("n", "sum")])
        series_bins = [
            (keys[s], b, n)
            for s, b, n in zip(
                per_bin.column("s").to_pylist(),
                per_bin.column("bin").to_pylist(),
                per_bin.column("n_sum").to_pylist(),
                strict=True,
            )
        ]
        return Merged(keys, points, bins, series, series_bins)
