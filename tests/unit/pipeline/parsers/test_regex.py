"""The regex parser: named groups, several patterns, RE2 errors at build time."""

from __future__ import annotations

import pytest

from logwarden.pipeline.base import ProcessorBuildError
from tests.unit.pipeline.parsers.helpers import build, lines, rows, run


def test_named_groups_become_text_fields() -> None:
    out = rows(
        run({"type": "regex", "pattern": r"user=(?P<user>\w+) took (?P<ms>\d+)ms"}, lines("user=bob took 12ms", "x"))
    )
    assert out[0]["user"] == "bob" and out[0]["ms"] == "12"
    assert out[1]["error"] == "no pattern matched"


def test_first_matching_pattern_wins() -> None:
    settings = {"type": "regex", "pattern": [r"^A (?P<a>\w+)", r"(?P<b>\w+)$", r"^A (?P<c>\w+)"]}
    out = rows(run(settings, lines("A one", "B two")))
    assert out[0]["a"] == "one" and "b" not in out[0] and "c" not in out[0]
    assert out[1]["b"] == "two" and "a" not in out[1]


def test_oniguruma_names_unnamed_groups_and_empty_captures() -> None:
    [row] = rows(run({"type": "regex", "pattern": r"(?<k>\w+)=(x|y)(?P<opt>\d+)?"}, lines("key=x")))
    assert row["k"] == "key"
    assert "opt" not in row


@pytest.mark.parametrize(
    ("pattern", "needle"),
    [
        (r"(?P<a>\w+(?=x))", "lookahead"),
        (r"(?P<a>[a-", "unterminated character class"),
        (r"(?P<a>a{2,1})", "invalid repetition"),
        (r"\d+", "no named group"),
        (r"(?P<observed_ts>\d+)", "set by logwarden"),
    ],
)
def test_bad_patterns_fail_at_build_naming_pattern(pattern: str, needle: str) -> None:
    with pytest.raises(ProcessorBuildError) as err:
        build({"type": "regex", "pattern": pattern})
    assert err.value.field == "pattern"
    assert needle in str(err.value)


def test_target_and_core_field_output() -> None:
    [row] = rows(run({"type": "regex", "pattern": r"^(?P<level>\w+): (?P<message>.*)$"}, lines("error: disk full")))
    assert row["level"] == "ERROR" and row["message"] == "disk full"
    [row] = rows(run({"type": "regex", "pattern": r"^(?P<level>\w+):", "target": "p"}, lines("error: x")))
    assert row["p.level"] == "error" and "level" not in row
