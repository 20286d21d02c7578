"""Unit tests for logwarden.model.timestamps.parse_timestamps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from logwarden.model.schema import TS_TYPE
from logwarden.model.timestamps import parse_timestamps

RECEIVED = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def parse(
    values: list[object] | pa.Array | pa.ChunkedArray,
    received: datetime = RECEIVED,
    type_: pa.DataType | None = None,
) -> list[datetime | None]:
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, type_)
    out = parse_timestamps(arr, received)
    assert isinstance(out, pa.Array)
    assert out.type == TS_TYPE
    assert len(out) == len(arr)
    result: list[datetime | None] = out.to_pylist()
    for value in result:
        if value is not None:
            assert value.utcoffset() == timedelta(0)
    return result


# Forms that the Arrow fast path may take when they are alone; appending one garbage value forces
# the DuckDB path, so every form is checked through both.
PATHS = pytest.mark.parametrize("path", ["alone", "with_garbage"])


def parse_one(text: str, path: str, received: datetime = RECEIVED) -> datetime | None:
    if path == "alone":
        (value,) = parse([text], received)
        return value
    value, garbage = parse([text, "certainly not a time"], received)
    assert garbage is None
    return value


# --- RFC 3339 / ISO 8601 -----------------------------------------------------------------------


@PATHS
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05Z", utc(2024, 1, 2, 3, 4, 5)),
        ("2024-01-02T03:04:05+02:00", utc(2024, 1, 2, 1, 4, 5)),
        ("2024-01-02T03:04:05-05:30", utc(2024, 1, 2, 8, 34, 5)),
        ("2024-01-02T03:04:05+0200", utc(2024, 1, 2, 1, 4, 5)),
        ("2024-01-02T03:04:05+00:00", utc(2024, 1, 2, 3, 4, 5)),
        ("2024-01-01T23:30:00-05:30", utc(2024, 1, 2, 5, 0, 0)),
        ("2024-01-02 03:04:05+02:00", utc(2024, 1, 2, 1, 4, 5)),
        ("2024-01-02T03:04:05.123Z", utc(2024, 1, 2, 3, 4, 5, 123000)),
        ("2024-01-02T03:04:05.123456Z", utc(2024, 1, 2, 3, 4, 5, 123456)),
        ("2024-01-02T03:04:05.123456789Z", utc(2024, 1, 2, 3, 4, 5, 123456)),
        ("2024-01-02T03:04:05.999999999Z", utc(2024, 1, 2, 3, 4, 5, 999999)),
        ("2024-01-02T03:04:05.123+02:00", utc(2024, 1, 2, 1, 4, 5, 123000)),
        ("2024-01-02T03:04:05.123456-05:30", utc(2024, 1, 2, 8, 34, 5, 123456)),
        ("2024-01-02T03:04:05.123456789+02:00", utc(2024, 1, 2, 1, 4, 5, 123456)),
        ("2024-01-02T03:04:05.5Z", utc(2024, 1, 2, 3, 4, 5, 500000)),
    ],
)
def test_rfc3339_with_offset(text: str, expected: datetime, path: str) -> None:
    assert parse_one(text, path) == expected


@PATHS
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05", utc(2024, 1, 2, 3, 4, 5)),
        ("2024-01-02 03:04:05", utc(2024, 1, 2, 3, 4, 5)),
        ("2024-01-02T03:04:05.123", utc(2024, 1, 2, 3, 4, 5, 123000)),
        ("2024-01-02 03:04:05.123456", utc(2024, 1, 2, 3, 4, 5, 123456)),
        ("2024-01-02 03:04:05.123456789", utc(2024, 1, 2, 3, 4, 5, 123456)),
    ],
)
def test_zoneless_iso_means_utc(text: str, expected: datetime, path: str) -> None:
    assert parse_one(text, path) == expected


@PATHS
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02 03:04:05,123", utc(2024, 1, 2, 3, 4, 5, 123000)),
        ("2024-01-02 03:04:05,007", utc(2024, 1, 2, 3, 4, 5, 7000)),
        ("2024-01-02 03:04:05,123456", utc(2024, 1, 2, 3, 4, 5, 123456)),
        ("2024-01-02T03:04:05,123Z", utc(2024, 1, 2, 3, 4, 5, 123000)),
    ],
)
def test_comma_milliseconds(text: str, expected: datetime, path: str) -> None:
    assert parse_one(text, path) == expected


def test_surrounding_whitespace_is_ignored_in_duckdb_path() -> None:
    assert parse(["  2024-01-02T03:04:05Z  ", " 1700000000 ", "x"]) == [
        utc(2024, 1, 2, 3, 4, 5),
        utc(2023, 11, 14, 22, 13, 20),
        None,
    ]


@PATHS
def test_rfc3339_lowercase_t_and_z(path: str) -> None:
    assert parse_one("2024-01-02t03:04:05z", path) == utc(2024, 1, 2, 3, 4, 5)


# --- epoch numbers -----------------------------------------------------------------------------


def test_epoch_integers_unit_by_magnitude() -> None:
    values = [
        1700000000,  # seconds
        1700000000123,  # milliseconds
        1700000000123456,  # microseconds
        1700000000123456789,  # nanoseconds (truncated to µs)
        0,
        -1,
        None,
    ]
    assert parse(values, type_=pa.int64()) == [
        utc(2023, 11, 14, 22, 13, 20),
        utc(2023, 11, 14, 22, 13, 20, 123000),
        utc(2023, 11, 14, 22, 13, 20, 123456),
        utc(2023, 11, 14, 22, 13, 20, 123456),
        utc(1970, 1, 1),
        utc(1969, 12, 31, 23, 59, 59),
        None,
    ]


@pytest.mark.parametrize("int_type", [pa.int32(), pa.uint32(), pa.int64(), pa.uint64()])
def test_epoch_seconds_any_integer_type(int_type: pa.DataType) -> None:
    assert parse([1700000000], type_=int_type) == [utc(2023, 11, 14, 22, 13, 20)]


def test_epoch_unit_thresholds() -> None:
    # 99_999_999_999 is still seconds (year 5138); 100_000_000_000 is already milliseconds.
    assert parse([99_999_999_999, 100_000_000_000], type_=pa.int64()) == [
        utc(5138, 11, 16, 9, 46, 39),
        utc(1973, 3, 3, 9, 46, 40),
    ]


def test_epoch_floats() -> None:
    values = [1700000000.25, 1700000000250.5, 1700000000.1234567, None, float("nan"), float("inf")]
    assert parse(values, type_=pa.float64()) == [
        utc(2023, 11, 14, 22, 13, 20, 250000),
        utc(2023, 11, 14, 22, 13, 20, 250500),
        utc(2023, 11, 14, 22, 13, 20, 123457),
        None,
        None,
        None,
    ]


def test_epoch_float32() -> None:
    assert parse([0.5], type_=pa.float32()) == [utc(1970, 1, 1, 0, 0, 0, 500000)]


@PATHS
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1700000000", utc(2023, 11, 14, 22, 13, 20)),
        ("1700000000123", utc(2023, 11, 14, 22, 13, 20, 123000)),
        ("1700000000123456", utc(2023, 11, 14, 22, 13, 20, 123456)),
        ("1700000000123456789", utc(2023, 11, 14, 22, 13, 20, 123456)),
        ("1700000000.25", utc(2023, 11, 14, 22, 13, 20, 250000)),
        ("1700000000250.5", utc(2023, 11, 14, 22, 13, 20, 250500)),
        ("0", utc(1970, 1, 1)),
        ("-1", utc(1969, 12, 31, 23, 59, 59)),
    ],
)
def test_epoch_digit_strings(text: str, expected: datetime, path: str) -> None:
    assert parse_one(text, path) == expected


# --- syslog ------------------------------------------------------------------------------------


@PATHS
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jan  5 03:04:05", utc(2024, 1, 5, 3, 4, 5)),
        ("Jan 5 03:04:05", utc(2024, 1, 5, 3, 4, 5)),
        ("Jan 15 03:04:05", utc(2024, 1, 15, 3, 4, 5)),
        ("Feb 29 23:59:59", utc(2024, 2, 29, 23, 59, 59)),
        ("Mar 10 12:00:00", utc(2024, 3, 10, 12, 0, 0)),
        ("Mar  1 00:00:00.250", utc(2024, 3, 1, 0, 0, 0, 250000)),
    ],
)
def test_syslog_year_from_received(text: str, expected: datetime, path: str) -> None:
    assert parse_one(text, path) == expected


def test_syslog_year_rollover() -> None:
    received = utc(2024, 1, 1, 0, 0, 5)
    assert parse(["Dec 31 23:59:59"], received) == [utc(2023, 12, 31, 23, 59, 59)]
    assert parse(["Dec 31 23:59:59", "Jan  1 00:00:01"], received) == [
        utc(2023, 12, 31, 23, 59, 59),
        utc(2024, 1, 1, 0, 0, 1),
    ]


def test_syslog_rollover_with_naive_received() -> None:
    assert parse(["Dec 31 23:59:59"], datetime(2024, 1, 1, 0, 0, 5)) == [utc(2023, 12, 31, 23, 59, 59)]


def test_syslog_future_dates() -> None:
    # The year is the one that puts the stamp nearest the receive time, but never more than a day ahead
    # of it: up to a day ahead is a fast clock in the same year; beyond that, last year's line.
    assert parse(["Mar 11 11:00:00", "Mar 11 13:00:00", "Mar 12 11:00:00", "Nov 30 00:00:00"]) == [
        utc(2024, 3, 11, 11, 0, 0),
        utc(2023, 3, 11, 13, 0, 0),
        utc(2023, 3, 12, 11, 0, 0),
        utc(2023, 11, 30, 0, 0, 0),
    ]


def test_syslog_clock_skew_across_new_year() -> None:
    assert parse(["Jan  1 00:00:01"], utc(2023, 12, 31, 23, 59, 59)) == [utc(2024, 1, 1, 0, 0, 1)]


def test_syslog_feb_29_of_previous_year() -> None:
    assert parse(["Feb 29 12:00:00"], utc(2025, 1, 10)) == [utc(2024, 2, 29, 12, 0, 0)]


# --- Apache ------------------------------------------------------------------------------------


@PATHS
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("02/Jan/2024:03:04:05 +0100", utc(2024, 1, 2, 2, 4, 5)),
        ("02/Jan/2024:03:04:05 -0700", utc(2024, 1, 2, 10, 4, 5)),
        ("31/Dec/2023:23:30:00 -0100", utc(2024, 1, 1, 0, 30, 0)),
    ],
)
def test_apache_common_log_format(text: str, expected: datetime, path: str) -> None:
    assert parse_one(text, path) == expected


# --- Arrow temporal input ----------------------------------------------------------------------


def test_arrow_timestamp_without_tz_is_utc() -> None:
    arr = pa.array([datetime(2024, 1, 2, 3, 4, 5, 123456), None], pa.timestamp("ns"))
    assert parse(arr) == [utc(2024, 1, 2, 3, 4, 5, 123456), None]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_arrow_timestamp_without_tz_any_unit(unit: str) -> None:
    assert parse(pa.array([datetime(2024, 1, 2, 3, 4, 5)], pa.timestamp(unit))) == [utc(2024, 1, 2, 3, 4, 5)]


@pytest.mark.parametrize(
    ("tz", "unit"), [("UTC", "us"), ("+02:00", "ms"), ("America/New_York", "s"), ("Asia/Kolkata", "ns")]
)
def test_arrow_timestamp_with_tz_keeps_instant(tz: str, unit: str) -> None:
    instant = utc(2024, 7, 2, 3, 4, 5)
    assert parse(pa.array([instant], pa.timestamp(unit, tz=tz))) == [instant]


def test_arrow_date() -> None:
    assert parse(pa.array([date(2024, 1, 2), None], pa.date32())) == [utc(2024, 1, 2), None]


def test_chunked_input() -> None:
    arr = pa.chunked_array([["2024-01-02T03:04:05Z"], ["Jan  5 03:04:05", "x"]], pa.string())
    assert parse(arr) == [utc(2024, 1, 2, 3, 4, 5), utc(2024, 1, 5, 3, 4, 5), None]


def test_large_string_input() -> None:
    arr = pa.array(["2024-01-02T03:04:05Z", "Jan  5 03:04:05"], pa.large_string())
    assert parse(arr) == [utc(2024, 1, 2, 3, 4, 5), utc(2024, 1, 5, 3, 4, 5)]


# --- garbage -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        "",
        "   ",
        "2024-02-30T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "12:00:00",
        "Foo 12 03:04:05",
        "32/Jan/2024:03:04:05 +0100",
        "yesterday",
    ],
)
def test_garbage_is_null(text: str) -> None:
    assert parse([text]) == [None]
    assert parse([text, "2024-01-02T03:04:05Z"]) == [None, utc(2024, 1, 2, 3, 4, 5)]


def test_all_null_and_empty() -> None:
    assert parse([None, None], type_=pa.string()) == [None, None]
    assert parse([], type_=pa.string()) == []
    assert parse([None, None], type_=pa.null()) == [None, None]


def test_unsupported_type_is_null() -> None:
    assert parse([True, False], type_=pa.bool_()) == [None, None]


# --- mixed forms -------------------------------------------------------------------------------


def test_mixed_forms_in_one_array() -> None:
    received = utc(2024, 1, 1, 0, 0, 5)
    values = [
        "2024-01-02T03:04:05Z",
        "2024-01-02T03:04:05.123456789+02:00",
        "2024-01-02T03:04:05-0530",
        "2024-01-02T03:04:05",
        "2024-01-02 03:04:05,123",
        "1700000000",
        "1700000000123",
        "1700000000123456",
        "1700000000123456789",
        "1700000000.25",
        "Jan  1 00:00:01",
        "Dec 31 23:59:59",
        "02/Jan/2024:03:04:05 +0100",
        None,
        "not a time",
    ]
    assert parse(values, received) == [
        utc(2024, 1, 2, 3, 4, 5),
        utc(2024, 1, 2, 1, 4, 5, 123456),
        utc(2024, 1, 2, 8, 34, 5),
        utc(2024, 1, 2, 3, 4, 5),
        utc(2024, 1, 2, 3, 4, 5, 123000),
        utc(2023, 11, 14, 22, 13, 20),
        utc(2023, 11, 14, 22, 13, 20, 123000),
        utc(2023, 11, 14, 22, 13, 20, 123456),
        utc(2023, 11, 14, 22, 13, 20, 123456),
        utc(2023, 11, 14, 22, 13, 20, 250000),
        utc(2024, 1, 1, 0, 0, 1),
        utc(2023, 12, 31, 23, 59, 59),
        utc(2024, 1, 2, 2, 4, 5),
        None,
        None,
    ]


def test_offset_and_zoneless_iso_mixed() -> None:
    # Neither Arrow cast accepts both, so this goes through DuckDB; zone-less still means UTC.
    assert parse(["2024-01-02T03:04:05+02:00", "2024-01-02T03:04:05"]) == [
        utc(2024, 1, 2, 1, 4, 5),
        utc(2024, 1, 2, 3, 4, 5),
    ]


def test_repeated_calls_reuse_connection_cleanly() -> None:
    # The DuckDB path registers and unregisters a view; a second call must not see the first's data.
    first = parse(["Jan  5 03:04:05", "x"])
    second = parse(["02/Jan/2024:03:04:05 +0100"] * 3)
    assert first == [utc(2024, 1, 5, 3, 4, 5), None]
    assert second == [utc(2024, 1, 2, 2, 4, 5)] * 3
