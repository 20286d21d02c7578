"""Human units in settings: sizes ("16MiB", "1GB", 1048576) and durations ("90s", "5m", "1h", 30).

Generic value types, here so that the config, the agent and every processor share them without the
pipeline depending on the config layer.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}  # fmt: skip
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_size(value: object) -> int:
    """Bytes from an int or a string like '16MiB' / '1.5GB'."""
    if isinstance(value, bool):
        raise ValueError("a size must be a number of bytes or a string like '16MiB'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if m and m.group(2).lower() in _SIZE_UNITS:
            return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
    raise ValueError(f"invalid size {value!r}: use bytes or a unit such as 512KiB, 16MiB, 1GiB")


def parse_duration(value: object) -> timedelta:
    """A timedelta from seconds or a string like '90s', '5m', '1h30m', '7d'."""
    if isinstance(value, timedelta):
        return value
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION_RE.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds is None:
        raise ValueError(f"invalid duration {value!r}: use seconds or a string like 500ms, 90s, 5m, 1h, 7d")
    try:
        return timedelta(seconds=seconds)
    except (OverflowError, ValueError):  # beyond timedelta's ±999,999,999 days, or NaN
        raise ValueError(f"invalid duration {str(value)[:40]!r}: it is too long (at most 999999999 days)") from None


def format_duration(value: timedelta) -> str:
    """The shortest text `parse_duration` reads back as `value` (to the millisecond): `30d`, `1h30m`, `1.5s` as
    `1s500ms`, `0s`."""
    ms = round(value.total_seconds() * 1000)
    if ms == 0:
        return "0s"
    sign, ms = ("-", -ms) if ms < 0 else ("", ms)
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        n, ms = divmod(ms, size)
        if n:
            out.append(f"{n}{unit}")
    return sign + "".join(out)


ByteSize = Annotated[int, BeforeValidator(parse_size)]
Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]
