"""SQL result values as JSON: what JSON (and Python's datetime) can hold as is, everything else as a string.

DuckDB can return values no JSON document holds: dates and timestamps outside years 1–9999 (`infinity`,
`10000-01-01`), NaN and ±Infinity, integers wider than 64 bits and decimals a double cannot carry exactly.
Each such value becomes a string (`"infinity"`, `"10000-01-01"`, `"NaN"`, `"12345678901234567890123"`); every
other value keeps its JSON type. Columns are converted per Arrow type, recursing into lists, structs and maps;
only the rare out-of-range values take a per-value path.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

_INT64_MAX = 2**63 - 1
# Python's datetime covers 0001-01-01 .. 9999-12-31; as days and seconds from 1970-01-01.
_MIN_DAY = -719_162
_MAX_DAY = 2_932_896
_MIN_SECOND = _MIN_DAY * 86_400
_MAX_SECOND = (_MAX_DAY + 1) * 86_400 - 1
_UNITS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
# DuckDB stores ±infinity as the extreme values of the physical type.
_DATE_INFINITY = 2**31 - 1


def rows_json(table: pa.Table, integer_text: frozenset[int] = frozenset()) -> bytes:
    """The rows of `table` as a JSON array of arrays (timestamps RFC 3339 in UTC, `Z`).

    Columns at the positions in `integer_text` hold integers as text (too wide for Arrow): numbers again
    where 64 bits hold them.
    """
    columns = [
        _integers_from_text(chunked.to_pylist()) if i in integer_text else column_values(chunked.combine_chunks())
        for i, chunked in enumerate(table.columns)
    ]
    if not columns:
        return b"[]"
    # Row by row: orjson reserves several times a string's length while writing it, so one document of
    # every row would need that for the whole answer at once.
    option = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
    rows = (orjson.dumps(list(row), default=json_fallback, option=option) for row in zip(*columns, strict=True))
    return b"[" + b",".join(rows) + b"]"


def column_values(arr: pa.Array) -> list[Any]:
    """JSON-ready Python values of one Arrow array (see the module docstring for what becomes a string)."""
    t = arr.type
    if pa.types.is_dictionary(t):
        return column_values(arr.dictionary_decode())
    if pa.types.is_timestamp(t):
        return _temporal(arr, pa.int64(), _timestamp_text(t.unit), _in_second_range(t.unit))
    if pa.types.is_date32(t):
        return _temporal(arr, pa.int32(), _date_text, lambda v: _MIN_DAY <= v <= _MAX_DAY)
    if pa.types.is_date64(t):
        return _temporal(arr, pa.int64(), _timestamp_text("ms"), _in_second_range("ms"))
    if pa.types.is_time(t):
        return _temporal(arr, pa.int64(), _time_text(t.unit), lambda v: 0 <= v < 86_400 * _UNITS_PER_SECOND[t.unit])
    if pa.types.is_floating(t):
        return [_float(v) for v in arr.to_pylist()]
    if pa.types.is_decimal(t):
        return [_decimal(v) for v in arr.to_pylist()]
    if pa.types.is_map(t):
        return _map(arr)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _list(arr)
    if pa.types.is_struct(t):
        return _struct(arr)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return [None if v is None else v.hex() for v in arr.to_pylist()]
    try:
        return [_integer(v) if type(v) is int else v for v in arr.to_pylist()]
    except (ValueError, OverflowError, TypeError, NotImplementedError, pa.ArrowException):
        # A type we do not know how to show: its text is better than no answer.
        return [None if s is None else str(s) for s in arr.cast(pa.string(), safe=False).to_pylist()]


def _temporal(
    arr: pa.Array, physical: pa.DataType, text: Callable[[int], str], in_range: Callable[[int], bool]
) -> list[Any]:
    raw = arr.view(physical).to_pylist()
    if all(v is None or in_range(v) for v in raw):
        return arr.to_pylist()  # type: ignore[no-any-return]
    # Mask the values Python cannot hold, convert the rest in one go, then spell out the masked ones.
    mask = pa.array([v is not None and not in_range(v) for v in raw], pa.bool_())
    kept = pc.if_else(mask, pa.scalar(None, arr.type), arr).to_pylist()
    return [text(v) if v is not None and not in_range(v) else k for v, k in zip(raw, kept, strict=True)]


def _in_second_range(unit: str) -> Callable[[int], bool]:
    per = _UNITS_PER_SECOND[unit]
    low, high = max(_MIN_SECOND * per, -_INT64_MAX + 1), min(_MAX_SECOND * per + (per - 1), _INT64_MAX - 1)
    if unit == "ns":
        # datetime stops at microseconds: a timestamp with nanoseconds is spelled out as text.
        return lambda v: low <= v <= high and v % 1000 == 0
    return lambda v: low <= v <= high


def _civil(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day count from 1970-01-01, for any year (H. Hinnant's civil_from_days)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _date_text(days: int) -> str:
    if days >= _DATE_INFINITY:
        return "infinity"
    if days <= -_DATE_INFINITY:
        return "-infinity"
    year, month, day = _civil(days)
    return f"{year:04d}-{month:02d}-{day:02d}" if year > 0 else f"{1 - year:04d}-{month:02d}-{day:02d} (BC)"


def _timestamp_text(unit: str) -> Callable[[int], str]:
    per = _UNITS_PER_SECOND[unit]

    def text(value: int) -> str:
        if value >= _INT64_MAX:
            return "infinity"
        if value <= -_INT64_MAX:
            return "-infinity"
        seconds, fraction = divmod(value, per)
        days, second_of_day = divmod(seconds, 86_400)
        clock = _clock(second_of_day, fraction, per)
        date = _date_text(days)
        if date.endswith(" (BC)"):
            return f"{date[:-5]}T{clock}Z (BC)"
        return f"{date}T{clock}Z"

    return text


def _time_text(unit: str) -> Callable[[int], str]:
    per = _UNITS_PER_SECOND[unit]
    return lambda value: _clock(*divmod(value, per), per)


def _clock(seconds: int, fraction: int, per: int) -> str:
    hours, rest = divmod(seconds, 3600)
    text = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    if fraction:
        digits = len(str(per)) - 1
        text += "." + f"{fraction:0{digits}d}".rstrip("0")
    return text


def _integers_from_text(values: list[str | None]) -> list[int | str | None]:
    return [None if v is None else _integer(int(v)) for v in values]


def _float(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _integer(value: int) -> int | str:
    # orjson writes 64-bit integers; anything wider (HUGEINT, UHUGEINT) becomes its decimal text.
    return value if -(2**63) <= value < 2**64 else str(value)


def _decimal(value: Decimal | None) -> int | float | str | None:
    if value is None:
        return None
    if not value.is_finite():
        return str(value)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and (exponent >= 0 or value == value.to_integral_value()):
        integral = int(value)
        return integral if -(2**63) <= integral < 2**63 else str(value)
    as_float = float(value)
    # A number only when the double reads back as the same decimal; otherwise the exact text.
    return as_float if Decimal(repr(as_float)) == value else str(value)


def _list(arr: pa.Array) -> list[Any]:
    values = column_values(arr.values)
    if pa.types.is_fixed_size_list(arr.type):
        size = arr.type.list_size
        starts = [(arr.offset + i) * size for i in range(len(arr))]
        bounds = [(s, s + size) for s in starts]
    else:
        offsets = arr.offsets.to_pylist()
        bounds = list(itertools.pairwise(offsets))
    valid = arr.is_valid().to_pylist()
    return [values[a:b] if ok else None for (a, b), ok in zip(bounds, valid, strict=True)]


def _struct(arr: pa.Array) -> list[Any]:
    names = [arr.type.field(i).name for i in range(arr.type.num_fields)]
    fields = [column_values(child) for child in arr.flatten()]
    valid = arr.is_valid().to_pylist()
    return [
        dict(zip(names, values, strict=True)) if ok else None
        for ok, values in zip(valid, zip(*fields, strict=True) if fields else [()] * len(arr), strict=True)
    ]


def _map(arr: pa.Array) -> list[Any]:
    keys = column_values(arr.keys)
    items = column_values(arr.items)
    offsets = arr.offsets.to_pylist()
    valid = arr.is_valid().to_pylist()
    # As [key, value] pairs: map keys need not be strings, and JSON object keys must be.
    return [
        [[keys[i], items[i]] for i in range(a, b)] if ok else None
        for a, b, ok in zip(offsets[:-1], offsets[1:], valid, strict=True)
    ]


def json_fallback(value: Any) -> Any:
    """orjson's fallback for the values Arrow gives as Python objects JSON has no type for."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)
