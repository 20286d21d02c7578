"""Time intervals: Alertmanager's semantics on fixed instants — zones, daylight saving time in Europe/Berlin,
Asia/Shanghai, month ends counted from the end, the leap day, `24:00` — and the muter routes use."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from logwarden.alerting.config import TimeInterval, TimeSpec
from logwarden.alerting.mute.time import TimeIntervalMuter, compile_spec, contains


def interval(name: str = "i", **spec: Any) -> TimeInterval:
    return TimeInterval(name=name, time_intervals=[TimeSpec(**spec)])


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def minutes_inside(spec: TimeSpec, start: datetime, hours: int = 24) -> list[datetime]:
    """Every minute of the `hours` real hours from `start` (UTC) that the spec holds."""
    compiled = compile_spec(spec)
    minutes = (start + timedelta(minutes=m) for m in range(hours * 60))
    return [minute for minute in minutes if compiled.contains(minute)]


def test_business_hours_in_shanghai() -> None:
    hours = interval(
        weekdays=["monday:friday"], times=[{"start_time": "09:00", "end_time": "17:00"}], location="Asia/Shanghai"
    )
    # 2026-03-02 is a Monday; Shanghai is UTC+8 all year.
    assert contains(hours, at("2026-03-02T01:00:00"))  # 09:00 there
    assert not contains(hours, at("2026-03-02T00:59:59"))  # 08:59
    assert contains(hours, at("2026-03-02T08:59:59"))  # 16:59:59: seconds are ignored, the minute counts
    assert not contains(hours, at("2026-03-02T09:00:00"))  # 17:00: the end is exclusive
    # Sunday 23:30 in UTC is Monday 07:30 there: the weekday is right, the time is not.
    assert not contains(hours, at("2026-03-01T23:30:00"))
    # Sunday 01:30 in UTC is Sunday 09:30 there, and Friday 16:00 in UTC is Saturday 00:00 there.
    assert not contains(hours, at("2026-03-01T01:30:00"))
    assert not contains(hours, at("2026-03-06T16:00:00"))
    assert contains(hours, at("2026-03-06T08:30:00"))  # Friday 16:30 there


def test_an_instant_in_another_zone_is_the_same_instant() -> None:
    hours = interval(times=[{"start_time": "09:00", "end_time": "10:00"}], location="Asia/Shanghai")
    instant = datetime.fromisoformat("2026-03-02T09:30:00+08:00")
    assert contains(hours, instant) and contains(hours, instant.astimezone(UTC))
    assert contains(hours, datetime(2026, 3, 2, 1, 30))  # naive: UTC


def test_spring_forward_in_berlin_skips_the_missing_hour() -> None:
    # 2026-03-29: at 01:00 UTC Berlin goes from 02:00 CET to 03:00 CEST; 02:00-03:00 does not exist that day.
    day = at("2026-03-29T00:00:00")
    missing = TimeSpec(times=[{"start_time": "02:00", "end_time": "03:00"}], location="Europe/Berlin")
    assert minutes_inside(missing, day) == []
    # 01:00-04:00 local lasts two real hours that day: 00:00-02:00 UTC.
    span = TimeSpec(times=[{"start_time": "01:00", "end_time": "04:00"}], location="Europe/Berlin")
    inside = minutes_inside(span, day, hours=12)
    assert len(inside) == 120
    assert (inside[0], inside[-1]) == (at("2026-03-29T00:00:00"), at("2026-03-29T01:59:00"))
    # The day before, the same local hours are three real hours.
    assert len(minutes_inside(span, at("2026-03-28T00:00:00"), hours=12)) == 180


def test_fall_back_in_berlin_holds_the_repeated_hour_twice() -> None:
    # 2026-10-25: at 01:00 UTC Berlin goes from 03:00 CEST back to 02:00 CET; 02:00-03:00 happens twice.
    twice = TimeSpec(times=[{"start_time": "02:00", "end_time": "03:00"}], location="Europe/Berlin")
    inside = minutes_inside(twice, at("2026-10-25T00:00:00"))
    assert len(inside) == 120
    assert (inside[0], inside[-1]) == (at("2026-10-25T00:00:00"), at("2026-10-25T01:59:00"))
    # In summer time 02:00 Berlin is 00:00 UTC; in winter time, 01:00 UTC.
    summer = TimeSpec(times=[{"start_time": "02:00", "end_time": "02:01"}], location="Europe/Berlin")
    assert minutes_inside(summer, at("2026-07-01T00:00:00")) == [at("2026-07-01T00:00:00")]
    assert minutes_inside(summer, at("2026-12-01T00:00:00")) == [at("2026-12-01T01:00:00")]


def test_weekday_in_berlin_follows_local_midnight_across_dst() -> None:
    sunday = interval(weekdays=["sunday"], location="Europe/Berlin")
    assert contains(sunday, at("2026-03-28T23:00:00"))  # 00:00 CET Sunday
    assert not contains(sunday, at("2026-03-28T22:59:00"))
    assert contains(sunday, at("2026-03-29T21:59:00"))  # 23:59 CEST Sunday
    assert not contains(sunday, at("2026-03-29T22:00:00"))  # 00:00 CEST Monday


@pytest.mark.parametrize(
    ("days", "instant", "expected"),
    [
        (["-1"], "2026-02-28T12:00:00", True),  # the last day of February 2026
        (["-1"], "2026-02-27T12:00:00", False),
        (["-1"], "2026-03-31T12:00:00", True),
        (["-1"], "2026-03-30T12:00:00", False),
        (["-1"], "2026-04-30T12:00:00", True),
        (["-1"], "2028-02-29T12:00:00", True),  # a leap day is the last day
        (["-1"], "2028-02-28T12:00:00", False),
        (["-2"], "2028-02-28T12:00:00", True),
        (["29"], "2028-02-29T12:00:00", True),
        (["-3:-1"], "2028-02-27T12:00:00", True),
        (["-3:-1"], "2028-02-26T12:00:00", False),
        (["-3:-1"], "2026-02-26T12:00:00", True),  # 26, 27, 28 in a common year
        (["1:-1"], "2026-02-28T23:59:00", True),  # every day
        (["1:-1"], "2026-02-01T00:00:00", True),
        (["25:31"], "2026-02-28T12:00:00", True),  # clamped to the month's end
        (["31"], "2026-04-30T12:00:00", False),  # no 31st in April: never
        (["31"], "2026-05-31T12:00:00", True),
        (["1", "15"], "2026-05-15T00:00:00", True),
        (["1", "15"], "2026-05-14T23:59:00", False),
    ],
)
def test_days_of_month(days: list[str], instant: str, expected: bool) -> None:
    assert contains(interval(days_of_month=days), at(instant)) is expected


def test_the_last_day_of_the_month_is_the_local_one() -> None:
    last = interval(days_of_month=["-1"], location="Asia/Shanghai")
    assert contains(last, at("2026-02-28T15:59:00"))  # 23:59 on the 28th there
    assert not contains(last, at("2026-02-28T16:00:00"))  # already 1 March there
    assert contains(last, at("2026-03-31T15:00:00"))
    leap = interval(days_of_month=["29"], months=["february"], location="Asia/Shanghai")
    assert contains(leap, at("2028-02-28T16:00:00"))  # 00:00 on 29 February there
    assert not contains(leap, at("2028-02-28T15:59:00"))


def test_24_00_ends_the_day() -> None:
    evening = interval(times=[{"start_time": "22:00", "end_time": "24:00"}])
    assert contains(evening, at("2026-03-02T22:00:00"))
    assert contains(evening, at("2026-03-02T23:59:59"))
    assert not contains(evening, at("2026-03-03T00:00:00"))
    assert not contains(evening, at("2026-03-02T21:59:59"))
    whole = TimeSpec(times=[{"start_time": "00:00", "end_time": "24:00"}], location="Europe/Berlin")
    assert len(minutes_inside(whole, at("2026-03-02T00:00:00"))) == 24 * 60


def test_weekdays_months_and_years_by_name_number_and_range() -> None:
    weekend = interval(weekdays=["saturday", "sunday"])
    by_number = interval(weekdays=["0", "6"])  # 0 is Sunday, as in Alertmanager
    for day in range(1, 8):  # 2026-03-01 (Sunday) … 2026-03-07 (Saturday)
        instant = at(f"2026-03-0{day}T12:00:00")
        assert contains(weekend, instant) is (day in (1, 7))
        assert contains(by_number, instant) is (day in (1, 7))
    workdays = interval(weekdays=["Monday:Friday"])
    assert [contains(workdays, at(f"2026-03-0{d}T12:00:00")) for d in range(1, 8)] == [False] + [True] * 5 + [False]
    quarter = interval(months=["january:march", "12"])
    assert [contains(quarter, at(f"2026-{m:02d}-15T12:00:00")) for m in range(1, 13)] == [True] * 3 + [False] * 8 + [
        True
    ]
    years = interval(years=["2026:2027"])
    assert contains(years, at("2026-01-01T00:00:00")) and contains(years, at("2027-12-31T23:59:00"))
    assert not contains(years, at("2025-12-31T23:59:00")) and not contains(years, at("2028-01-01T00:00:00"))


def test_every_set_field_must_hold_and_any_period_may() -> None:
    march_mondays = interval(weekdays=["monday"], months=["march"])
    assert contains(march_mondays, at("2026-03-02T12:00:00"))
    assert not contains(march_mondays, at("2026-04-06T12:00:00"))  # a Monday in April
    assert not contains(march_mondays, at("2026-03-03T12:00:00"))  # a Tuesday in March
    either = TimeInterval(
        name="either",
        time_intervals=[
            TimeSpec(weekdays=["saturday"]),
            TimeSpec(times=[{"start_time": "00:00", "end_time": "06:00"}]),
        ],
    )
    assert contains(either, at("2026-03-07T12:00:00"))  # Saturday noon
    assert contains(either, at("2026-03-03T05:59:00"))  # Tuesday night
    assert not contains(either, at("2026-03-03T06:00:00"))
    assert contains(interval(), at("2026-03-03T06:00:00"))  # nothing set: always


@pytest.fixture
def server_zone() -> Iterator[None]:
    """The process's local zone set to Asia/Shanghai for one test (`Local` reads it)."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Shanghai"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


