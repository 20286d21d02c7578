"""SQL result values as JSON: values JSON (or Python's datetime) cannot hold come back as strings, the rest as is."""

from __future__ import annotations

import duckdb
import orjson
import pytest

from logwarden.store.duckdb.sql_values import rows_json


def _one(sql: str) -> object:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = orjson.loads(rows_json(con.sql(sql).to_arrow_table()))
    assert len(rows) == 1 and len(rows[0]) == 1
    return rows[0][0]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # out of Python's datetime range, or infinite
        ("SELECT '10000-01-01'::DATE", "10000-01-01"),
        ("SELECT 'infinity'::DATE", "infinity"),
        ("SELECT '-infinity'::DATE", "-infinity"),
        ("SELECT 'infinity'::TIMESTAMP", "infinity"),
        ("SELECT '-infinity'::TIMESTAMPTZ", "-infinity"),
        ("SELECT '10000-01-01 01:02:03.5'::TIMESTAMP", "10000-01-01T01:02:03.5Z"),
        ("SELECT make_date(-44, 3, 15)", "0045-03-15 (BC)"),
        ("SELECT 'infinity'::TIMESTAMP_NS", "infinity"),
        ("SELECT '2020-01-01 00:00:00.123456789'::TIMESTAMP_NS", "2020-01-01T00:00:00.123456789Z"),
        ("SELECT '24:00:00'::TIME", "24:00:00"),
        # floats JSON has no literal for
        ("SELECT 'nan'::DOUBLE", "NaN"),
        ("SELECT 'infinity'::DOUBLE", "Infinity"),
        ("SELECT '-infinity'::FLOAT", "-Infinity"),
        # numbers wider than JSON's doubles or orjson's 64-bit integers
        ("SELECT 12345678901234567890123::HUGEINT", "12345678901234567890123"),
        ("SELECT 170141183460469231731687303715884105727::HUGEINT", "170141183460469231731687303715884105727"),
        ("SELECT 1234567890123456789.123::DECIMAL(38, 3)", "1234567890123456789.123"),
        # blobs as hex text
        ("SELECT '\\xAA\\x00'::BLOB", "aa00"),
        # nested values get the same treatment
        ("SELECT ['10000-01-01'::DATE, NULL]", ["10000-01-01", None]),
        ("SELECT {'d': 'infinity'::TIMESTAMP, 'n': 'nan'::DOUBLE}", {"d": "infinity", "n": "NaN"}),
        ("SELECT MAP {'k': 'infinity'::DATE}", [["k", "infinity"]]),
        ("SELECT ['nan'::DOUBLE, 1.5]::DOUBLE[2]", ["NaN", 1.5]),
    ],
)
def test_values_json_cannot_hold_become_strings(sql: str, expected: object) -> None:
    assert _one(sql) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT '2026-01-02 03:04:05'::TIMESTAMPTZ", "2026-01-02T03:04:05Z"),
        ("SELECT '2026-01-02 03:04:05.25'::TIMESTAMP", "2026-01-02T03:04:05.250000Z"),
        ("SELECT '2026-01-02'::DATE", "2026-01-02"),
        ("SELECT 1.5", 1.5),
        ("SELECT 0.1::DECIMAL(18, 3)", 0.1),
        ("SELECT sum(x) FROM (VALUES (1), (2)) t(x)", 3),
        ("SELECT 9223372036854775807::BIGINT", 9223372036854775807),
        ("SELECT 2.5::DOUBLE", 2.5),
        ("SELECT 'text'", "text"),
        ("SELECT NULL::DATE", None),
        ("SELECT [1, 2]", [1, 2]),
        ("SELECT true", True),
    ],
)
def test_ordinary_values_keep_their_json_type(sql: str, expected: object) -> None:
    assert _one(sql) == expected


def test_a_column_mixing_ordinary_and_out_of_range_values() -> None:
    con = duckdb.connect()
    table = con.sql(
        "SELECT d FROM (VALUES (1, '2026-01-01'::DATE), (2, 'infinity'::DATE), (3, NULL)) t(i, d) ORDER BY i"
    ).to_arrow_table()
    assert orjson.loads(rows_json(table)) == [["2026-01-01"], ["infinity"], [None]]
    # A slice (the row limit) keeps the right values.
    assert orjson.loads(rows_json(table.slice(1, 1))) == [["infinity"]]
