"""RecordEncoder: records the server decodes into the right core fields, with `<stream>@<offset>` ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from logwarden.agent.config import FileInput
from logwarden.agent.encode import RecordEncoder
from logwarden.agent.lines import LineSplitter
from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize


def encode(config: dict[str, Any], data: bytes, max_line: int = 1 << 20) -> tuple[list[dict[str, Any]], list[int]]:
    encoder = RecordEncoder(FileInput.model_validate(config), default_host="box-1")
    lines = LineSplitter(1000, max_line).feed(data)
    records, starts = encoder.encode("abc123", "/var/log/app.log", lines)
    assert all(r.endswith(b"\n") and r.count(b"\n") == 1 for r in records)
    return [orjson.loads(r) for r in records], starts


def as_stored(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the server's own decoder and normalizer make of them."""
    body = b"\n".join(orjson.dumps(r) for r in records)
    decoded = decode_json_body(body)
    assert decoded.rejected == []
    assert decoded.records is not None
    table = normalize(decoded.records, BatchContext("t", "http", datetime.now(UTC)))
    rows = table.to_pylist()
    for row in rows:
        row["attrs"] = orjson.loads(row["attrs"]) if row["attrs"] else {}
    return rows


def test_raw_lines_carry_labels_ids_and_the_file() -> None:
    records, starts = encode(
        {"paths": ["x"], "service": "checkout", "attrs": {"env": "prod", "shard": 3}},
        b'first "quoted" \\ line\n\nthird\n',
    )
    assert starts == [1000, 1023]
    assert records[0] == {
        "msg": 'first "quoted" \\ line',
        "log_id": "abc123@1000",
        "service": "checkout",
        "host": "box-1",
        "env": "prod",
        "shard": 3,
        "file": "/var/log/app.log",
    }
    assert records[1]["msg"] == "third" and records[1]["log_id"] == "abc123@1023"
    stored = as_stored(records)
    assert [r["message"] for r in stored] == ['first "quoted" \\ line', "third"]
    assert stored[0]["service"] == "checkout" and stored[0]["host"] == "box-1"
    assert stored[0]["log_id"] == "abc123@1000"
    assert stored[0]["attrs"] == {"env": "prod", "shard": 3, "file": "/var/log/app.log"}


def test_input_host_and_no_file_attr() -> None:
    records, _ = encode({"paths": ["x"], "host": "web-7", "file_attr": None}, b"line\n")
    assert records == [{"msg": "line", "log_id": "abc123@1000", "host": "web-7"}]


def test_truncated_lines_are_flagged() -> None:
    records, _ = encode({"paths": ["x"]}, b"0123456789abcdef\nok\n", max_line=10)
    assert records[0]["msg"] == "0123456789" and records[0]["truncated"] is True
    assert "truncated" not in records[1]


def test_json_lines_keep_their_fields_and_get_our_log_id() -> None:
    data = b"\n".join(
        [
            b'{"ts":"2026-11-21T10:00:00Z","level":"warn","msg":"disk low","free":12,"log_id":"app-1"}',
            b'{"msg":"mine","service":"billing","host":"db-2"}',
            b'{"msg":"alias","app":"legacy","hostname":"old-box"}',
            b"not json at all",
            b"[1, 2]",
            b'{"broken": ',
        ]
    )
    records, starts = encode({"paths": ["x"], "parser": "json", "service": "default-svc"}, data + b"\n")
    assert [r["log_id"] for r in records] == [f"abc123@{s}" for s in starts]
    assert len(records) == 6
    first = records[0]
    assert first["line_log_id"] == "app-1" and first["free"] == 12 and first["service"] == "default-svc"
    assert records[1]["service"] == "billing" and records[1]["host"] == "db-2"
    assert "service" not in records[2] and "host" not in records[2]
    assert [r.get("parse_error") for r in records[3:]] == ["not a JSON object"] * 3
    assert records[3]["msg"] == "not json at all"

    stored = as_stored(records)
    assert stored[0]["level"] == "WARN" and stored[0]["message"] == "disk low"
    assert stored[0]["ts"] == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert stored[1]["service"] == "billing" and stored[1]["host"] == "db-2"
    assert stored[2]["service"] == "legacy" and stored[2]["host"] == "old-box"
    assert stored[4]["message"] == "[1, 2]"
    assert len({r["log_id"] for r in stored}) == 6


def test_json_parser_in_long_form() -> None:
    records, _ = encode({"paths": ["x"], "parser": {"type": "json"}}, b'{"msg":"a","k":1}\n')
    assert records[0]["k"] == 1
