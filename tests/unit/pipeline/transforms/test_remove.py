from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.unit.pipeline.transforms.helpers import column, parse_config, run


def test_remove_names_and_globs() -> None:
    out = run(
        {"type": "remove", "fields": ["secret", "tmp_*", "http.request.*"]},
        [
            {
                "message": "m",
                "secret": 1,
                "tmp_a": 2,
                "tmp_b": "x",
                "keep": 3,
                "http": {"request": {"id": 1}, "status": 2},
            }
        ],
    )
    names = out.batch.column_names
    assert "keep" in names and "http.status" in names
    assert not {"secret", "tmp_a", "tmp_b", "http.request.id"} & set(names)


def test_globs_never_remove_core_fields() -> None:
    out = run({"type": "remove", "fields": ["*"]}, [{"message": "m", "host": "h", "a": 1}])
    assert column(out, "message") == ["m"] and column(out, "host") == ["h"]
    assert "a" not in out.batch.column_names


def test_remove_core_field_by_name_empties_it() -> None:
    out = run({"type": "remove", "fields": ["host"]}, [{"message": "m", "host": "h"}])
    assert column(out, "host") == [None]


def test_missing_fields_are_fine() -> None:
    out = run({"type": "remove", "fields": ["nope", "nope_*"]}, [{"message": "m"}])
    assert out.batch.num_rows == 1


def test_required_fields_cannot_be_removed() -> None:
    with pytest.raises(ValidationError, match="required"):
        parse_config({"type": "remove", "fields": ["ts"]})
