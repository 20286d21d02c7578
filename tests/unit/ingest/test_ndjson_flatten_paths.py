"""One record, every decode path that flattens nested fields: the same stored attrs (model.flatten's rule).

Paths: the NDJSON fast path (column-wise) and a body that forces the record-by-record path, a JSON array
body, ES `_bulk` (pairs, sequential, and record-by-record), Kafka JSON messages, OTLP (JSON and
protobuf, nested key/value lists), the pipeline `json` parser (column-wise and row by row) and
`logwarden pipeline test`. Loki labels and syslog structured data are flat: nothing there to flatten.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from logwarden.ingest.http.es_bulk_decode import decode_bulk
from logwarden.ingest.http.otlp_decode import decode_json_logs, decode_protobuf_logs
from logwarden.ingest.kafka.decode import FetchedBatch, decode_messages
from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.pipeline.runner import Pipeline, PipelineSet, Step
from logwarden.pipeline.testing import run_records
from tests.unit.pipeline.parsers.helpers import build

RECEIVED = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
CTX = BatchContext(tenant="acme", source="http", received=RECEIVED)
MAX_LINE = 1 << 20

# Spelled so that "first in the record wins" and "last in the record wins" would both get some of it wrong.
RECORD: dict[str, Any] = {
    "msg": "m",
    "a.b": 2,
    "a": {"b": 1},
    "x": {"y.z": "nested"},
    "x.y": {"z": "explicit"},
    "k": {"n": None},
    "k.n": 5,
    "p": {"q": 7},
    "p.q": None,
}
EXPECTED = {"a.b": 2, "x.y.z": "explicit", "k.n": 5, "p.q": 7}
# Other lines whose field `t` changes type: the body can no longer be read column-wise.
TYPE_CHANGE = [{"msg": "other", "t": 1}, {"msg": "other", "t": "one"}]


def stored_attrs(records: pa.Table | None) -> dict[str, Any]:
    """The attrs the store would keep for the first record, without the keys a protocol adds."""
    assert records is not None
    attrs = normalize(records, CTX).column("attrs")[0].as_py()
    assert attrs is not None
    return {k: v for k, v in orjson.loads(attrs).items() if k not in ("index", "t")}


def ndjson(records: list[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in records)


def native_fast() -> dict[str, Any]:
    return stored_attrs(decode_json_body(ndjson([RECORD])).records)


def native_record_by_record() -> dict[str, Any]:
    return stored_attrs(decode_json_body(ndjson([RECORD, *TYPE_CHANGE])).records)


def json_array() -> dict[str, Any]:
    return stored_attrs(decode_json_body(orjson.dumps([RECORD, RECORD])).records)


def _bulk(records: list[dict[str, Any]], extra: bytes = b"") -> dict[str, Any]:
    body = b"".join(b'{"index":{}}\n' + orjson.dumps(r) + b"\n" for r in records) + extra
    return stored_attrs(decode_bulk(body, "logs", MAX_LINE).body.records)


def es_bulk_pairs() -> dict[str, Any]:
    return _bulk([RECORD])


def es_bulk_sequential() -> dict[str, Any]:
    return _bulk([RECORD], b'{"delete":{"_id":"x"}}\n')


def es_bulk_record_by_record() -> dict[str, Any]:
    return _bulk([RECORD, *TYPE_CHANGE])


def _kafka(records: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(records)
    batch = FetchedBatch(
        [orjson.dumps(r) for r in records], ["t"] * n, [0] * n, list(range(n)), [None] * n, [None] * n, [None] * n
    )
    return stored_attrs(decode_messages(batch, "json", metadata=False, max_message_bytes=MAX_LINE).records)


def kafka() -> dict[str, Any]:
    return _kafka([RECORD])


def kafka_record_by_record() -> dict[str, Any]:
    return _kafka([RECORD, *TYPE_CHANGE])


def _json_parser(records: list[dict[str, Any]]) -> dict[str, Any]:
    step = Step("json", build({"type": "json"}))
    pipelines = PipelineSet((Pipeline("parse", (step,)),))
    lines = [{"message": orjson.dumps(r).decode()} for r in records]
    return {k: v for k, v in run_records(pipelines, lines).records[0]["attrs"].items() if k != "t"}


def json_parser() -> dict[str, Any]:
    return _json_parser([RECORD])


def json_parser_row_by_row() -> dict[str, Any]:
    return _json_parser([RECORD, *TYPE_CHANGE])


def pipeline_test_cli() -> dict[str, Any]:
    return dict(run_records(PipelineSet(), [RECORD]).records[0]["attrs"])


PATHS: dict[str, Callable[[], dict[str, Any]]] = {
    f.__name__: f
    for f in (
        native_fast,
        native_record_by_record,
        json_array,
        es_bulk_pairs,
        es_bulk_sequential,
        es_bulk_record_by_record,
        kafka,
        kafka_record_by_record,
        json_parser,
        json_parser_row_by_row,
        pipeline_test_cli,
    )
}


@pytest.mark.parametrize("path", PATHS)
def test_every_path_stores_the_same_attrs(path: str) -> None:
    assert PATHS[path]() == EXPECTED


# OTLP: attribute `a.b` sent before the key/value list `a` = {b: 1}.
def _otlp_json_value(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": _otlp_json_value(v)} for k, v in value.items()]}}
    return {"intValue": str(value)} if isinstance(value, int) else {"stringValue": value}


OTLP_ATTRIBUTES: list[tuple[str, Any]] = [
    ("a.b", 2),
    ("a", {"b": 1}),
    ("x", {"y.z": "nested"}),
    ("x.y", {"z": "explicit"}),
]
OTLP_EXPECTED = {"a.b": 2, "x.y.z": "explicit"}
# ingest/http/otlp_decode.py flattens with its own `_flatten_into` (the last spelling wins) until the
# lead switches it to model.flatten.flatten_record (see the issue-10 report); strict: passes → fails.


def test_otlp_json_stores_the_same_attrs() -> None:
    attributes = [{"key": k, "value": _otlp_json_value(v)} for k, v in OTLP_ATTRIBUTES]
    body = {
        "resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "m"}, "attributes": attributes}]}]}]
    }
    decoded = decode_json_logs(orjson.dumps(body), MAX_LINE)
    assert stored_attrs(decoded.body.records) == OTLP_EXPECTED


def _any_value(value: Any) -> AnyValue:
    if isinstance(value, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(KeyValue(key=k, value=_any_value(v)) for k, v in value.items())
        return out
    return AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)


def test_otlp_protobuf_stores_the_same_attrs() -> None:
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.body.string_value = "m"
    record.attributes.extend(KeyValue(key=k, value=_any_value(v)) for k, v in OTLP_ATTRIBUTES)
    decoded = decode_protobuf_logs(request.SerializeToString(), MAX_LINE)
    assert stored_attrs(decoded.body.records) == OTLP_EXPECTED
