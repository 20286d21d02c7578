"""Nesting depth is bounded before any parser or recursive function sees a line, on every JSON path;
and a line that is not JSON gets a reason a person understands."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.ingest.http.es_bulk_decode import decode_bulk
from logwarden.ingest.json_depth import DEFAULT_MAX_JSON_DEPTH, depth_upper_bounds, json_depth, json_depths, too_deep
from logwarden.ingest.kafka.decode import FetchedBatch, decode_messages
from logwarden.ingest.ndjson import decode_json_body, parse_object_line
from tests.conftest import make_config

REASON = "JSON nested deeper than 64 levels (ingest.max_json_depth)"


def nested(depth: int, key: bytes = b'"a"') -> bytes:
    """An object nested `depth` levels deep: {"a":{"a":...{"a":1}...}}."""
    return (b"{" + key + b":") * depth + b"1" + b"}" * depth


def deep_array_line(depth: int) -> bytes:
    return b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@contextlib.contextmanager
def serve(tmp_path: Path, **overrides: Any) -> Iterator[TestClient]:
    with TestClient(create_app(make_config(tmp_path, **overrides), run_maintenance=False)) as c:
        yield c


# --- measuring depth ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"1", 0),
        (b'"{[{["', 0),
        (b"{}", 1),
        (b"[[], []]", 2),
        (b'{"a":{"b":[1,{"c":3}]}}', 4),
        (b'{"a":"[[[[{{{{"}', 1),
        (rb'{"a":"x\"[[[[\\"}', 1),  # an escaped quote does not end the string
        (rb'{"a":"\\"}', 1),  # an escaped backslash does
        ('{"é":"[[["}'.encode(), 1),
        (b'{"a":"unterminated [[[', 4),  # invalid text: never less than a parser would nest
    ],
)
def test_json_depth(text: bytes, depth: int) -> None:
    assert json_depth(text) == depth


def test_depths_of_many_texts_at_once_match_one_by_one() -> None:
    texts = [b"{}", b"", b"plain", b'{"a":[[[1]]]}', b'"[[["', b"[[[", b"]]]{", nested(70), b'{"k":[1],"j":[2]}']
    assert json_depths(pa.array(texts, pa.binary())).to_pylist() == [json_depth(t) for t in texts]
    assert json_depths(pa.array([], pa.binary())).to_pylist() == []


def test_many_brackets_but_shallow_lines_are_kept() -> None:
    """More brackets than the limit on every line (70 small lists): only the exact check, all lines kept."""
    line = b"{" + b",".join(b'"k%d":[%d]' % (i, i) for i in range(70)) + b"}"
    result = decode_json_body(b"\n".join([line] * 500))
    assert result.rejected == []
    assert result.records is not None and result.records.num_rows == 500


def test_upper_bound_is_never_below_the_depth() -> None:
    lines = [nested(10), b'{"a":"{{{{"}', b"plain", deep_array_line(5)]
    bounds = depth_upper_bounds(pa.array(lines, pa.binary())).to_pylist()
    assert all(b >= json_depth(line) for b, line in zip(bounds, lines, strict=True))


def test_exact_depth_of_a_huge_line_is_fast() -> None:
    line = deep_array_line(1_000_000)
    started = time.process_time()
    assert too_deep(line, DEFAULT_MAX_JSON_DEPTH)
    assert time.process_time() - started < 1.0


# --- NDJSON, JSON arrays, per-line check ----------------------------------------------------------


def test_too_deep_line_is_a_dead_letter_and_the_rest_is_decoded() -> None:
    body = b'{"msg":"before"}\n' + nested(1000) + b'\n{"msg":"after"}\n'
    result = decode_json_body(body)
    assert result.records is not None
    assert result.records.column("msg").to_pylist() == ["before", "after"]
    assert result.rejected == [(nested(1000).decode(), REASON)]


def test_depth_at_the_limit_is_kept() -> None:
    result = decode_json_body(nested(64) + b"\n" + nested(65) + b"\n", max_depth=64)
    assert result.records is not None and result.records.num_rows == 1
    assert [reason for _, reason in result.rejected] == [REASON]


def test_brackets_inside_strings_do_not_count() -> None:
    line = orjson.dumps({"msg": "[" * 500 + "{" * 500})
    result = decode_json_body(line)
    assert result.rejected == []
    assert result.records is not None and result.records.num_rows == 1


def test_ten_thousand_deep_arrays_never_reach_the_reader() -> None:
    """10,000-deep arrays cost 22-25 s of CPU in pyarrow's JSON reader; refused by the pre-scan instead."""
    body = b"\n".join([deep_array_line(10_000)] * 50 + [b'{"msg":"ok"}'])
    started = time.process_time()
    result = decode_json_body(body)
    assert time.process_time() - started < 2.0
    assert len(result.rejected) == 50
    assert result.records is not None and result.records.num_rows == 1


def test_json_array_body_with_a_too_deep_element() -> None:
    body = b'[{"msg":"ok"},' + nested(200) + b"]"
    result = decode_json_body(body)
    assert result.records is not None and result.records.column("msg").to_pylist() == ["ok"]
    assert [reason for _, reason in result.rejected] == [REASON]


