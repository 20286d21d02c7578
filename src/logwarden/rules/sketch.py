"""Numbers read from log fields, and the log-bucketed histogram bins percentiles are computed from (rules/numeric.py).

**Numbers.** A field's values come as text (rules/fields.py) and are read as decimal numbers (`numbers`, vectorized):
JSON numbers and numeric text (`"12.5"`) count; anything else — words, booleans, NaN, infinities — is no number.

**Bins**, in the manner of DDSketch: bin `i` holds the magnitudes in (γ^(i-1), γ^i] with γ = 1.01/0.99, so every
value of a bin is within 1% of the bin's representative value; negative values mirror positive ones and magnitudes
up to 1e-9 share a zero bin.
"""

from __future__ import annotations

import math
import sys

import pyarrow as pa
import pyarrow.compute as pc

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
MIN_MAGNITUDE = 1e-9  # values closer to 0 than this share the zero bin
MAX_BINS = 2048  # per group and bucket: 1% bins from 1e-3 to 1e6 need about 1050
PERCENTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}

_LN_GAMMA = math.log(GAMMA)
_OFFSET = 1 - math.ceil(math.log(MIN_MAGNITUDE) / _LN_GAMMA)  # bin codes of indexable magnitudes start at 1
_LN_MAX = math.log(sys.float_info.max)
MAX_CODE = math.ceil(_LN_MAX / _LN_GAMMA) + _OFFSET  # the code of the largest float64
_NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"


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
