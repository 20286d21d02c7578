"""The distribution bins: numpy (definitions without line pipes) and DuckDB (with them) put every value in the
same bin, and a quantile read from bins is within the sketch's relative accuracy."""

from __future__ import annotations

import random

import duckdb
import numpy as np
import pyarrow as pa

from logwarden.logmetrics.aggregate import _bins
from logwarden.logmetrics.sketch import RELATIVE_ACCURACY, ZERO_BIN, bin_sql, bin_value, quantile


def test_numpy_and_duckdb_bin_every_value_alike() -> None:
    rng = random.Random(1)
    values = [0.0, -3.0, 1e-12, 1.0, 0.1, 1000.0, *(rng.lognormvariate(0, 4) for _ in range(5000))]
    with duckdb.connect() as con:
        con.register("v", pa.table({"v": pa.array(values, pa.float64())}))
        from_sql = [int(b) for (b,) in con.execute(f"SELECT {bin_sql('v')} FROM v").fetchall()]
    assert from_sql == _bins(np.array(values)).to_pylist()
    assert from_sql[:3] == [ZERO_BIN] * 3


def test_a_bin_stands_for_its_values_within_the_relative_accuracy() -> None:
    rng = random.Random(2)
    values = np.array([rng.lognormvariate(2, 3) for _ in range(5000)])
    for v, b in zip(values.tolist(), _bins(values).to_pylist(), strict=True):
        assert abs(bin_value(b) - v) / v <= RELATIVE_ACCURACY + 1e-12


def test_quantiles_from_bins() -> None:
    values = np.arange(1, 1001, dtype=np.float64)
    counts: dict[int, int] = {}
    for b in _bins(values).to_pylist():
        counts[b] = counts.get(b, 0) + 1
    for q in (0.5, 0.95, 0.99):
        got = quantile(counts.items(), q)
        want = float(np.percentile(values, q * 100, method="lower"))
        assert got is not None and abs(got - want) / want <= RELATIVE_ACCURACY
    assert quantile([], 0.5) is None
