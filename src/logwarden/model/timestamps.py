"""Vectorized timestamp parsing into timestamp[us, UTC].

Accepted forms: RFC 3339 / ISO 8601 with or without offset (zone-less means UTC), `T` or space
separator, any fraction; `YYYY-MM-DD HH:MM:SS,mmm`; epoch seconds, milliseconds, microseconds or
nanoseconds (numbers or digit strings, unit chosen by magnitude); syslog `Mmm dd HH:MM:SS` (year
inferred from the receive time, never more than a day ahead of it); Apache `dd/Mmm/YYYY:HH:MM:SS ±zzzz`.
Unparseable values → null, and so are times outside the supported range (years 1 to 9999, SUPPORTED_MIN
and SUPPORTED_MAX): no number, however large, wraps around or raises.

The common case (one ISO form with an offset per batch) is a single Arrow cast; anything else goes
through one DuckDB expression over the whole column, so no path is per-line Python.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.schema import TS_TYPE
from logwarden.model.scratch_db import thread_scratch_connection

# Magnitude thresholds that pick the epoch unit: below 1e11 seconds (until year 5138), below 1e14
# milliseconds, below 1e17 microseconds, above that nanoseconds.
_SECONDS_MAX = 100_000_000_000
_MILLIS_MAX = 100_000_000_000_000
_MICROS_MAX = 100_000_000_000_000_000

# The instants logwarden can store and show: what Python's datetime (and so every API answer) can hold.
SUPPORTED_MIN = datetime(1, 1, 1, tzinfo=UTC)
SUPPORTED_MAX = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
_MIN_US = -62_135_596_800_000_000  # SUPPORTED_MIN in microseconds since the epoch
_MAX_US = 253_402_300_799_999_999  # SUPPORTED_MAX
# A syslog stamp without a year is put in the year that brings it nearest the receive time, but never
# further ahead of it than this (a sender's clock may run a little fast; a December stamp received in
# January is last year's).
SYSLOG_MAX_AHEAD = timedelta(days=1)


def parse_timestamps(values: pa.Array | pa.ChunkedArray, received: datetime) -> pa.Array:
    """Parse a column of timestamps of any supported type; unparseable, missing or unsupported → null."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return supported_only(_parse(values, received))


def _parse(values: pa.Array, received: datetime) -> pa.Array:
    t = values.type
    if pa.types.is_timestamp(t):
        return _to_utc_us(values)
    if pa.types.is_date(t):
        return _to_utc_us(pc.cast(values, pa.timestamp("s" if pa.types.is_date32(t) else "ms")))
    if pa.types.is_integer(t):
        if pa.types.is_uint64(t):
            # Above the int64 range is no time we can store anyway.
            values = pc.if_else(pc.less_equal(values, pa.scalar(2**63 - 1, pa.uint64())), values, None)
        return _epoch_int(pc.cast(values, pa.int64()))
    if pa.types.is_floating(t):
        return _epoch_float(pc.cast(values, pa.float64()))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _parse_strings(pc.cast(values, pa.string()), received)
    return pa.nulls(len(values), TS_TYPE)


def supported_only(values: pa.Array) -> pa.Array:
    """timestamp[us, UTC] values with everything outside [SUPPORTED_MIN, SUPPORTED_MAX] set to null."""
    micros = values.view(pa.int64())
    inside = pc.and_(pc.greater_equal(micros, _MIN_US), pc.less_equal(micros, _MAX_US))
    if pc.all(pc.fill_null(inside, True)).as_py():
        return values
    return pc.if_else(inside, values, pa.scalar(None, TS_TYPE))


