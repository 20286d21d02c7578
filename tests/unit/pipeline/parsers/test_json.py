"""The json parser: objects in a field, core aliases, nesting, targets and bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.unit.pipeline.parsers.helpers import batch_of, lines, rows, run


def test_core_aliases_set_core_fields() -> None:
    [row] = rows(
        run({"type": "json"}, lines('{"msg":"x","level":"error","ts":"2024-01-02T03:04:05+01:00","user":"bob"}'))
    )
    assert row["message"] == "x"
    assert row["level"] == "ERROR"
    assert row["severity"] == 17
    assert row["ts"] == datetime(2024, 1, 2, 2, 4, 5, tzinfo=UTC)
    assert row["user"] == "bob"


def test_nested_objects_flatten_and_types_are_kept() -> None:
    [row] = rows(run({"type": "json"}, lines('{"http":{"status":404,"req":{"ms":1.5}},"tags":["a","b"],"ok":true}')))
    assert row["http.status"] == 404
    assert row["http.req.ms"] == 1.5
    assert row["tags"] == ["a", "b"]
    assert row["ok"] is True


def test_iso_strings_stay_text_outside_the_time_fields() -> None:
    [row] = rows(run({"type": "json"}, lines('{"when":"2024-01-01T00:00:00+02:00"}')))
    assert row["when"] == "2024-01-01T00:00:00+02:00"


def test_invalid_and_non_object_rows_are_errors_and_keep_flowing() -> None:
    out = rows(run({"type": "json"}, lines('{"a": 1}', "plain text", '{"broken": ', "[1, 2]", '{"b": 2}')))
    assert [r.get("error") for r in out] == [
        None,
        "not a JSON object",
        "invalid JSON: unexpected end of data: line 1 column 12 (char 11)",
        "not a JSON object",
        None,
    ]
    assert out[0]["a"] == 1 and out[4]["b"] == 2
    assert out[2]["message"] == '{"broken": '


def test_types_changing_between_rows_become_text() -> None:
    out = rows(run({"type": "json"}, lines('{"v": 1}', '{"v": "x"}', '{"v": {"deep": 1}}')))
    assert [r.get("v") for r in out] == ["1", "x", None]
    assert out[2]["v.deep"] == 1


def test_target_prefixes_every_key_and_skips_core_mapping() -> None:
    [row] = rows(run({"type": "json", "target": "payload"}, lines('{"msg":"x","n":1}')))
    assert row["payload.msg"] == "x"
    assert row["payload.n"] == 1
    assert row["message"] == '{"msg":"x","n":1}'


def test_other_field_and_overwrite_false() -> None:
    batch = batch_of([{"message": "m", "body": '{"user":"new","fresh":1}', "user": "old"}])
    [row] = rows(run({"type": "json", "field": "body", "overwrite": False}, batch))
    assert row["user"] == "old"
    assert row["fresh"] == 1
    [row] = rows(run({"type": "json", "field": "body"}, batch))
    assert row["user"] == "new"


def test_missing_field_is_ignored_unless_configured() -> None:
    batch = batch_of([{"message": "m"}])
    assert run({"type": "json", "field": "body"}, batch).errors is None
    out = run({"type": "json", "field": "body", "ignore_missing": False}, batch)
    assert out.errors is not None and out.errors.to_pylist() == ["field 'body' is missing"]


def test_ignore_failure_silences_errors() -> None:
    assert run({"type": "json", "ignore_failure": True}, lines("nope")).errors is None


def test_unparseable_time_keeps_the_line_time_and_the_value() -> None:
    [row] = rows(run({"type": "json"}, lines('{"time":"garbage","msg":"m"}')))
    assert row["ts"] == datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
    assert row["time"] == "garbage"


def test_reserved_keys_become_attributes() -> None:
    [row] = rows(run({"type": "json"}, lines('{"observed_ts": 5, "tenant": "evil"}')))
    assert row["attrs.observed_ts"] == 5
    assert row["attrs.tenant"] == "evil"


def test_pretty_printed_object_parses() -> None:
    [row] = rows(run({"type": "json"}, lines('{\n  "a": 1,\n  "b": "x"\n}')))
    assert row["a"] == 1 and row["b"] == "x"


@pytest.mark.parametrize("text", ["", "   ", "{", "}{"])
def test_odd_texts_are_errors(text: str) -> None:
    out = run({"type": "json"}, lines(text, '{"ok": 1}'))
    assert out.errors is not None
    assert out.errors.to_pylist()[0] is not None and out.errors.to_pylist()[1] is None