def test_local_is_the_servers_zone(server_zone: None) -> None:
    local = interval(times=[{"start_time": "09:00", "end_time": "10:00"}], location="Local")
    assert contains(local, at("2026-03-02T01:30:00"))  # 09:30 in Shanghai
    assert not contains(local, at("2026-03-02T09:30:00"))


# --- the muter -----------------------------------------------------------------------------------------------

INTERVALS = {
    "business-hours": interval(
        "business-hours",
        weekdays=["monday:friday"],
        times=[{"start_time": "09:00", "end_time": "18:00"}],
        location="Europe/Berlin",
    ),
    "maintenance": interval("maintenance", weekdays=["tuesday"], times=[{"start_time": "02:00", "end_time": "04:00"}]),
    "new-year": interval("new-year", months=["january"], days_of_month=["1"]),
}
LABELS = {"alertname": "error-burst", "tenant": "default"}


def test_active_intervals_mute_outside_them() -> None:
    muter = TimeIntervalMuter(INTERVALS, active=["business-hours"], mute=[])
    assert not muter.mutes(LABELS, at("2026-03-02T08:00:00"))  # Monday 09:00 CET
    assert muter.muted_by(LABELS, at("2026-03-02T08:00:00")) == []
    assert muter.mutes(LABELS, at("2026-03-02T17:00:00"))  # Monday 18:00 CET
    assert muter.muted_by(LABELS, at("2026-03-02T17:00:00")) == ["business-hours"]
    assert muter.mutes({}, at("2026-03-07T10:00:00"))  # Saturday; labels do not matter
    # Either active interval is enough.
    both = TimeIntervalMuter(INTERVALS, active=["business-hours", "maintenance"], mute=[])
    assert not both.mutes(LABELS, at("2026-03-03T03:00:00"))  # Tuesday 03:00 UTC: maintenance
    assert both.muted_by(LABELS, at("2026-03-07T10:00:00")) == ["business-hours", "maintenance"]


