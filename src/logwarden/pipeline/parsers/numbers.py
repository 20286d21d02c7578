"""Text → number conversions for parser outputs (`%{NUMBER:bytes:int}`, access-log status and size)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

_INT = r"^\s*[+-]?[0-9]{1,18}\s*$"
_FLOAT = r"^\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*$"
_INT64_LIMIT = 9.2e18


def to_float(values: pa.Array) -> pa.Array:
    """float64 of numeric texts; anything else → null."""
    if not pa.types.is_string(values.type):
        return pc.cast(values, pa.float64())
    ok = pc.fill_null(pc.match_substring_regex(values, _FLOAT), False)
    return pc.cast(pc.if_else(ok, pc.utf8_trim_whitespace(values), pa.scalar(None, pa.string())), pa.float64())


def to_int(values: pa.Array) -> pa.Array:
    """int64 of integer texts (decimals truncated, like Logstash); anything else → null."""
    if not pa.types.is_string(values.type):
        return pc.cast(values, pa.int64(), safe=False)
    ok = pc.fill_null(pc.match_substring_regex(values, _INT), False)
    ints = pc.cast(pc.if_else(ok, pc.utf8_trim_whitespace(values), pa.scalar(None, pa.string())), pa.int64())
    if pc.all(pc.or_(ok, pc.is_null(values))).as_py():
        return ints
    floats = to_float(values)
    in_range = pc.fill_null(pc.less(pc.abs(floats), _INT64_LIMIT), False)
    truncated = pc.cast(pc.if_else(in_range, pc.trunc(floats), pa.scalar(None, pa.float64())), pa.int64())
    return pc.coalesce(ints, truncated)
