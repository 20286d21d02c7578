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


def test_sliced_columns_keep_their_own_rows() -> None:
    # A column may be a slice of a larger array (offset 3): keys follow the slice's values, not the parent's.
    ints = pa.array([1, None, 2, None, 3, None, None, 4, 5, None, 6], pa.int64()).slice(3, 7)
    texts = pa.array(["a", None, "b", "c", None, "q", None, "d", None, "e", "f"], pa.string()).slice(3, 7)
    out = encode_objects({"n": ints, "s": texts}, 7).to_pylist()
    expected = []
    for n, s in zip(ints.to_pylist(), texts.to_pylist(), strict=True):
        row = {k: v for k, v in (("n", n), ("s", s)) if v is not None}
        expected.append(row or None)
    assert [json.loads(t) if t is not None else None for t in out] == expected


def test_long_keys_and_many_rows() -> None:
    # A key repeated over many rows is past the cached blocks' size: built for the call, same result.
    key = "k" * 300
    n = 5000
    col = pa.array([i if i % 3 else None for i in range(n)], pa.int64())
    out = encode_objects({key: col, "x": pa.array(["v"] * n)}, n).to_pylist()
    assert json.loads(out[1]) == {key: 1, "x": "v"}
    assert json.loads(out[3]) == {"x": "v"}
    assert json.loads(out[n - 1]) == {key: n - 1, "x": "v"}


def test_escapes_only_what_the_values_hold() -> None:
    # A quote without a backslash, a tab without a newline: each escape applies on its own.
    col = pa.array(['a "b"', "c\td", None, "plain"])
    out = encode_objects({"m": col}, 4).to_pylist()
    assert [json.loads(t)["m"] if t else None for t in out] == ['a "b"', "c\td", None, "plain"]
