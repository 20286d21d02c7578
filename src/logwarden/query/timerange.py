"""Parse the `start`/`end` parameters of query APIs: RFC 3339, epoch, `now`, or relative (`15m`, `now-2h`, `now+1d`).

Every instant is bounded to years 1..9999 (what Python, the store and JSON answers can all represent);
anything outside, or a relative offset too large to compute, is a TimeRangeError naming the parameter.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE_RE = re.compile(r"^(?:now)?\s*([-+])?\s*([0-9]+)\s*(ms|s|m|h|d|w)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Epoch numbers above this are milliseconds (this many seconds is year 5138).
_EPOCH_MS_THRESHOLD = 100_000_000_000

MIN_TIME = datetime(1, 1, 1, tzinfo=UTC)
# One second of headroom below datetime.max: an inclusive end adds a microsecond.
MAX_TIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
_HELP = "use RFC 3339 (2026-01-02T15:04:05Z), epoch seconds, 'now', or a relative time like 15m, now-7d, now+1h"


class TimeRangeError(ValueError):
    """A start or end parameter that cannot be understood, or lies outside years 1..9999."""


def shown(value: str, limit: int = 64) -> str:
    """`value` quoted for an error message, cut to `limit` characters so a huge input is not echoed whole."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _out_of_range(name: str, value: str) -> TimeRangeError:
    return TimeRangeError(
        f"invalid {name} {shown(value)}: the time must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"
    )


def _bounded(instant: datetime, name: str, value: str) -> datetime:
    if not MIN_TIME <= instant <= MAX_TIME:
        raise _out_of_range(name, value)
    return instant


def parse_time(value: str | None, now: datetime, *, default: datetime, name: str) -> datetime:
    """One instant; `15m` and `now-15m` count back from `now`, `now+15m` forward."""
    if value is None or value.strip() == "":
        return default
    text = value.strip()
    if text == "now":
        return now
    m = _RELATIVE_RE.match(text)
    if m:
        sign, amount, unit = m.groups()
        try:
            # int * float: an amount of hundreds of digits overflows float, one of a dozen overflows timedelta.
            offset = timedelta(seconds=int(amount) * _UNITS[unit])
            instant = now + offset if sign == "+" else now - offset
        except (OverflowError, ValueError):
            raise _out_of_range(name, value) from None
        return _bounded(instant, name, value)
    if text.isascii() and text.isdigit():
        try:
            n = int(text)  # ValueError past 4300 digits
            seconds = n / 1000 if n > _EPOCH_MS_THRESHOLD else n
            instant = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise _out_of_range(name, value) from None
        return _bounded(instant, name, value)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise TimeRangeError(f"invalid {name} {shown(value)}: {_HELP}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        # A UTC offset can push year 1 or year 9999 past what datetime holds.
        instant = parsed.astimezone(UTC)
    except OverflowError:
        raise _out_of_range(name, value) from None
    return _bounded(instant, name, value)


def parse_range(
    start: str | None,
    end: str | None,
    now: datetime | None = None,
    *,
    default_span: timedelta = timedelta(hours=1),
) -> tuple[datetime, datetime]:
    """(start, end); end defaults to now plus 5 minutes of slack for client clock skew."""
    now = now or datetime.now(UTC)
    end_dt = parse_time(end, now, default=min(now + timedelta(minutes=5), MAX_TIME), name="end")
    try:
        default_start = max(now - default_span, MIN_TIME)
    except OverflowError:
        default_start = MIN_TIME
    start_dt = parse_time(start, now, default=default_start, name="start")
    if start_dt >= end_dt:
        raise TimeRangeError(f"start ({start_dt.isoformat()}) must be before end ({end_dt.isoformat()})")
    return start_dt, end_dt
