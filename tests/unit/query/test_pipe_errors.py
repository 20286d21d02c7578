"""A parse error after `|` lists every pipe of the language, read from the grammar."""

from __future__ import annotations

import pytest

from logwarden.query.durations import parse_duration
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.parser import PIPE_NAMES, parse


def error_of(text: str) -> QuerySyntaxError:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(text)
    return caught.value


def test_pipe_names_come_from_the_grammar() -> None:
    assert PIPE_NAMES == (
        "stats",
        "top",
        "rare",
        "patterns",
        "timechart",
        "sort",
        "limit",
        "head",
        "fields",
        "where",
        "extract",
        "json",
        "logfmt",
        "eval",
    )
    for name in PIPE_NAMES:
        # Each is a keyword the parser takes after `|` (its arguments may still be missing).
        assert "unknown pipe" not in error_of(f"x | {name} )").message


@pytest.mark.parametrize(("text", "column"), [("error | bogus", 9), ("a | stats count() | 42", 21), ("x |", 4)])
def test_unknown_or_missing_pipe_lists_them_all(text: str, column: int) -> None:
    exc = error_of(text)
    assert exc.column == column
    assert exc.message.endswith("use one of " + ", ".join(PIPE_NAMES))


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30.0), ("1m", 60.0), ("500ms", 0.5), ("36600d", 36_600 * 86_400.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0m", "36601d", "9999999999999d", "9" * 5000 + "s", "1y", "²s", ""])
def test_bad_durations_name_the_parameter(text: str) -> None:
    with pytest.raises(QuerySyntaxError, match="interval"):
        parse_duration(text, name="interval")