def test_mute_intervals_mute_inside_them() -> None:
    muter = TimeIntervalMuter(INTERVALS, active=[], mute=["maintenance", "new-year"])
    assert muter.mutes(LABELS, at("2026-03-03T02:00:00"))
    assert muter.muted_by(LABELS, at("2026-03-03T02:00:00")) == ["maintenance"]
    assert not muter.mutes(LABELS, at("2026-03-03T04:00:00"))
    assert muter.muted_by(LABELS, at("2027-01-01T00:00:00")) == ["new-year"]
    assert not TimeIntervalMuter(INTERVALS, active=[], mute=[]).mutes(LABELS, at("2026-03-03T02:00:00"))


def test_active_and_mute_together() -> None:
    muter = TimeIntervalMuter(INTERVALS, active=["business-hours"], mute=["new-year"])
    assert muter.muted_by(LABELS, at("2027-01-01T10:00:00")) == ["new-year"]  # a Friday, in business hours
    assert muter.muted_by(LABELS, at("2027-01-01T20:00:00")) == ["new-year", "business-hours"]
    assert not muter.mutes(LABELS, at("2027-01-04T10:00:00"))


def test_an_unknown_interval_name_is_refused() -> None:
    with pytest.raises(ValueError, match="no time interval named 'nights'"):
        TimeIntervalMuter(INTERVALS, active=["nights"], mute=[])
