"""The pre-scan's quick path (numpy over the body's bytes) says "plain objects" exactly when the line-by-line
rule does, and a body it passes decodes the same as through the careful path."""

from __future__ import annotations

import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logwarden.ingest import ndjson
from logwarden.ingest.ndjson import _plain_objects, _prescan, decode_json_body


def reference(body: bytes, max_depth: int) -> bool:
    """The rule, one line at a time: every line empty or starting with '{', none with more openers than allowed."""
    lines = body.split(b"\n")
    starts_ok = all(not line or line.startswith(b"{") for line in lines)
    return starts_ok and max(line.count(b"{") + line.count(b"[") for line in lines) <= max_depth


LINES = st.sampled_from(
    [
        b'{"msg":"ok"}',
        b'{"msg":"[a] [b] {c}","n":1}',
        b'{"a":{"b":{"c":[1,[2]]}}}',
        b"",
        b" {}",
        b"\r",
        b'{"msg":"x"}\r',
        b"null",
        b"[1]",
        b"{" * 5 + b"}" * 5,
        b'{"a":' + b"[" * 7 + b"]" * 7 + b"}",
        b"garbage",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, min_size=1, max_size=12), st.integers(min_value=1, max_value=9))
def test_quick_path_agrees_with_the_line_rule(lines: list[bytes], max_depth: int) -> None:
    body = b"\n".join(lines)
    if not body:
        return  # the decoder never pre-scans an empty body
    assert _plain_objects(body, max_depth) == reference(body, max_depth)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a":1}\n{"b":2}\n', True),  # trailing newline: an empty last line
        (b'{"a":1}\n\n{"b":2}', True),  # a blank line in between
        (b'\n{"a":1}', True),  # a leading blank line
        (b'{"a":1}\n {"b":2}', False),  # indented: the careful path trims it
        (b'{"a":1}\nnull', False),  # not an object: pyarrow must never see it
        (b"{" * 4 + b"}" * 4 + b"\n" + b"{}" * 4, True),  # four openers per line, limit four
        (b"{" * 5 + b"}" * 5, False),  # five openers on one line
    ],
)
def test_quick_path_cases(body: bytes, expected: bool) -> None:
    assert _plain_objects(body, 4) is expected


def test_too_deep_line_still_rejected_after_quick_path_declines() -> None:
    deep = b'{"a":' * 70 + b"1" + b"}" * 70
    body = b'{"msg":"fine"}\n' + deep + b'\n{"msg":"also fine"}'
    decoded = decode_json_body(body, 64)
    assert decoded.records is not None
    assert decoded.records.column("msg").to_pylist() == ["fine", "also fine"]
    assert [reason for _, reason in decoded.rejected] == ["JSON nested deeper than 64 levels (ingest.max_json_depth)"]


def test_quick_path_gives_the_careful_paths_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [{"msg": f"[w-{i}] took {i} ms {{x}}", "status": 200 + i, "user": {"id": i}} for i in range(50)]
    body = b"\n".join(orjson.dumps(line) for line in lines) + b"\n"
    assert _prescan(body, 64).all_objects
    quick = decode_json_body(body, 64)
    monkeypatch.setattr(ndjson, "_plain_objects", lambda body, max_depth: False)
    careful = decode_json_body(body, 64)
    assert quick.rejected == careful.rejected == []
    assert isinstance(quick.records, pa.Table)
    assert quick.records.equals(careful.records)


def test_invalid_utf8_never_takes_the_quick_path() -> None:
    scan = _prescan(b'{"msg":"\xff"}', 64)
    assert not scan.all_objects
