"""Rule fields: core columns as they are, attributes (dotted keys, '/', quotes) from the attrs JSON."""

from __future__ import annotations

import pyarrow as pa

from logwarden.rules.fields import field_values


def test_core_columns_and_attributes_by_their_flat_keys() -> None:
    table = pa.table(
        {
            "service": ["a", "b", None],
            "attrs": ['{"user":"bob","http.status":500,"a/b":1,"q\\"k":"v"}', None, '{"user":"x\\"y"}'],
        }
    )
    values = field_values(table, ["service", "user", "attrs.http.status", "a/b", 'q"k', "missing"])
    assert {k: v.to_pylist() for k, v in values.items()} == {
        "service": ["a", "b", None],
        "user": ["bob", None, 'x"y'],
        "attrs.http.status": ["500", None, None],
        "a/b": ["1", None, None],
        'q"k': ["v", None, None],
        "missing": [None, None, None],
    }
