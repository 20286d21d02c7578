"""Mergeable distributions: DDSketch's logarithmic bins with a fixed relative accuracy.

Why DDSketch's mapping rather than fixed Prometheus buckets: a value's bin depends on the value alone
(`ceil(log_gamma(v))`), so any two distributions merge by adding counts per bin — the 10 s buckets roll up to
1 m, 5 m and 1 h exactly, and a percentile read from any tier is within `RELATIVE_ACCURACY` of the true value
whatever the range of the data, with no bounds to choose in advance. Bins are sparse (only those seen are
stored): a latency spread over six orders of magnitude takes at most ~700 bins, usually a few dozen.
Values ≤ `MIN_VALUE` (zero and negatives) share `ZERO_BIN`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
LOG_GAMMA = math.log(GAMMA)
MIN_VALUE = 1e-9
ZERO_BIN = -32768  # SMALLINT's least value: below every real bin (log_gamma(1e-9) ≈ -1036)
MAX_BIN = 32767  # SMALLINT's greatest: values beyond ~1e285 share it


def bin_sql(value: str) -> str:
    """The DuckDB expression of a value's bin (`value` is an SQL expression of type DOUBLE)."""
    index = f"CAST(least(ceil(ln({value}) / {LOG_GAMMA!r}), {MAX_BIN}) AS SMALLINT)"
    return f"(CASE WHEN {value} > {MIN_VALUE!r} THEN {index} ELSE {ZERO_BIN} END)"


def bin_value(index: int) -> float:
    """The value a bin stands for (relative error ≤ RELATIVE_ACCURACY for every value in it)."""
    if index == ZERO_BIN:
        return 0.0
    return 2 * GAMMA**index / (GAMMA + 1)


def bin_lower(index: int) -> float:
    """The bound every value of a bin is above (a bin holds (GAMMA**(index-1), GAMMA**index])."""
    return 0.0 if index == ZERO_BIN else float(GAMMA ** (index - 1))


def quantile(bins: Iterable[tuple[int, int]], q: float) -> float | None:
    """The `q` quantile (0..1) of a distribution given as (bin, count) pairs; None when empty."""
    ordered = sorted(bins)
    total = sum(n for _, n in ordered)
    if total == 0:
        return None
    rank = q * (total - 1)
    seen = 0
    for index, n in ordered:
        seen += n
        if seen > rank:
            return bin_value(index)
    return bin_value(ordered[-1][0])
