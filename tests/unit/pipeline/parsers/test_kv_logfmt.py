"""logfmt and kv: pairs, quoting, separators, include/exclude and bad input."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from logwarden.pipeline.base import ProcessorBuildError
from tests.unit.pipeline.parsers.helpers import build, lines, rows, run


def test_logfmt_pairs_quotes_flags_and_core_fields() -> None:
    [row] = rows(run({"type": "logfmt"}, lines('level=warn msg="request \\"done\\" ok" duration=12ms cached')))
    assert row["level"] == "WARN"
    assert row["message"] == 'request "done" ok'
    assert row["duration"] == "12ms"
    assert row["cached"] == "true"


def test_logfmt_values_are_text_and_first_repeat_wins() -> None:
    [row] = rows(run({"type": "logfmt"}, lines("status=500 status=501 empty=")))
    assert row["status"] == "500"
    assert row["empty"] == ""


def test_logfmt_plain_text_is_an_error() -> None:
    out = run({"type": "logfmt"}, lines("just some words", "a=1"))
    assert out.errors is not None
    assert out.errors.to_pylist() == ["no key-value pairs found", None]


def test_logfmt_include_and_exclude() -> None:
    [row] = rows(run({"type": "logfmt", "include_keys": ["a", "b"], "exclude_keys": ["b"]}, lines("a=1 b=2 c=3")))
    assert row.get("a") == "1" and "b" not in row and "c" not in row


def test_kv_custom_separators_quotes_and_target() -> None:
    out = rows(
        run({"type": "kv", "field_split": "|", "value_split": ":", "target": "kv"}, lines("user:bob|id:7|note:'a|b'"))
    )
    assert out[0]["kv.user"] == "bob"
    assert out[0]["kv.id"] == "7"
    assert out[0]["kv.note"] == "a|b"


def test_kv_several_split_characters_and_trim() -> None:
    [row] = rows(
        run(
            {"type": "kv", "field_split": ",;", "value_split": "=:", "trim_key": " ", "trim_value": " <>"},
            lines("a=1, b:<2>; c = 3"),
        )
    )
    assert row["a"] == "1" and row["b"] == "2" and row["c"] == "3"


def test_kv_rejects_overlapping_separators() -> None:
    with pytest.raises(ProcessorBuildError) as err:
        build({"type": "kv", "field_split": "=", "value_split": "="})
    assert err.value.field == "value_split"
    with pytest.raises(ValidationError):
        build({"type": "kv", "field_split": ""})


def test_kv_mixed_batch_only_touches_rows_with_pairs() -> None:
    out = rows(run({"type": "kv"}, lines("a=1", "nothing here", "b=2")))
    assert out[0]["a"] == "1" and "b" not in out[0]
    assert out[1]["error"] == "no key-value pairs found"
    assert out[2]["b"] == "2" and "a" not in out[2]
