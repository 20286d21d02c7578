"""Durations in the query language: a timechart `span`, a histogram `interval` (`30s`, `5m`, `1d`)."""

from __future__ import annotations

import re

from logwarden.query.errors import QuerySyntaxError

DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"^([0-9]+)(ms|s|m|h|d|w)$")
# The widest bucket a timechart span or histogram interval may ask for (about 100 years).
MAX_DURATION_DAYS = 36_600
MAX_DURATION_SECONDS = MAX_DURATION_DAYS * 86_400


def parse_duration(text: str, *, name: str = "span", column: int = 1) -> float:
    """Seconds in a bucket width like `30s`, `5m`, `1d`: positive and at most MAX_DURATION_SECONDS.

    QuerySyntaxError naming `name` (the pipe argument or the API parameter) otherwise.
    """
    m = _DURATION_RE.match(text.strip())
    # int() of thousands of digits is refused by Python; no real span has more than a dozen.
    shown = text if len(text) <= 64 else text[:64] + "…"
    if not m or m.group(1).strip("0") == "":
        raise QuerySyntaxError(f"invalid duration for {name} {shown!r}: use 30s, 1m, 5m, 1h, 1d", column, text)
    if len(m.group(1)) > 12 or (seconds := float(int(m.group(1)) * DURATION_UNITS[m.group(2)])) > MAX_DURATION_SECONDS:
        raise QuerySyntaxError(f"{name} {shown!r} is too long: at most {MAX_DURATION_DAYS}d", column, text)
    return seconds
