"""csv and dissect."""

from __future__ import annotations

import pytest

from logwarden.pipeline.base import ProcessorBuildError
from tests.unit.pipeline.parsers.helpers import build, lines, rows, run


def test_csv_columns_quotes_and_empty_values() -> None:
    out = rows(run({"type": "csv", "columns": ["a", "b", "c"]}, lines('x,"y, ""quoted""",', "1,2,3")))
    assert out[0]["a"] == "x" and out[0]["b"] == 'y, "quoted"' and "c" not in out[0]
    assert (out[1]["a"], out[1]["b"], out[1]["c"]) == ("1", "2", "3")


def test_csv_short_and_long_lines() -> None:
    out = rows(run({"type": "csv", "columns": ["a", "b", "c"]}, lines("1,2", "1,2,3,4,5", "7,8,9")))
    assert out[0]["a"] == "1" and out[0]["b"] == "2" and "c" not in out[0]
    assert out[1]["c"] == "3" and out[1]["column4"] == "4" and out[1]["column5"] == "5"
    assert out[2]["c"] == "9" and "column4" not in out[2]


def test_csv_tab_delimiter_custom_quote_trim_and_target() -> None:
    settings = {"type": "csv", "columns": ["a", "b"], "delimiter": "\t", "quote": "'", "trim": True, "target": "t"}
    [row] = rows(run(settings, lines(" x \t'y\tz' ")))
    assert row["t.a"] == "x" and row["t.b"] == "y\tz"


def test_csv_unbalanced_quote_and_empty_line() -> None:
    out = rows(run({"type": "csv", "columns": ["a", "b"]}, lines('"open,1', "", "p,q")))
    assert out[0].get("a") == "open,1"
    assert out[1]["error"] == "empty line"
    assert out[2]["a"] == "p"


def test_csv_bad_settings() -> None:
    with pytest.raises(ProcessorBuildError) as err:
        build({"type": "csv", "columns": ["a", "a"]})
    assert err.value.field == "columns"
    with pytest.raises(ProcessorBuildError) as err:
        build({"type": "csv", "columns": ["a"], "delimiter": '"'})
    assert err.value.field == "quote"


def test_dissect_keys_skip_append_and_rest() -> None:
    settings = {
        "type": "dissect",
        "pattern": '%{ip} %{?ident} %{user} [%{time}] "%{method} %{+method} %{path}" %{rest}',
    }
    [row] = rows(run(settings, lines('1.2.3.4 - bob [10/Oct/2000:13:55:36 -0700] "GET x /a b" 200 12 "-"')))
    assert row["ip"] == "1.2.3.4" and row["user"] == "bob"
    assert "ident" not in row
    assert row["method"] == "GET x"
    assert row["path"] == "/a b"
    assert row["rest"] == '200 12 "-"'


def test_dissect_padding_and_mismatch() -> None:
    out = rows(run({"type": "dissect", "pattern": "%{a->} %{b}"}, lines("x     y", "nospace")))
    assert out[0]["a"] == "x" and out[0]["b"] == "y"
    assert out[1]["error"] == "text does not match the dissect pattern"


@pytest.mark.parametrize(
    ("pattern", "needle"),
    [
        ("no keys", "at least one"),
        ("%{a}%{b}", "literal text between"),
        ("%{+a} %{b}", "does not come before"),
        ("%{*a} %{&a}", "reference keys"),
    ],
)
def test_dissect_bad_patterns(pattern: str, needle: str) -> None:
    with pytest.raises(ProcessorBuildError) as err:
        build({"type": "dissect", "pattern": pattern})
    assert err.value.field == "pattern" and needle in str(err.value)