def test_json_array_body_deeper_than_orjson_goes() -> None:
    body = b"[" + nested(5000) + b"]"
    result = decode_json_body(body)
    assert result.records is None
    assert [reason for _, reason in result.rejected] == [REASON]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"this is plain text", "not a JSON object: starts with 't'"),
        (b"2026-12-06 12:00:00 ERROR boom", "not a JSON object: starts with '2'"),
        (b"<34>1 syslog line", "not a JSON object: starts with '<'"),
        ("é accented".encode(), "not a JSON object: starts with 'é'"),
        (b'{"msg": broken', "invalid JSON at column 9: unexpected character, expected a JSON value"),
        (b'{"a":1', "invalid JSON at column 7: unexpected end of data"),
        (b"[1, 2", "invalid JSON at column 6: unexpected end of data"),
        (b'{"msg":"\xff"}', "invalid JSON: not valid UTF-8 at byte 8"),
        (b"[1, 2]", "line is JSON but not an object"),
        (nested(100), REASON),
    ],
)
def test_reasons_a_person_understands(line: bytes, reason: str) -> None:
    assert parse_object_line(line) == (None, reason)


# --- every other JSON path ------------------------------------------------------------------------


def test_bulk_source_too_deep_is_a_per_item_error() -> None:
    body = (
        b'{"index":{"_id":"a"}}\n{"msg":"ok"}\n'
        b'{"index":{"_id":"b"}}\n' + nested(300) + b"\n"
        b'{"index":{"_id":"c"}}\n{"msg":"ok too"}\n'
    )
    decoded = decode_bulk(body, "logs", 1 << 20)
    assert decoded.outcome.status.to_pylist() == [201, 400, 201]
    assert decoded.body.records is not None and decoded.body.records.num_rows == 2
    assert [reason for _, reason in decoded.body.rejected] == [REASON]
    assert REASON in decoded.outcome.errors[1][1]


def test_bulk_action_line_too_deep_never_reaches_the_reader() -> None:
    body = b'{"index":' + deep_array_line(20_000) + b"}\n{}\n"
    started = time.process_time()
    with pytest.raises(Exception) as caught:
        decode_bulk(body, "logs", 1 << 20)
    assert time.process_time() - started < 2.0
    assert getattr(caught.value, "status", None) == 400


def test_kafka_json_value_too_deep_is_a_dead_letter() -> None:
    values: list[bytes | None] = [b'{"msg":"ok"}', nested(500), b'{"msg":"ok too"}']
    batch = FetchedBatch(
        values=values,
        topics=["logs"] * 3,
        partitions=[0] * 3,
        offsets=[1, 2, 3],
        timestamps=[None] * 3,
        keys=[None] * 3,
        headers=[None] * 3,
    )
    decoded = decode_messages(batch, "json", metadata=False, max_message_bytes=1 << 20)
    assert decoded.records is not None and decoded.records.num_rows == 2
    assert len(decoded.rejected) == 1
    assert decoded.rejected[0][1].startswith(REASON)


# --- through the app ------------------------------------------------------------------------------


def test_thousand_deep_line_is_a_dead_letter_not_a_503(tmp_path: Path) -> None:
    """It answered `503 maximum recursion depth exceeded` with Retry-After: the sender retried forever."""
    with serve(tmp_path) as c:
        body = b'{"msg":"kept"}\n' + nested(1000) + b"\n"
        resp = c.post("/api/v1/ingest", content=body)
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"accepted": 1, "rejected": 1}
        assert "Retry-After" not in resp.headers


def test_configured_depth_limit(tmp_path: Path) -> None:
    with serve(tmp_path, **{"ingest.max_json_depth": 3}) as c:
        body = b'{"a":{"b":{"c":1}}}\n{"a":{"b":{"c":{"d":1}}}}\n'
        assert c.post("/api/v1/ingest", content=body).json() == {"accepted": 1, "rejected": 1}


def test_plain_text_line_dead_letter_reason(tmp_path: Path) -> None:
    with serve(tmp_path) as c:
        resp = c.post("/api/v1/ingest", content=b'{"msg":"ok"}\nthis is plain text\n')
        assert resp.json() == {"accepted": 1, "rejected": 1}
        hits = c.get("/api/v1/search", params={"q": "plain"}).json()["hits"]
        assert [h["attrs"]["error"] for h in hits] == ["not a JSON object: starts with 't'"]


def test_loki_json_body_too_deep_is_400(tmp_path: Path) -> None:
    with serve(tmp_path) as c:
        labels = b'{"stream":{"app":"x"},"values":[["1","line",' + nested(100) + b"]]}"
        body = b'{"streams":[' + labels + b"]}"
        resp = c.post("/loki/api/v1/push", content=body, headers={"Content-Type": "application/json"})
        assert resp.status_code == 400
        assert "max_json_depth" in resp.text


def test_otlp_json_body_too_deep_is_400(tmp_path: Path) -> None:
    value = b'{"stringValue":"leaf"}'
    for _ in range(200):  # 800 levels: orjson parses it, recursive decoders would struggle
        value = b'{"kvlistValue":{"values":[{"key":"k","value":' + value + b"}]}}"
    record = b'{"timeUnixNano":"%d","body":' % time.time_ns() + value + b"}"
    body = b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[' + record + b"]}]}]}"
    with serve(tmp_path) as c:
        resp = c.post("/v1/logs", content=body, headers={"Content-Type": "application/json"})
        assert resp.status_code == 400
        assert "max_json_depth" in resp.json()["message"]
