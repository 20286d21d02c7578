"""Level normalization: the many spellings of a log level → TRACE DEBUG INFO WARN ERROR FATAL.

Numbers are OpenTelemetry severity numbers (1–24). Syslog severity *names* (emerg … debug) map by
meaning; syslog severity *numbers* (0–7, from a PRI) go through `level_from_syslog_severity`.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

LEVELS: tuple[str, ...] = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")

# The OpenTelemetry severity number at the bottom of each level's range.
LEVEL_SEVERITY: dict[str, int] = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21}

_SPELLINGS: dict[str, str] = {}
for _level, _names in {
    "TRACE": ("TRACE", "TRC", "T", "FINEST", "FINER", "VERBOSE", "V"),
    "DEBUG": ("DEBUG", "DBG", "D", "FINE", "CONFIG", "DEBUG2", "DEBUG3", "DEBUG4"),
    "INFO": ("INFO", "INF", "I", "INFORMATION", "INFORMATIONAL", "NOTICE", "N", "OK"),
    "WARN": ("WARN", "WARNING", "WRN", "W"),
    "ERROR": ("ERROR", "ERR", "E", "SEVERE", "EROR"),
    "FATAL": ("FATAL", "FTL", "F", "CRIT", "CRITICAL", "C", "ALERT", "EMERG", "EMERGENCY", "PANIC"),
}.items():
    for _name in _names:
        _SPELLINGS[_name] = _level
# OTel severity texts carry a digit suffix inside a range: INFO2, ERROR4 …
for _level in LEVELS:
    for _i in range(2, 5):
        _SPELLINGS.setdefault(f"{_level}{_i}", _level)

_SPELLING_KEYS = pa.array(list(_SPELLINGS.keys()), pa.string())
_SPELLING_VALUES = pa.array(list(_SPELLINGS.values()), pa.string())
# index i → level for OTel severity number i (0 and > 24 are unknown).
_OTEL_LEVEL = pa.array([None] + [LEVELS[(n - 1) // 4] for n in range(1, 25)], pa.string())
_LEVEL_NAMES = pa.array(list(LEVELS), pa.string())
_LEVEL_SEVERITIES = pa.array([LEVEL_SEVERITY[lv] for lv in LEVELS], pa.int8())
_SPELLING_SEVERITIES = pa.array([LEVEL_SEVERITY[lv] for lv in _SPELLINGS.values()], pa.int8())
_DIGIT = re.compile(rb"[0-9]")
_SYSLOG_LEVEL = ("FATAL", "FATAL", "FATAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG")


def normalize_level_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Map level spellings (any case, surrounding spaces ignored) to canonical levels; unknown → null."""
    upper = pc.utf8_upper(pc.utf8_trim_whitespace(values))
    known = pc.take(_SPELLING_VALUES, pc.index_in(upper, value_set=_SPELLING_KEYS))
    # A numeric string ("17") is an OTel severity number.
    numeric = numeric_strings(upper)
    if numeric is not None:
        as_num = pc.cast(pc.if_else(numeric, upper, None), pa.int64())
        known = pc.coalesce(known, level_from_otel_severity(as_num))
    return _as_array(known)


def named_levels(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """(canonical level, severity at the bottom of its range) of level names; numbers and unknown names → null.

    One lookup serves both columns (`normalize_level_text` then `severity_for_level` would look up twice).
    """
    index = pc.index_in(pc.utf8_upper(pc.utf8_trim_whitespace(values)), value_set=_SPELLING_KEYS)
    return _as_array(pc.take(_SPELLING_VALUES, index)), _as_array(pc.take(_SPELLING_SEVERITIES, index))


def numeric_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array | None:
    """Which values are one or two ASCII digits (a severity number as text); None when none is.

    Level names hold no digit but for a suffix (INFO2): a scan of the values' bytes for a digit usually
    settles it without the regex kernel, which compiles its pattern on every call.
    """
    if isinstance(values, pa.Array) and pa.types.is_string(values.type):
        data = values.buffers()[2]
        if data is None or not _DIGIT.search(memoryview(data)):
            return None
    numeric = pc.match_substring_regex(values, r"^\d{1,2}$")
    return _as_array(numeric) if pc.any(numeric).as_py() else None


def level_from_otel_severity(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """OpenTelemetry severity numbers 1–24 → levels; anything else → null."""
    nums = pc.cast(values, pa.int64(), safe=False)
    in_range = pc.and_(pc.greater_equal(nums, 1), pc.less_equal(nums, 24))
    idx = pc.if_else(in_range, nums, None)
    return _as_array(pc.take(_OTEL_LEVEL, idx))


def severity_for_level(levels: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Canonical level → the OpenTelemetry severity number at the bottom of its range."""
    return _as_array(pc.take(_LEVEL_SEVERITIES, pc.index_in(levels, value_set=_LEVEL_NAMES)))


def level_from_syslog_severity(severity: int) -> str:
    """Syslog severity 0 (emerg) … 7 (debug) → canonical level."""
    if not 0 <= severity <= 7:
        raise ValueError(f"syslog severity must be 0..7, got {severity}")
    return _SYSLOG_LEVEL[severity]


def _as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    return values
