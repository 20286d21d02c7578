"""start/end parsing: relative times both ways, and every instant bounded to years 1..9999."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from logwarden.query.timerange import MAX_TIME, MIN_TIME, TimeRangeError, parse_range, parse_time

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def at(value: str) -> datetime:
    return parse_time(value, NOW, default=NOW, name="start")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("now", NOW),
        ("15m", NOW - timedelta(minutes=15)),
        ("now-2h", NOW - timedelta(hours=2)),
        ("now+30d", NOW + timedelta(days=30)),
        ("now+1h", NOW + timedelta(hours=1)),
        ("+500ms", NOW + timedelta(milliseconds=500)),
        ("now - 1w", NOW - timedelta(weeks=1)),
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("1700000000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("9999-12-31T23:59:59Z", MAX_TIME),
        ("0001-01-01T00:00:00Z", MIN_TIME),
    ],
)
def test_accepted_times(value: str, expected: datetime) -> None:
    assert at(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "99999999999999999999",  # epoch milliseconds far past year 9999
        "now-1000000d",  # before year 1
        "now+3000000d",  # after year 9999
        "now-99999999999999999999d",  # overflows timedelta
        "now-" + "9" * 5000 + "d",  # more digits than int() accepts
        "9" * 5000,
        "0001-01-01T00:00:00+01:00",  # year 0 in UTC
        "9999-12-31T23:59:59.5Z",  # past the last representable second
        "10000-01-01T00:00:00Z",
        "²³",  # str.isdigit() but not a number
    ],
)
def test_out_of_range_times_name_the_parameter(value: str) -> None:
    with pytest.raises(TimeRangeError, match=r"^invalid start '") as caught:
        at(value)
    assert len(str(caught.value)) < 300  # a huge input is not echoed whole


def test_until_in_the_future() -> None:
    start, end = parse_range("now-1h", "now+30d", NOW)
    assert (start, end) == (NOW - timedelta(hours=1), NOW + timedelta(days=30))


def test_default_start_is_clamped_for_a_huge_default_span() -> None:
    start, _ = parse_range(None, None, NOW, default_span=timedelta(days=999_999_999))
    assert start == MIN_TIME
