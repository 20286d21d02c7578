"""Normalizing a decoded body hands its text columns on without copying them (combine_chunks copies even a
single chunk; `one_array` does not)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize, one_array


def test_message_buffer_is_shared_from_decode_to_core_batch() -> None:
    body = b'{"msg":"first line","service":"api"}\n{"msg":"second line","service":"api"}\n'
    records = decode_json_body(body).records
    assert records is not None
    core = normalize(records, BatchContext(tenant="t", source="http", received=datetime.now(UTC)))
    decoded = records.column("msg").chunk(0)
    stored = core.column("message").chunk(0)
    assert stored.to_pylist() == ["first line", "second line"]
    assert stored.buffers()[2].address == decoded.buffers()[2].address


def test_one_array_keeps_a_single_chunk_and_joins_several() -> None:
    single = pa.chunked_array([pa.array(["a", "b"])])
    assert one_array(single).buffers()[2].address == single.chunk(0).buffers()[2].address
    several = pa.chunked_array([pa.array(["a"]), pa.array(["b", None])])
    assert one_array(several).to_pylist() == ["a", "b", None]
    assert one_array(pa.chunked_array([], pa.string())).to_pylist() == []
