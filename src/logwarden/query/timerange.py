"""Parse the `start`/`end` parameters of query APIs: RFC 3339, epoch, `now`, or relative (`15m`, `now-2h`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE_RE = re.compile(r"^(?:now)?\s*-?\s*(\d+)\s*(ms|s|m|h|d|w)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class TimeRangeError(ValueError):
    """A start or end parameter that cannot be understood."""


def parse_time(value: str | None, now: datetime, *, default: datetime, name: str) -> datetime:
    """One instant; relative forms count back from `now`."""
    if value is None or value.strip() == "":
        return default
    text = value.strip()
    if text == "now":
        return now
    m = _RELATIVE_RE.match(text)
    if m:
        return now - timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    if text.isdigit():
        n = int(text)
        seconds = n / 1000 if n > 100_000_000_000 else n
        return datetime.fromtimestamp(seconds, UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise TimeRangeError(
            f"invalid {name} {value!r}: use RFC 3339 (2026-01-02T15:04:05Z), epoch seconds, "
            "'now', or a relative time like 15m, 2h, now-7d"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_range(
    start: str | None,
    end: str | None,
    now: datetime | None = None,
    *,
    default_span: timedelta = timedelta(hours=1),
) -> tuple[datetime, datetime]:
    """(start, end); end defaults to now plus 5 minutes of slack for client clock skew."""
    now = now or datetime.now(UTC)
    end_dt = parse_time(end, now, default=now + timedelta(minutes=5), name="end")
    start_dt = parse_time(start, now, default=now - default_span, name="start")
    if start_dt >= end_dt:
        raise TimeRangeError(f"start ({start_dt.isoformat()}) must be before end ({end_dt.isoformat()})")
    return start_dt, end_dt
