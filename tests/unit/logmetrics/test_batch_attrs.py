"""The attributes of a stored batch are parsed once for every subscriber (query/batch_attrs.py): the rules engine and
the log metrics handed the same rows (the same Arrow buffers, coalesced or not) share the texts; other rows —
even with equal content — are read from their own JSON, and filters over shared columns match as over the JSON."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import orjson
import pyarrow as pa
import pytest

from logwarden.ingest.ndjson import decode_json_body
from logwarden.ingest.sink import to_core_batch
from logwarden.logmetrics.batch import MetricBatch
from logwarden.model.normalize import BatchContext
from logwarden.query.batch_attrs import ATTR_COLUMNS, SHARED_TEXTS, BatchAttributes
from logwarden.query.batch_attrs import _rows_key as rows_key
from logwarden.query.filter import compile_filter
from logwarden.rules.base import BatchCache
from logwarden.store.arrival import with_seq

LINES = [
    {"msg": "a", "status": 503, "route": "/a", "a/b": "x"},
    {"msg": "b", "status": "404", "route": "/b"},
    {"msg": "c"},
    {"msg": "d", "status": 200, "route": "/a", "a/b": 1},
]


def stored(seq: int, lines: list[dict[str, object]]) -> pa.Table:
    body = b"\n".join(orjson.dumps(line) for line in lines)
    context = BatchContext("default", "http", datetime(2026, 1, 1, tzinfo=UTC))
    table = to_core_batch(decode_json_body(body), context).table
    return with_seq(seq, table)


class Reader:
    """Stands for a subscriber that reads attributes (`ATTR_COLUMNS.want` holds readers weakly)."""


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    """Two subscribers read attributes (the rules engine and the log metrics): texts are shared."""
    readers = [Reader(), Reader()]
    for reader in readers:
        ATTR_COLUMNS.want(reader)
    SHARED_TEXTS.clear()
    yield
    SHARED_TEXTS.clear()
    for reader in readers:
        ATTR_COLUMNS.want(reader, False)


def test_a_second_reader_of_the_same_rows_reuses_the_texts() -> None:
    table = stored(1, LINES)
    first = BatchAttributes(table).texts(["status", "route"])
    assert first["status"].to_pylist() == ["503", "404", None, "200"]
    second = BatchAttributes(table).texts(["status", "route", "a/b"])
    assert second["status"] is first["status"] and second["route"] is first["route"]
    assert second["a/b"].to_pylist() == ["x", None, None, "1"]


def test_one_reader_alone_keeps_no_texts() -> None:
    alone = Reader()
    ATTR_COLUMNS.want(alone)
    for reader in list(ATTR_COLUMNS._readers):
        if reader is not alone:
            ATTR_COLUMNS.want(reader, False)
    table = stored(1, LINES)
    first = BatchAttributes(table).texts(["status"])
    assert len(SHARED_TEXTS) == 0 and SHARED_TEXTS.nbytes == 0
    assert BatchAttributes(table).texts(["status"])["status"] is not first["status"]
    ATTR_COLUMNS.want(alone, False)


def test_shared_texts_keep_the_newest_batches_within_their_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    tables = [stored(i, [{"msg": "m", "route": f"/{i}" * 50}] * 100) for i in range(1, 5)]
    BatchAttributes(tables[0]).texts(["route"])
    one = SHARED_TEXTS.nbytes
    assert len(SHARED_TEXTS) == 1 and one > 100 * 50
    monkeypatch.setattr(SHARED_TEXTS, "max_bytes", int(one * 2.5))  # room for two such batches
    texts = [BatchAttributes(t).texts(["route"])["route"] for t in tables[1:]]
    assert len(SHARED_TEXTS) == 2 and SHARED_TEXTS.nbytes <= SHARED_TEXTS.max_bytes
    # The newest two are shared; the older ones are gone.
    kept = [SHARED_TEXTS.get(rows_key(t), ["route"]).get("route") for t in tables]
    assert kept[:2] == [None, None] and kept[2] is texts[1] and kept[3] is texts[2]


def test_the_rules_engine_and_the_metrics_share_one_parse() -> None:
    table = stored(1, LINES)
    metrics = MetricBatch(table)
    metrics.prepare([], ["status"])
    rules = BatchCache(table)
    rules.prepare([], ["status"])
    assert rules.fields("*", table, ["status"])["status"] is metrics.text("status")


def test_coalesced_runs_of_the_same_batches_share_and_others_do_not() -> None:
    one, two = stored(1, LINES), stored(2, LINES[:2])
    texts = BatchAttributes(pa.concat_tables([one, two])).texts(["route"])
    again = BatchAttributes(pa.concat_tables([one, two])).texts(["route"])
    assert again["route"] is texts["route"]
    # Equal content in other memory (another store, a test's batch): parsed from its own JSON.
    other = stored(1, [{"msg": "z", "route": "/z"}] * 6)
    assert BatchAttributes(other).texts(["route"])["route"].to_pylist() == ["/z"] * 6


def test_filters_over_shared_columns_match_as_over_the_json() -> None:
    table = stored(1, LINES)
    filters = [compile_filter(q) for q in ("status:>=500", 'status:404 OR route:"/a"', "-status:*", 'route:"/b"')]
    alone = [BatchAttributes(table).evaluate([f], []) for f in filters]
    SHARED_TEXTS.clear()
    reader = BatchAttributes(table)
    reader.texts(["status", "route", "a/b"])  # every key read first: the filters run over the columns
    together = reader.evaluate(filters, [])
    assert [m.to_pylist() for m in together] == [m[0].to_pylist() for m in alone]
    assert [np.flatnonzero(m.to_numpy(zero_copy_only=False)).tolist() for m in together] == [[0], [0, 1, 3], [2], [1]]
