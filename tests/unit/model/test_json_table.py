"""Unit tests for logwarden.model.json_table: record tables from JSON objects (reader and fallback)."""

from __future__ import annotations

import pyarrow as pa

from logwarden.model.json_table import records_to_table, table_from_records
from logwarden.model.normalize import PREBUILT_ATTRS


def test_records_to_table() -> None:
    table = records_to_table(
        [
            {"msg": "a", "level": 10, "ts": 1.5, "http": {"s": 1, "h": {}}, "n": None, "host": None},
            {"msg": None, "tags": [1]},
            {"service": {"name": "x"}},
        ]
    )
    assert table.schema.types == [pa.string()] * len(table.column_names)
    assert table.to_pylist() == [
        {"msg": "a", "level": "10", "ts": "1.5", PREBUILT_ATTRS: '{"http.s":1}'},
        {"msg": None, "level": None, "ts": None, PREBUILT_ATTRS: '{"tags":[1]}'},
        # a nested object under a core alias is flattened away from it: it is an attribute
        {"msg": None, "level": None, "ts": None, PREBUILT_ATTRS: '{"service.name":"x"}'},
    ]


def test_records_to_table_core_values_as_text() -> None:
    table = records_to_table([{"msg": True, "host": 5, "trace_id": [1, 2]}])
    assert table.to_pylist() == [{"msg": "true", "host": "5", "trace_id": "[1,2]", PREBUILT_ATTRS: None}]


def test_records_to_table_explicit_dotted_key_wins() -> None:
    table = records_to_table([{"a": {"b": 1}, "a.b": 2}, {"a.b": 3, "a": {"b": 4}}])
    assert table.column(PREBUILT_ATTRS).to_pylist() == ['{"a.b":2}', '{"a.b":3}']


def test_table_from_records_column_wise_when_the_reader_takes_them() -> None:
    table = table_from_records([{"msg": "a", "http": {"status": 200}}, {"msg": "b", "when": "2024-01-02"}])
    assert PREBUILT_ATTRS not in table.column_names
    assert table.column("http").type == pa.struct([("status", pa.int64())])
    # ISO-looking text outside the ts fields stays text, as at ingest.
    assert table.column("when").to_pylist() == [None, "2024-01-02"]


def test_table_from_records_record_by_record_when_types_change() -> None:
    table = table_from_records([{"msg": "a", "n": 1}, {"msg": "b", "n": "one"}])
    assert table.column(PREBUILT_ATTRS).to_pylist() == ['{"n":1}', '{"n":"one"}']
    assert table.column("msg").to_pylist() == ["a", "b"]


def test_table_from_no_records_is_empty() -> None:
    assert table_from_records([]).num_rows == 0
