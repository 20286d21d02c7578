"""The packer's integer-attribute claim (model.normalize INT_ATTRS_META): which keys it names, when it says
nothing, and that it travels with the batch through the ingest log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.ingest.ndjson import DecodedBody, decode_json_body
from logwarden.ingest.sink import to_core_batch
from logwarden.model.normalize import (
    INT_ATTRS_META,
    PREBUILT_ATTRS,
    BatchContext,
    int_attr_keys,
    normalize,
    without_int_claims,
)
from logwarden.store.wal import decode_table, encode_table

CTX = BatchContext("default", "http", datetime(2026, 11, 21, 12, 0, tzinfo=UTC))


def packed(records: list[dict[str, Any]]) -> pa.Table:
    decoded = decode_json_body(b"\n".join(orjson.dumps(r) for r in records))
    assert decoded.records is not None
    return normalize(decoded.records, CTX)


def test_integer_columns_are_claimed_and_their_json_values_are_integer_literals() -> None:
    table = packed(
        [
            {"msg": "a", "status": 500, "ratio": 0.5, "user": "u1", "big": -(2**63), "ok": True},
            {"msg": "b", "status": 204, "ratio": 2, "user": "500", "http": {"code": 7}},
            {"msg": "c"},
        ]
    )
    claimed = int_attr_keys(table)
    assert claimed == {"status", "big", "http.code"}
    # What the claim promises: every value of a claimed key in attrs is an integer literal (orjson reads it as int).
    objects = [orjson.loads(text) for text in table.column("attrs").to_pylist() if text]
    assert all(type(obj[key]) is int for obj in objects for key in claimed if key in obj)
    assert any("status" in obj for obj in objects)


def test_no_claim_without_integer_columns_or_over_ready_made_json() -> None:
    assert int_attr_keys(packed([{"msg": "a", "ratio": 0.5, "user": "x"}])) == frozenset()
    assert INT_ATTRS_META not in (packed([{"msg": "a", "user": "x"}]).schema.metadata or {})
    # A decoder's pre-built attrs JSON is merged as text: nothing is claimed about it, nor about the columns.
    raw = pa.table({"msg": ["a"], "n": pa.array([1], pa.int64()), PREBUILT_ATTRS: ['{"n2":"x"}']})
    assert int_attr_keys(normalize(raw, CTX)) == frozenset()


def test_dead_letters_in_the_batch_drop_the_claim() -> None:
    good = decode_json_body(b'{"msg":"a","error":1}\n{"msg":"b","error":2}')
    alone = to_core_batch(good, CTX).table
    assert int_attr_keys(alone) == {"error"}
    # The dead letters' attrs hold "error" as text: a claim over the whole batch would be false.
    mixed = to_core_batch(DecodedBody(good.records, [("not json", "invalid JSON")]), CTX).table
    assert mixed.num_rows == 3
    assert pc.any(pc.match_substring(mixed.column("attrs"), '"error":"invalid JSON"')).as_py()
    assert int_attr_keys(mixed) == frozenset()


def test_the_claim_survives_the_ingest_log_and_can_be_dropped() -> None:
    table = packed([{"msg": "a", "n": 1}])
    again = decode_table(encode_table(table))
    assert int_attr_keys(again) == {"n"}
    assert int_attr_keys(without_int_claims(again)) == frozenset()
    assert without_int_claims(again).equals(table)
    plain = packed([{"msg": "a"}])
    assert without_int_claims(plain) is plain
