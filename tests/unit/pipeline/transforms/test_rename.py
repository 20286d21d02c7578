from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.unit.pipeline.transforms.helpers import column, parse_config, rows, run


def test_rename_moves_values_and_keeps_the_new_field_where_the_old_is_missing() -> None:
    out = run(
        {"type": "rename", "fields": {"usr": "user_id", "msg_text": "message"}},
        [{"usr": "u1", "msg_text": "hello", "message": "x"}, {"user_id": "u2", "message": "y"}],
    )
    assert rows(out, "user_id", "message") == [{"user_id": "u1", "message": "hello"}, {"user_id": "u2", "message": "y"}]
    assert "usr" not in out.batch.column_names and "msg_text" not in out.batch.column_names


def test_rename_of_a_core_field_empties_it() -> None:
    out = run({"type": "rename", "fields": {"host": "hostname"}}, [{"message": "m", "host": "web-1"}])
    assert column(out, "hostname") == ["web-1"]
    assert column(out, "host") == [None]


def test_rename_of_a_missing_field_changes_nothing() -> None:
    out = run({"type": "rename", "fields": {"nope": "other"}}, [{"message": "m"}])
    assert "other" not in out.batch.column_names and out.errors is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tenant": "org"}, "required"),
        ({"a": "observed_ts"}, "cannot be changed"),
        ({"a": "a"}, "renamed to itself"),
        ({}, "at least 1"),
    ],
)
def test_bad_renames_are_refused_at_load(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_config({"type": "rename", "fields": fields})
