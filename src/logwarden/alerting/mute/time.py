"""Time intervals (Alertmanager's `time_intervals`): whether an instant lies in a named interval, and the `Muter`
that mutes a route's notifications outside its `active_time_intervals` or inside its `mute_time_intervals`.

A `TimeSpec` holds an instant when every field that is set holds it, read in the spec's `location` (`Local`: the
server's zone): `times` are `[start, end)` minutes of the day (seconds ignored, `24:00` the end of the day);
`weekdays`, `days_of_month`, `months` and `years` are single values or inclusive `a:b` ranges; a negative day of
the month counts from its end (`-1` is the last day, `-3:-1` the last three days). Wall-clock times follow the
zone's daylight saving time: `02:00`-`03:00` Europe/Berlin never holds on the spring-forward day and holds for two
hours on the fall-back day.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from logwarden.alerting.config import _MONTHS, _WEEKDAYS, TimeInterval, TimeSpec

_Range = tuple[int, int]  # inclusive bounds, except times: [start, end) minutes of the day


@dataclass(frozen=True, slots=True)
class CompiledSpec:
    """A `TimeSpec` with its names and texts turned into numeric ranges (an empty tuple: the field is unset)."""

    times: tuple[_Range, ...]
    weekdays: tuple[_Range, ...]  # 0 = Sunday, as in Alertmanager
    days_of_month: tuple[_Range, ...]  # negative: from the end of the month
    months: tuple[_Range, ...]
    years: tuple[_Range, ...]
    zone: tzinfo | None  # None: the server's local zone

    def contains(self, at: datetime) -> bool:
        """Whether `at` (naive: UTC) lies in this period."""
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        local = at.astimezone(self.zone)  # astimezone(None) is the server's zone (`Local`)
        if self.times and not _in_times(self.times, local.hour * 60 + local.minute):
            return False
        if self.weekdays and not _in(self.weekdays, local.isoweekday() % 7):
            return False
        if self.days_of_month and not _in_days(self.days_of_month, local):
            return False
        if self.months and not _in(self.months, local.month):
            return False
        return not self.years or _in(self.years, local.year)


def compile_spec(spec: TimeSpec) -> CompiledSpec:
    """The numeric form of a spec (its texts were checked by the config models)."""
    return CompiledSpec(
        times=tuple((_minutes(t.start_time), _minutes(t.end_time)) for t in spec.times),
        weekdays=tuple(_ranges(spec.weekdays, _WEEKDAYS, 0)),
        days_of_month=tuple(_ranges(spec.days_of_month, None, 0)),
        months=tuple(_ranges(spec.months, _MONTHS, 1)),
        years=tuple(_ranges(spec.years, None, 0)),
        zone=None if spec.location == "Local" else ZoneInfo(spec.location),
    )


def compile_interval(interval: TimeInterval) -> tuple[CompiledSpec, ...]:
    """The numeric form of every period of an interval."""
    return tuple(compile_spec(spec) for spec in interval.time_intervals)


def contains(interval: TimeInterval, at: datetime) -> bool:
    """Whether any period of `interval` holds the instant `at` (naive: UTC)."""
    return any(spec.contains(at) for spec in compile_interval(interval))


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _ranges(values: Sequence[str], names: tuple[str, ...] | None, first: int) -> list[_Range]:
    out = []
    for value in values:
        bounds = [_number(part.strip().lower(), names, first) for part in value.split(":")]
        out.append((bounds[0], bounds[-1]))
    return out


def _number(text: str, names: tuple[str, ...] | None, first: int) -> int:
    if names is not None and text in names:
        return names.index(text) + first
    return int(text)


def _in(ranges: tuple[_Range, ...], value: int) -> bool:
    return any(begin <= value <= end for begin, end in ranges)


def _in_times(ranges: tuple[_Range, ...], minute: int) -> bool:
    return any(start <= minute < end for start, end in ranges)


def _in_days(ranges: tuple[_Range, ...], local: datetime) -> bool:
    length = calendar.monthrange(local.year, local.month)[1]
    for begin, end in ranges:
        # Negative days count from the month's end (-1: its last day), as in Alertmanager.
        first = length + begin + 1 if begin < 0 else begin
        last = length + end + 1 if end < 0 else end
        if first > length:
            continue  # `31` in a 30-day month: no day of it
        if first <= local.day <= min(last, length):
            return True
    return False


class TimeIntervalMuter:
    """Mutes a route's notifications by time (labels are ignored): outside every one of its `active` intervals
    (when it names any), or inside any of its `mute` intervals. `muted_by` names the intervals responsible."""

    def __init__(self, intervals: Mapping[str, TimeInterval], active: Sequence[str], mute: Sequence[str]) -> None:
        unknown = sorted({*active, *mute} - set(intervals))
        if unknown:
            raise ValueError(f"no time interval named {unknown[0]!r}")
        self.active = tuple(active)
        self.mute = tuple(mute)
        self._specs = {name: compile_interval(intervals[name]) for name in {*active, *mute}}

    def _holds(self, name: str, now: datetime) -> bool:
        return any(spec.contains(now) for spec in self._specs[name])

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        """Whether notifications are muted at `now`."""
        if self.active and not any(self._holds(name, now) for name in self.active):
            return True
        return any(self._holds(name, now) for name in self.mute)

    def muted_by(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        """The `mute` intervals holding `now`, and the `active` ones when `now` lies outside all of them."""
        out = [name for name in self.mute if self._holds(name, now)]
        if self.active and not any(self._holds(name, now) for name in self.active):
            out += [name for name in self.active if name not in out]
        return out
