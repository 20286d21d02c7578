"""Unit tests for logwarden.model.levels: level spellings, OTel and syslog severities."""

from __future__ import annotations

import pyarrow as pa
import pytest

from logwarden.model.levels import (
    _SPELLINGS,
    LEVEL_SEVERITY,
    LEVELS,
    level_from_otel_severity,
    level_from_syslog_severity,
    named_levels,
    normalize_level_text,
    numeric_strings,
    severity_for_level,
)


def text_levels(values: list[str | None]) -> list[str | None]:
    out = normalize_level_text(pa.array(values, pa.string()))
    assert isinstance(out, pa.Array)
    assert out.type == pa.string()
    result: list[str | None] = out.to_pylist()
    return result


def otel_levels(values: list[int | None]) -> list[str | None]:
    out = level_from_otel_severity(pa.array(values, pa.int64()))
    assert isinstance(out, pa.Array)
    assert out.type == pa.string()
    result: list[str | None] = out.to_pylist()
    return result


# --- constants ---------------------------------------------------------------------------------


def test_levels_are_ordered_by_severity() -> None:
    assert LEVELS == ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
    assert LEVEL_SEVERITY == {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21}


# --- text spellings ----------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["warning", "WARN", "W", "Warning ", " warn", "WaRnInG", "wrn", "\twarn\n"])
def test_warn_spellings(spelling: str) -> None:
    assert text_levels([spelling]) == ["WARN"]


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("emerg", "FATAL"),
        ("alert", "FATAL"),
        ("crit", "FATAL"),
        ("err", "ERROR"),
        ("warning", "WARN"),
        ("notice", "INFO"),
        ("info", "INFO"),
        ("debug", "DEBUG"),
    ],
)
def test_syslog_severity_names(name: str, level: str) -> None:
    assert text_levels([name]) == [level]
    assert text_levels([name.upper()]) == [level]


@pytest.mark.parametrize(
    ("spelling", "level"),
    [
        ("trace", "TRACE"),
        ("TRC", "TRACE"),
        ("t", "TRACE"),
        ("finest", "TRACE"),
        ("verbose", "TRACE"),
        ("Debug", "DEBUG"),
        ("dbg", "DEBUG"),
        ("d", "DEBUG"),
        ("fine", "DEBUG"),
        ("config", "DEBUG"),
        ("information", "INFO"),
        ("informational", "INFO"),
        ("INF", "INFO"),
        ("i", "INFO"),
        ("ok", "INFO"),
        ("error", "ERROR"),
        ("E", "ERROR"),
        ("severe", "ERROR"),
        ("fatal", "FATAL"),
        ("critical", "FATAL"),
        ("emergency", "FATAL"),
        ("panic", "FATAL"),
        ("FTL", "FATAL"),
    ],
)
def test_other_spellings(spelling: str, level: str) -> None:
    assert text_levels([spelling]) == [level]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("suffix", [2, 3, 4])
def test_otel_severity_texts_with_digit_suffix(level: str, suffix: int) -> None:
    assert text_levels([f"{level}{suffix}", f"{level.lower()}{suffix}"]) == [level, level]


def test_otel_severity_text_examples_from_spec() -> None:
    assert text_levels(["INFO2", "ERROR4"]) == ["INFO", "ERROR"]


@pytest.mark.parametrize(
    "unknown", ["nope", "", "   ", "WARNINGS", "inf0", "INFO5", "ERROR 4", "warn!", "🔥", "level", "17.0"]
)
def test_unknown_text_is_null(unknown: str) -> None:
    assert text_levels([unknown]) == [None]


def test_null_text_stays_null() -> None:
    assert text_levels([None, None]) == [None, None]


def test_empty_array() -> None:
    assert text_levels([]) == []


def test_mixed_batch_keeps_order_and_length() -> None:
    values = ["warn", None, "17", "bogus", "crit", "INFO2", " 5 ", "0", "debug"]
    assert text_levels(values) == ["WARN", None, "ERROR", None, "FATAL", "INFO", "DEBUG", None, "DEBUG"]


def test_chunked_input_returns_plain_array() -> None:
    out = normalize_level_text(pa.chunked_array([["warn", "x"], ["17"], []], pa.string()))
    assert isinstance(out, pa.Array)
    assert out.to_pylist() == ["WARN", None, "ERROR"]


# --- numeric strings are OTel severity numbers ----------------------------------------------


@pytest.mark.parametrize(
    ("number", "level"),
    [
        ("1", "TRACE"),
        ("4", "TRACE"),
        ("5", "DEBUG"),
        ("8", "DEBUG"),
        ("9", "INFO"),
        ("12", "INFO"),
        ("13", "WARN"),
        ("16", "WARN"),
        ("17", "ERROR"),
        ("20", "ERROR"),
        ("21", "FATAL"),
        ("24", "FATAL"),
        (" 17 ", "ERROR"),
        ("09", "INFO"),
    ],
)
def test_numeric_strings_are_otel_numbers(number: str, level: str) -> None:
    assert text_levels([number]) == [level]