def _to_utc_us(values: pa.Array) -> pa.Array:
    """Any timestamp unit and zone → timestamp[us, UTC]; times that do not fit in microseconds → null."""
    t = values.type
    raw = values.view(pa.int64())
    if t.unit in ("s", "ms"):
        # Coarser units can hold times whose microsecond count overflows int64: null them before the cast.
        per_unit = 1_000_000 if t.unit == "s" else 1_000
        fits = pc.and_(pc.greater_equal(raw, _MIN_US // per_unit), pc.less_equal(raw, _MAX_US // per_unit))
        raw = pc.multiply(pc.if_else(fits, raw, None), per_unit)
    elif t.unit == "ns":
        raw = pc.divide(raw, 1000)  # sub-microsecond digits are cut, as everywhere
    # Zone-less means UTC; a zone only changes how the same instant is shown.
    return pc.cast(raw, pa.timestamp("us")).cast(TS_TYPE)


def _epoch_int(v: pa.Array) -> pa.Array:
    # abs() of the smallest int64 wraps to itself; it is no time anyway.
    v = pc.if_else(pc.equal(v, -(2**63)), None, v)
    mag = pc.abs(v)
    micros = pc.if_else(
        pc.less(mag, _SECONDS_MAX),
        pc.multiply(v, 1_000_000),
        pc.if_else(
            pc.less(mag, _MILLIS_MAX),
            pc.multiply(v, 1_000),
            pc.if_else(pc.less(mag, _MICROS_MAX), v, pc.divide(v, 1_000)),
        ),
    )
    return pc.cast(micros, pa.timestamp("us")).cast(TS_TYPE)


def _epoch_float(v: pa.Array) -> pa.Array:
    mag = pc.abs(v)
    factor = pc.if_else(
        pc.less(mag, float(_SECONDS_MAX)),
        1e6,
        pc.if_else(pc.less(mag, float(_MILLIS_MAX)), 1e3, pc.if_else(pc.less(mag, float(_MICROS_MAX)), 1.0, 1e-3)),
    )
    micros = pc.round(pc.multiply(v, factor))
    # NaN, infinities and magnitudes no int64 holds (1e308) are no time: null before the cast.
    fits = pc.and_(pc.greater_equal(micros, float(_MIN_US)), pc.less_equal(micros, float(_MAX_US)))
    micros = pc.if_else(fits, micros, None)
    return pc.cast(pc.cast(micros, pa.int64()), pa.timestamp("us")).cast(TS_TYPE)


def _parse_strings(values: pa.Array, received: datetime) -> pa.Array:
    try:
        # Fast path: every value is ISO 8601 with an offset or Z.
        return pc.cast(values, TS_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        # Second fast path: every value is zone-less ISO 8601, which means UTC.
        return pc.cast(pc.cast(values, pa.timestamp("us")), TS_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    return _parse_strings_duckdb(values, received)


_EPOCH_MICROS_SQL = (
    "CASE WHEN abs({v}) < {s} THEN {v} * 1000000 WHEN abs({v}) < {ms} THEN {v} * 1000 "
    "WHEN abs({v}) < {us} THEN {v} ELSE {v} // 1000 END"
)

_SYSLOG_FORMATS = "['%Y %b %d %H:%M:%S', '%Y %b %d %H:%M:%S.%f']"

_STRINGS_SQL = f"""
WITH src AS (SELECT trim(s) AS s, regexp_replace(trim(s), '\\s+', ' ', 'g') AS squeezed FROM ts_values),
parsed AS (
  SELECT CASE
    -- TRY: numbers too large for a timestamp (or for abs() and the unit multiplication) are no time.
    WHEN regexp_full_match(s, '-?\\d{{1,19}}') THEN TRY(make_timestamp(
        ({_EPOCH_MICROS_SQL.format(v="TRY_CAST(s AS BIGINT)", s=_SECONDS_MAX, ms=_MILLIS_MAX, us=_MICROS_MAX)})
      ))::TIMESTAMPTZ
    WHEN regexp_full_match(s, '-?\\d+\\.\\d+') THEN TRY(make_timestamp(TRY_CAST(round(
        TRY_CAST(s AS DOUBLE) * CASE WHEN abs(TRY_CAST(s AS DOUBLE)) < {_SECONDS_MAX} THEN 1e6
          WHEN abs(TRY_CAST(s AS DOUBLE)) < {_MILLIS_MAX} THEN 1e3
          WHEN abs(TRY_CAST(s AS DOUBLE)) < {_MICROS_MAX} THEN 1 ELSE 1e-3 END) AS BIGINT)))::TIMESTAMPTZ
    ELSE coalesce(
      -- RFC 3339 allows lower-case t and z; a comma may separate the fraction.
      TRY_CAST(regexp_replace(upper(s), '^(\\d{{4}}-\\d\\d-\\d\\d[ T]\\d\\d:\\d\\d:\\d\\d),(\\d+)', '\\1.\\2')
        AS TIMESTAMPTZ),
      try_strptime(s, '%d/%b/%Y:%H:%M:%S %z')::TIMESTAMPTZ,
      try_strptime(squeezed, ['%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M:%S.%f'])::TIMESTAMPTZ,
      -- Syslog stamps carry no year: take the year that puts the stamp nearest the receive time without
      -- putting it more than SYSLOG_MAX_AHEAD after it (`Dec 10` received on Dec 6 is last year's).
      (SELECT arg_min(t, abs(epoch(t) - epoch($received))) FROM (
        SELECT unnest([
          try_strptime(CAST(year($received) - 1 AS VARCHAR) || ' ' || squeezed, {_SYSLOG_FORMATS})::TIMESTAMPTZ,
          try_strptime(CAST(year($received) AS VARCHAR) || ' ' || squeezed, {_SYSLOG_FORMATS})::TIMESTAMPTZ,
          try_strptime(CAST(year($received) + 1 AS VARCHAR) || ' ' || squeezed, {_SYSLOG_FORMATS})::TIMESTAMPTZ
        ]) AS t) WHERE t IS NOT NULL AND t <= $received + INTERVAL {int(SYSLOG_MAX_AHEAD.total_seconds())} SECOND)
    )
  END AS ts FROM src
)
SELECT ts FROM parsed
"""


def _parse_strings_duckdb(values: pa.Array, received: datetime) -> pa.Array:
    con = thread_scratch_connection()
    con.register("ts_values", pa.table({"s": values}))
    try:
        out = con.sql(_STRINGS_SQL, params={"received": received}).to_arrow_table()
    finally:
        con.unregister("ts_values")
    return _to_utc_us(out.column("ts").combine_chunks())
