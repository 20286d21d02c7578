"""Unit tests for logwarden.model.flatten: dotted names and the duplicate-key rule, column- and record-wise."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.json as pj
import pytest

from logwarden.model.flatten import flatten_record, flatten_structs

# (records of one body, the flat records every flattener must make of them)
CASES: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
    "dotted key after the object": ([{"a": {"b": 1}, "a.b": 2}], [{"a.b": 2}]),
    "dotted key before the object": ([{"a.b": 2, "a": {"b": 1}}], [{"a.b": 2}]),
    "fewer levels win": ([{"a": {"b": {"c": 1}}, "a.b": {"c": 2}, "x": 0}], [{"a.b.c": 2, "x": 0}]),
    "longer outer key wins": ([{"a": {"b.c": 1}, "a.b": {"c": 2}}], [{"a.b.c": 2}]),
    "longer outer key wins, other order": ([{"a.b": {"c": 2}, "a": {"b.c": 1}}], [{"a.b.c": 2}]),
    "null never wins": ([{"a": {"b": 1}, "a.b": None}, {"a": {"b": None}, "a.b": 3}], [{"a.b": 1}, {"a.b": 3}]),
    "each line its own spelling": ([{"a": {"b": 1}}, {"a.b": 2}], [{"a.b": 1}, {"a.b": 2}]),
    "no collision": ([{"a": {"b": 1, "c": "x"}, "a.d": True}], [{"a.b": 1, "a.c": "x", "a.d": True}]),
}


def _arrow_flat(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body = b"\n".join(orjson.dumps(r) for r in records)
    table = flatten_structs(pj.read_json(io.BytesIO(body)))
    return [{k: v for k, v in row.items() if v is not None} for row in table.to_pylist()]


@pytest.mark.parametrize("case", CASES)
def test_record_and_column_flatteners_agree(case: str) -> None:
    records, expected = CASES[case]
    assert [flatten_record(r) for r in records] == expected
    assert _arrow_flat(records) == expected


def test_column_names_keep_the_place_of_their_first_spelling() -> None:
    raw = pa.table({"a": pa.array([{"b": {"c": 1}, "d": "x"}]), "e": [2], "a.d": ["y"]})
    flat = flatten_structs(raw)
    assert flat.column_names == ["a.b.c", "a.d", "e"]
    assert flat.to_pylist() == [{"a.b.c": 1, "a.d": "y", "e": 2}]


def test_struct_nulls_reach_the_children() -> None:
    raw = pa.table({"a": pa.array([{"b": 1}, None], pa.struct([("b", pa.int64())])), "a.b": [None, 5]})
    assert flatten_structs(raw).to_pylist() == [{"a.b": 1}, {"a.b": 5}]


def test_mixed_numbers_become_float() -> None:
    raw = pa.table({"a": pa.array([{"b": 1}, {"b": 2}]), "a.b": pa.array([None, 2.5])})
    flat = flatten_structs(raw)
    assert flat.schema.field("a.b").type == pa.float64()
    assert flat.to_pylist() == [{"a.b": 1.0}, {"a.b": 2.5}]


def test_other_mixed_types_become_text() -> None:
    raw = pa.table({"a": pa.array([{"b": 1}, {"b": 2}]), "a.b": pa.array(["two", None])})
    flat = flatten_structs(raw)
    assert flat.to_pylist() == [{"a.b": "two"}, {"a.b": "2"}]


def test_table_without_structs_or_duplicates_is_returned_as_is() -> None:
    raw = pa.table({"a": [1], "b.c": ["x"]})
    assert flatten_structs(raw) is raw


def test_empty_objects_vanish_and_lists_stay_values() -> None:
    record = {"a": {}, "b": {"c": {}}, "tags": [{"k": 1}], "d": 1}
    assert flatten_record(record) == {"tags": [{"k": 1}], "d": 1}
    raw = pj.read_json(io.BytesIO(orjson.dumps(record)))
    assert flatten_structs(raw).to_pylist() == [{"tags": [{"k": 1}], "d": 1}]


def test_prefix_and_out() -> None:
    out: dict[str, Any] = {"kept": 1}
    assert flatten_record({"a": {"b": 2}}, "p.", out) is out
    assert out == {"kept": 1, "p.a.b": 2}


def test_deep_records_do_not_recurse() -> None:
    record: dict[str, Any] = {"leaf": 1}
    for _ in range(5000):  # far past Python's recursion limit
        record = {"k": record}
    assert flatten_record(record) == {".".join(["k"] * 5000 + ["leaf"]): 1}


def test_sliced_and_chunked_tables() -> None:
    struct = pa.struct([("b", pa.int64())])
    chunks = [pa.array([{"b": 1}, None], struct), pa.array([{"b": 3}], struct)]
    raw = pa.table({"a": pa.chunked_array(chunks), "a.b": pa.chunked_array([[9, 2], [None]])}).slice(1)
    assert flatten_structs(raw).to_pylist() == [{"a.b": 2}, {"a.b": 3}]


def test_nested_fields_polars_would_confuse_are_encoded_without_a_panic() -> None:
    """`{"": …, "\\u0000K": …}` are two fields named "" for polars (it cuts names at NUL) and it panics on
    them: such a column is encoded value by value, with times out of Python's range kept as text."""
    import orjson
    import pyarrow as pa

    from logwarden.model.attrs_json import encode_objects

    inner = pa.struct([("\x00K", pa.float64()), ("", pa.timestamp("s")), ("ok", pa.bool_())])
    col = pa.array(
        [[{"": {"\x00K": -3.2e16, "": -62167219200, "ok": False}}], None], pa.list_(pa.struct([("", inner)]))
    )
    (first, second) = encode_objects({"@timestamp": col}, 2).to_pylist()
    assert orjson.loads(first) == {"@timestamp": [{"": {"\x00K": -3.2e16, "": "0000-01-01 00:00:00", "ok": False}}]}
    assert second is None
