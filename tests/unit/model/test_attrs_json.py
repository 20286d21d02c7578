"""encode_objects builds JSON with Arrow kernels; it must agree with a real JSON encoder on any input."""

from __future__ import annotations

import json
import math

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from logwarden.model.attrs_json import encode_objects

ROWS = 6
keys = st.text(min_size=1, max_size=8)
strings = st.text(max_size=12)  # any code points: quotes, backslashes, control characters, non-ASCII


def column(values: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(st.one_of(st.none(), values), min_size=ROWS, max_size=ROWS)


columns = st.dictionaries(
    keys,
    st.one_of(
        column(strings).map(lambda v: pa.array(v, pa.string())),
        column(st.integers(-(2**63), 2**63 - 1)).map(lambda v: pa.array(v, pa.int64())),
        column(st.floats(allow_nan=True, allow_infinity=True)).map(lambda v: pa.array(v, pa.float64())),
        column(st.booleans()).map(lambda v: pa.array(v, pa.bool_())),
        column(st.lists(st.integers(-100, 100), max_size=3)).map(lambda v: pa.array(v, pa.list_(pa.int64()))),
    ),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(columns)
def test_matches_a_json_encoder(cols: dict[str, pa.Array]) -> None:
    out = encode_objects(cols, ROWS).to_pylist()
    assert len(out) == ROWS
    for i, text in enumerate(out):
        expected = {}
        for name, col in cols.items():
            value = col[i].as_py()
            if value is None or (isinstance(value, float) and not math.isfinite(value)):
                continue
            expected[name] = value
        if not expected:
            assert text is None
        else:
            assert text is not None
            assert json.loads(text) == expected


def test_no_columns_gives_nulls() -> None:
    assert encode_objects({}, 3).to_pylist() == [None, None, None]


def test_escapes_quotes_backslashes_and_newlines() -> None:
    col = pa.array(['say "hi"', "C:\\temp", "two\nlines\ttab", "bell\x07"])
    texts = encode_objects({"k": col}, 4).to_pylist()
    assert [json.loads(t)["k"] for t in texts] == ['say "hi"', "C:\\temp", "two\nlines\ttab", "bell\x07"]
