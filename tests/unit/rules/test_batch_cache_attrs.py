"""Every attribute the rules read is extracted from `attrs` in one JSON parse per line (a list of paths), and
filters on attributes read those extracted values: the masks and fields equal each filter and field alone —
for keys with dots, slashes, tildes, quotes, nested values, numbers written as text, and lines without attrs."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pyarrow as pa

from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.query.filter import compile_filter
from logwarden.rules.base import BatchCache
from logwarden.rules.fields import field_values

LINES = [
    {"msg": "a", "a/b": 1, "x~y": "t", "it's": 2.5, "nested": {"k": [1, 2]}, "n": "12", "http": {"status": 503}},
    {"msg": "b", "a/b": "1", "x~y": None, "it's": "NaN", "nested": [], "n": 700, "http": {"status": "404"}},
    {"msg": "c", "n": True, "flag": False},
    {"msg": "d"},
    {"msg": "e", "a/b": 0.5e1, "x~y": "t", "n": " 12 ", "deep": {"a": {"b": "c"}}},
]
QUERIES = [  # field names of the query language (JSON-pointer escapes are for the fields below)
    "n:>100",
    "n:12",
    "n:true",
    "nested:*",
    "nested.k:*",
    "http.status:>=500",
    "http.status:404 OR flag:false",
    "-n:* OR deep.a.b:c",
    "missing:*",
    "a n:*",
]
FIELDS = ["a/b", "x~y", "it's", "nested", "n", "http.status", "attrs.flag", "deep.a.b", "missing"]


def table() -> pa.Table:
    body = b"\n".join(orjson.dumps(r) for r in LINES)
    return normalize(decode_json_body(body).records, BatchContext("default", "http", datetime(2026, 3, 1, tzinfo=UTC)))


def test_one_parse_per_line_gives_each_filters_mask_and_each_fields_values() -> None:
    t = table()
    filters = [compile_filter(q) for q in QUERIES]
    for lean in (False, True):
        cache = BatchCache(t, lean=lean)
        cache.prepare(filters, FIELDS)
        for f in filters:
            assert cache._masks[f.text].to_pylist() == f.mask(t).to_pylist(), f.text
        expected = field_values(t, FIELDS)
        for name in FIELDS:
            assert cache._all_fields[name].to_pylist() == expected[name].to_pylist(), name
    # Not vacuous: the filters select different lines, and some field has values on every line it exists.
    assert len({tuple(f.mask(t).to_pylist()) for f in filters}) > 5


def test_a_single_attribute_and_a_batch_without_attrs() -> None:
    t = table()
    cache = BatchCache(t)
    only = compile_filter("n:>100")
    cache.prepare([only], [])
    assert cache._masks[only.text].to_pylist() == [False, True, False, False, False]
    bare = t.drop_columns(["attrs"])
    cache = BatchCache(bare)
    cache.prepare([only], ["n"])  # nothing to parse: filters are evaluated alone when asked
    assert cache.matched(only.text, only.mask).num_rows == 0
