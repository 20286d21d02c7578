from __future__ import annotations

import pyarrow as pa
import pytest
from pydantic import ValidationError

from logwarden.pipeline.transforms.convert import to_bool, to_bytes, to_duration_ms, to_float, to_int
from tests.unit.pipeline.transforms.helpers import column, errors, parse_config, run


def test_int_conversion_of_text_fields() -> None:
    out = run(
        {"type": "convert", "fields": {"response": "int", "bytes": "int"}},
        [{"message": "a", "response": "200", "bytes": "5120"}, {"message": "b", "response": "404", "bytes": "-"}],
    )
    assert column(out, "response") == [200, 404]
    assert out.batch.schema.field("response").type == pa.int64()
    # A field holds one type per batch: the unconvertible value is emptied, the error keeps it.
    assert column(out, "bytes") == [5120, None]
    assert errors(out) == [None, "cannot convert '-' to int"]


def test_value_is_left_as_it_was_when_nothing_converts() -> None:
    out = run({"type": "convert", "fields": {"n": "int"}}, [{"message": "a", "n": "abc"}])
    assert column(out, "n") == ["abc"]
    assert errors(out) == ["cannot convert 'abc' to int"]


def test_errors_of_several_fields_are_joined() -> None:
    out = run({"type": "convert", "fields": {"a": "int", "b": "float"}}, [{"message": "m", "a": "x", "b": "y"}])
    assert errors(out) == ["cannot convert 'x' to int; cannot convert 'y' to float"]


def test_missing_and_null_values_are_not_errors() -> None:
    out = run(
        {"type": "convert", "fields": {"n": "int", "gone": "int"}},
        [{"message": "a", "n": None}, {"message": "b", "n": "3"}],
    )
    assert column(out, "n") == [None, 3]
    assert out.errors is None


def test_int() -> None:
    assert to_int(pa.array(["12", " -3 ", "abc", None, "1.5", "99999999999999999999"])).to_pylist() == [
        12,
        -3,
        None,
        None,
        None,
        None,
    ]
    assert to_int(pa.array([1.0, 2.5])).to_pylist() == [1, None]
    assert to_int(pa.array([True, False])).to_pylist() == [1, 0]


def test_float() -> None:
    assert to_float(pa.array(["1.5", "-2e3", ".5", "x", "1.2.3"])).to_pylist() == [1.5, -2000.0, 0.5, None, None]
    assert to_float(pa.array([3])).to_pylist() == [3.0]


def test_bool() -> None:
    assert to_bool(pa.array(["TRUE", "no", "On", "0", "maybe"])).to_pylist() == [True, False, True, False, None]
    assert to_bool(pa.array([0, 1, 2])).to_pylist() == [False, True, None]


def test_duration_in_milliseconds() -> None:
    text = ["150ms", "1.5s", "2m", "1h30m", "12", "abc", "2 min", "250us", "1h2m3.5s", "5"]
    assert to_duration_ms(pa.array(text)).to_pylist() == [
        150,
        1500,
        120000,
        5400000,
        12,
        None,
        120000,
        0.25,
        3723500,
        5,
    ]
    assert to_duration_ms(pa.array([7])).to_pylist() == [7.0]


def test_bytes() -> None:
    text = ["10KiB", "1.5MB", "512", "1x", "2 GiB", "3k", "-1"]
    assert to_bytes(pa.array(text)).to_pylist() == [10240, 1500000, 512, None, 2 * 1024**3, 3000, None]


def test_to_string_and_duration_through_the_processor() -> None:
    out = run(
        {"type": "convert", "fields": {"status": "string", "took": "duration", "size": "bytes"}},
        [{"message": "a", "status": 200, "took": "1.5s", "size": "1KiB"}],
    )
    assert column(out, "status") == ["200"]
    assert column(out, "took") == [1500.0]
    assert column(out, "size") == [1024]


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValidationError):
        parse_config({"type": "convert", "fields": {"a": "integer"}})