@pytest.mark.parametrize("number", ["0", "25", "99", "-1", "017", "100", "1.5", "+3"])
def test_numeric_strings_out_of_range_are_null(number: str) -> None:
    assert text_levels([number]) == [None]


# --- OTel severity numbers ---------------------------------------------------------------------


def test_every_otel_number_1_to_24() -> None:
    expected = ["TRACE"] * 4 + ["DEBUG"] * 4 + ["INFO"] * 4 + ["WARN"] * 4 + ["ERROR"] * 4 + ["FATAL"] * 4
    assert otel_levels(list(range(1, 25))) == expected


@pytest.mark.parametrize(
    ("number", "level"),
    [
        (1, "TRACE"),
        (4, "TRACE"),
        (5, "DEBUG"),
        (8, "DEBUG"),
        (9, "INFO"),
        (12, "INFO"),
        (13, "WARN"),
        (16, "WARN"),
        (17, "ERROR"),
        (20, "ERROR"),
        (21, "FATAL"),
        (24, "FATAL"),
        (0, None),
        (25, None),
    ],
)
def test_otel_range_boundaries(number: int, level: str | None) -> None:
    assert otel_levels([number]) == [level]


def test_otel_out_of_range_and_null() -> None:
    assert otel_levels([-1, 0, 25, 100, None, -(2**40), 2**40]) == [None] * 7


@pytest.mark.parametrize("int_type", [pa.int8(), pa.int16(), pa.int32(), pa.uint8(), pa.uint64()])
def test_otel_accepts_any_integer_type(int_type: pa.DataType) -> None:
    out = level_from_otel_severity(pa.array([0, 1, 13, 24, 25], int_type))
    assert out.to_pylist() == [None, "TRACE", "WARN", "FATAL", None]


def test_otel_float_numbers_truncate() -> None:
    out = level_from_otel_severity(pa.array([12.7, 4.0, 17.0, None], pa.float64()))
    assert out.to_pylist() == ["INFO", "TRACE", "ERROR", None]


def test_otel_chunked_input() -> None:
    out = level_from_otel_severity(pa.chunked_array([[1, 9], [17, 30]], pa.int64()))
    assert isinstance(out, pa.Array)
    assert out.to_pylist() == ["TRACE", "INFO", "ERROR", None]


# --- syslog severity numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        (0, "FATAL"),  # emerg
        (1, "FATAL"),  # alert
        (2, "FATAL"),  # crit
        (3, "ERROR"),  # err
        (4, "WARN"),  # warning
        (5, "INFO"),  # notice
        (6, "INFO"),  # info
        (7, "DEBUG"),  # debug
    ],
)
def test_level_from_syslog_severity(severity: int, level: str) -> None:
    assert level_from_syslog_severity(severity) == level


@pytest.mark.parametrize("severity", [-1, 8, 24, 191])
def test_level_from_syslog_severity_rejects_out_of_range(severity: int) -> None:
    with pytest.raises(ValueError, match=rf"syslog severity must be 0\.\.7, got {severity}"):
        level_from_syslog_severity(severity)


# --- severity_for_level ------------------------------------------------------------------------


def test_severity_for_level() -> None:
    out = severity_for_level(pa.array([*LEVELS, None, "warn", "WARNING", ""], pa.string()))
    assert out.type == pa.int8()
    assert out.to_pylist() == [1, 5, 9, 13, 17, 21, None, None, None, None]


def test_severity_for_level_chunked() -> None:
    out = severity_for_level(pa.chunked_array([["ERROR"], ["TRACE", "FATAL"]], pa.string()))
    assert isinstance(out, pa.Array)
    assert out.to_pylist() == [17, 1, 21]


def test_severity_and_otel_level_round_trip() -> None:
    levels = pa.array(list(LEVELS), pa.string())
    assert level_from_otel_severity(severity_for_level(levels)).to_pylist() == list(LEVELS)


def test_named_levels_agree_with_the_two_step_lookup() -> None:
    names = [*_SPELLINGS, *(s.lower() for s in _SPELLINGS), " warn ", "bogus", "", None]
    values = pa.array(names, pa.string())
    level, severity = named_levels(values)
    expected = normalize_level_text(values)
    assert level.to_pylist() == expected.to_pylist()
    assert severity.to_pylist() == severity_for_level(expected).to_pylist()
    assert severity.type == pa.int8()


def test_numeric_strings_only_when_a_value_is_one_or_two_digits() -> None:
    assert numeric_strings(pa.array(["info", "WARN", None])) is None
    assert numeric_strings(pa.array(["INFO2", "error4", "123"])) is None  # digits, but no severity number
    found = numeric_strings(pa.array(["info", "17", None, "9"]))
    assert found is not None
    assert found.to_pylist() == [False, True, None, True]
    # A slice sees the parent's bytes; the regex still decides on the slice's own values.
    assert numeric_strings(pa.array(["17", "info"]).slice(1)) is None
