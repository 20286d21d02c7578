"""Unit tests for logwarden.ingest.ndjson: decoding NDJSON / JSON-array bodies."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from logwarden.ingest.ndjson import DecodedBody, decode_json_body
from logwarden.model.normalize import PREBUILT_ATTRS, BatchContext, normalize
from logwarden.model.schema import LOG_SCHEMA

RECEIVED = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
CTX = BatchContext(tenant="acme", source="http", received=RECEIVED, default_service="dsvc")

CORE = ("ts", "level", "severity", "message", "service", "host")


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def decode(body: bytes) -> DecodedBody:
    result = decode_json_body(body)
    assert isinstance(result, DecodedBody)
    return result


def normalized(result: DecodedBody, fields: tuple[str, ...] = ("message", "attrs")) -> list[dict[str, Any]]:
    assert result.records is not None
    out = normalize(result.records, CTX)
    assert out.schema.equals(LOG_SCHEMA)
    rows = out.to_pylist()
    for row in rows:
        if row["attrs"] is not None:
            row["attrs"] = orjson.loads(row["attrs"])
    return [{k: row[k] for k in fields} for row in rows]


def reasons(result: DecodedBody) -> list[str]:
    return [reason for _, reason in result.rejected]


def raw_lines(result: DecodedBody) -> list[str]:
    return [line for line, _ in result.rejected]


# --- well-formed bodies ------------------------------------------------------------------------


def test_ndjson() -> None:
    result = decode(
        b'{"ts":"2024-01-02T03:04:05Z","level":"warn","msg":"a","n":1}\n'
        b'{"ts":"2024-01-02T03:04:06Z","level":"error","msg":"b","n":2}\n'
    )
    assert result.rejected == []
    assert result.records is not None
    assert result.records.num_rows == 2
    assert normalized(result, ("ts", "level", "message", "attrs")) == [
        {"ts": utc(2024, 1, 2, 3, 4, 5), "level": "WARN", "message": "a", "attrs": {"n": 1}},
        {"ts": utc(2024, 1, 2, 3, 4, 6), "level": "ERROR", "message": "b", "attrs": {"n": 2}},
    ]


def test_ndjson_without_trailing_newline_and_with_crlf() -> None:
    for body in (b'{"msg":"a"}\n{"msg":"b"}', b'{"msg":"a"}\r\n{"msg":"b"}\r\n'):
        result = decode(body)
        assert result.rejected == []
        assert normalized(result) == [{"message": "a", "attrs": None}, {"message": "b", "attrs": None}]


def test_nested_objects_and_sparse_keys() -> None:
    result = decode(
        b'{"msg":"a","http":{"status":200,"req":{"method":"GET"}}}\n'
        b'{"msg":"b","user":"bob"}\n'
        b'{"msg":"c","tags":["x","y"]}\n'
    )
    assert result.rejected == []
    assert normalized(result) == [
        {"message": "a", "attrs": {"http.status": 200, "http.req.method": "GET"}},
        {"message": "b", "attrs": {"user": "bob"}},
        {"message": "c", "attrs": {"tags": ["x", "y"]}},
    ]


def test_json_array_body() -> None:
    result = decode(b'  \n[{"msg":"a","k":1},{"msg":"b","k":2}]\n')
    assert result.rejected == []
    assert normalized(result) == [{"message": "a", "attrs": {"k": 1}}, {"message": "b", "attrs": {"k": 2}}]


def test_json_array_rejects_non_objects() -> None:
    result = decode(b'[{"msg":"a"}, 5, "x", null, [1], {"msg":"b"}]')
    assert result.rejected == [
        ("5", "array element is not a JSON object"),
        ('"x"', "array element is not a JSON object"),
        ("null", "array element is not a JSON object"),
        ("[1]", "array element is not a JSON object"),
    ]
    assert normalized(result) == [{"message": "a", "attrs": None}, {"message": "b", "attrs": None}]


def test_json_array_of_only_non_objects() -> None:
    result = decode(b"[1, 2]")
    assert result.records is None
    assert result.rejected == [
        ("1", "array element is not a JSON object"),
        ("2", "array element is not a JSON object"),
    ]


def test_json_array_with_type_changes() -> None:
    result = decode(b'[{"msg":"a","x":1},{"msg":"b","x":"one"}]')
    assert result.rejected == []
    assert normalized(result) == [
        {"message": "a", "attrs": {"x": 1}},
        {"message": "b", "attrs": {"x": "one"}},
    ]


# --- empty and blank ---------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"   ", b"\n\n", b" \r\n\t\n", b"[]", b"  []  "])
def test_empty_body(body: bytes) -> None:
    result = decode(body)
    assert result.records is None
    assert result.rejected == []


def test_blank_lines_ignored() -> None:
    result = decode(b'\n\n{"msg":"a"}\n   \n\r\n\t\n{"msg":"b"}\n\n')
    assert result.rejected == []
    assert normalized(result) == [{"message": "a", "attrs": None}, {"message": "b", "attrs": None}]


def test_blank_lines_ignored_on_slow_path() -> None:
    result = decode(b'\n{"msg":"a"}\n\n   \nnope\n\n{"msg":"b"}\n')
    assert raw_lines(result) == ["nope"]
    assert normalized(result) == [{"message": "a", "attrs": None}, {"message": "b", "attrs": None}]


# --- bad lines ---------------------------------------------------------------------------------


def test_invalid_json_line_rejected_valid_lines_survive() -> None:
    result = decode(b'{"msg":"a","k":1}\n{not json\n{"msg":"b","k":2}\n{"msg": "unterminated\n')
    assert raw_lines(result) == ["{not json", '{"msg": "unterminated']
    assert len(result.rejected) == 2
    for reason in reasons(result):
        assert reason.startswith("invalid JSON")
    assert normalized(result) == [{"message": "a", "attrs": {"k": 1}}, {"message": "b", "attrs": {"k": 2}}]


def test_rejected_line_is_stripped() -> None:
    result = decode(b'  {oops  \r\n{"msg":"a"}')
    assert raw_lines(result) == ["{oops"]


def test_only_invalid_lines() -> None:
    result = decode(b"{not json\nalso not json\n")
    assert result.records is None
    assert raw_lines(result) == ["{not json", "also not json"]
    assert reasons(result) == [
        "invalid JSON at column 2: unexpected character, expected a string key",
        "not a JSON object: starts with 'a'",
    ]


@pytest.mark.parametrize(
    "line",
    [
        b"[1,2]",
        b'"just a string"',
        b"42",
        b"null",
        b"true",
        b"[]",
    ],
)
def test_json_but_not_object_rejected(line: bytes) -> None:
    result = decode(b'{"msg":"a"}\n' + line + b'\n{"msg":"b"}')
    assert result.rejected == [(line.decode(), "line is JSON but not an object")]
    assert normalized(result) == [{"message": "a", "attrs": None}, {"message": "b", "attrs": None}]


def test_invalid_utf8_line_rejected_on_line_by_line_path() -> None:
    # The "not json" line makes the whole-body read fail, so every line is judged on its own.
    result = decode(b'{"msg":"a"}\n{"msg":"\xff\xfe"}\nnot json\n{"msg":"b"}\n')
    assert len(result.rejected) == 2
    line, reason = result.rejected[0]
    assert line == '{"msg":"\ufffd\ufffd"}'
    assert "invalid JSON" in reason
    assert normalized(result) == [{"message": "a", "attrs": None}, {"message": "b", "attrs": None}]


def test_invalid_utf8_line_rejected_without_raising() -> None:
    result = decode(b'{"msg":"a"}\n{"msg":"\xff\xfe"}\n{"msg":"b"}\n')
    assert len(result.rejected) == 1
    line, reason = result.rejected[0]
    assert line == '{"msg":"\ufffd\ufffd"}'
    assert "invalid JSON" in reason
    assert result.records is not None
    result.records.validate(full=True)
    assert normalized(result) == [{"message": "a", "attrs": None}, {"message": "b", "attrs": None}]


def test_invalid_utf8_outside_json_rejected() -> None:
    result = decode(b'\xff\xfe\x00garbage\n{"msg":"b"}')
    assert len(result.rejected) == 1
    assert "invalid JSON" in reasons(result)[0]
    assert normalized(result) == [{"message": "b", "attrs": None}]


def test_invalid_array_body_falls_back_to_lines() -> None:
    # Starts with '[' but is not one JSON array: each line is judged on its own.
    result = decode(b'[1]\n{"msg":"a"}\n{"msg":"b"}')
    assert result.rejected == [("[1]", "line is JSON but not an object")]
    assert normalized(result) == [{"message": "a", "attrs": None}, {"message": "b", "attrs": None}]


def test_truncated_array_body_rejected_as_a_line() -> None:
    result = decode(b'[{"msg":"a"}, {"msg":')
    assert result.records is None
    assert raw_lines(result) == ['[{"msg":"a"}, {"msg":']
    assert reasons(result)[0].startswith("invalid JSON")


def test_multiline_invalid_array_body_keeps_valid_lines() -> None:
    result = decode(b'[\n{"msg":"a"}\n{"msg":"b"},\n')
    assert raw_lines(result) == ["[", '{"msg":"b"},']
    assert all(r.startswith("invalid JSON") for r in reasons(result))
    assert normalized(result) == [{"message": "a", "attrs": None}]


# --- fields whose type changes between lines (per-record fallback) -----------------------------


def test_type_change_decodes_via_fallback() -> None:
    result = decode(b'{"x":1,"msg":"a"}\n{"x":"a","msg":"b"}\n')
    assert result.rejected == []
    assert result.records is not None
    assert PREBUILT_ATTRS in result.records.column_names
    assert normalized(result) == [{"message": "a", "attrs": {"x": 1}}, {"message": "b", "attrs": {"x": "a"}}]


def test_type_change_normalizes_every_field() -> None:
    result = decode(
        b'{"x":1,"msg":"a","level":"warn","ts":"2024-01-02T03:04:05Z","service":"api","http":{"s":1}}\n'
        b'{"x":"a","msg":"b","level":17,"ts":1700000000,"host":"h1"}\n'
        b'{"x":[1],"level":"bogus","ts":"nah","n":{"deep":{"k":[1,2]}},"t":null}\n'
        b'{"x":{"y":true},"message":"d","@timestamp":"Jan  5 03:04:05"}\n'
        b"not json\n"
    )
    assert raw_lines(result) == ["not json"]
    assert normalized(result, (*CORE, "attrs")) == [
        {
            "ts": utc(2024, 1, 2, 3, 4, 5),
            "level": "WARN",
            "severity": 13,
            "message": "a",
            "service": "api",
            "host": None,
            "attrs": {"x": 1, "http.s": 1},
        },
        {
            "ts": utc(2023, 11, 14, 22, 13, 20),
            "level": "ERROR",
            "severity": 17,
            "message": "b",
            "service": "dsvc",
            "host": "h1",
            "attrs": {"x": "a"},
        },
        {
            "ts": RECEIVED,
            "level": None,
            "severity": None,
            "message": None,
            "service": "dsvc",
            "host": None,
            "attrs": {"ts": "nah", "level": "bogus", "x": [1], "n.deep.k": [1, 2]},
        },
        {
            "ts": utc(2024, 1, 5, 3, 4, 5),
            "level": None,
            "severity": None,
            "message": "d",
            "service": "dsvc",
            "host": None,
            "attrs": {"x.y": True},
        },
    ]


def test_type_change_log_ids() -> None:
    result = decode(b'{"x":1,"log_id":"keep"}\n{"x":"s"}\n')
    assert result.records is not None
    ids = normalize(result.records, CTX).column("log_id").to_pylist()
    assert ids[0] == "keep"
    assert ids[1] and ids[1] != "keep"


def test_type_change_keeps_numeric_otel_severity() -> None:
    result = decode(b'{"x":1,"level":10}\n{"x":"a","severity":18}\n')
    assert normalized(result, ("level", "severity")) == [
        {"level": "INFO", "severity": 10},
        {"level": "ERROR", "severity": 18},
    ]


def test_numeric_otel_severity_fast_path() -> None:
    result = decode(b'{"level":10}\n{"level":18}\n')
    assert normalized(result, ("level", "severity")) == [
        {"level": "INFO", "severity": 10},
        {"level": "ERROR", "severity": 18},
    ]


# --- large input -------------------------------------------------------------------------------


def test_line_larger_than_read_block() -> None:
    big = "a" * (5 << 20)
    result = decode(b'{"msg":"' + big.encode() + b'","k":1}\n{"msg":"b","k":2}\n')
    assert result.rejected == []
    rows = normalized(result)
    assert [len(r["message"]) for r in rows] == [5 << 20, 1]
    assert [r["attrs"] for r in rows] == [{"k": 1}, {"k": 2}]


def test_many_lines() -> None:
    body = b"\n".join(b'{"msg":"m%d","i":%d}' % (i, i) for i in range(2000))
    result = decode(body)
    assert result.rejected == []
    rows = normalized(result)
    assert len(rows) == 2000
    assert rows[1234] == {"message": "m1234", "attrs": {"i": 1234}}


# --- strings that look like timestamps ---------------------------------------------------------


@pytest.mark.parametrize("text", ["2024-01-02 03:04:05", "2024-01-02", "2024-01-02T03:04:05+02:00"])
def test_timestamp_looking_strings_are_kept_verbatim(text: str) -> None:
    body = orjson.dumps({"msg": text, "host": text, "trace_id": text, "started": text})
    result = decode(body)
    assert normalized(result, ("message", "host", "trace_id", "attrs")) == [
        {"message": text, "host": text, "trace_id": text, "attrs": {"started": text}}
    ]


# --- a body that starts with a JSON null -------------------------------------------------------

_NULL_FIRST_SCRIPT = """
import orjson
from logwarden.ingest.ndjson import decode_json_body
r = decode_json_body(b'null\\n{"msg":"b"}')
print(orjson.dumps({"rows": r.records.to_pylist() if r.records is not None else None,
                    "rejected": r.rejected}).decode())
"""


def test_body_starting_with_null_line() -> None:
    # Run in a child process: the failure mode is a segmentation fault.
    proc = subprocess.run(
        [sys.executable, "-c", _NULL_FIRST_SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, f"child exited with {proc.returncode}: {proc.stderr[-500:]}"
    assert orjson.loads(proc.stdout) == {
        "rows": [{"msg": "b"}],
        "rejected": [["null", "line is JSON but not an object"]],
    }
