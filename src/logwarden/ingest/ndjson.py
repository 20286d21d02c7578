"""Decode NDJSON (or a JSON array) request bodies into record tables, sorting out bad lines.

Fast path: pyarrow's multithreaded JSON reader over the whole body, after a vectorized pre-scan
(valid UTF-8, every line an object, no line nested deeper than max_json_depth) that keeps inputs the
reader mishandles away from it. Too deep a line goes to the dead letter before any parser sees it. Only when
the pre-scan or the reader refuses the body (a malformed line, a line that is not an object, a field
whose type changes between lines) do we look at lines one by one, and then only to sort good from bad.
Both paths name nested fields by one rule (model.flatten), so a record is stored the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.ingest.json_depth import DEFAULT_MAX_JSON_DEPTH, depth_reason, depth_upper_bounds, json_depths, too_deep
from logwarden.model.json_table import read_json_records, records_to_table


class LineTooLongError(ValueError):
    """A record (NDJSON line or JSON-array element) longer than ingest.max_line_bytes: the request is refused."""


@dataclass(slots=True)
class DecodedBody:
    """Records that decoded (as one table) and the raw text + reason of each line that did not."""

    records: pa.Table | None
    rejected: list[tuple[str, str]] = field(default_factory=list)


def decode_json_body(
    body: bytes, max_depth: int = DEFAULT_MAX_JSON_DEPTH, max_line_bytes: int | None = None
) -> DecodedBody:
    """Decode an NDJSON body, or a JSON array of objects when the body starts with '['.

    Lines (or array elements) nested deeper than `max_depth` are rejected one by one; an array element
    longer than `max_line_bytes` raises LineTooLongError (NDJSON lines are measured by the caller).
    """
    stripped = body.lstrip()
    if stripped.startswith(b"["):
        decoded = _decode_array(stripped, max_depth, max_line_bytes)
        if decoded is not None:
            return decoded
        # Not a valid array: treat it as lines so that nothing is lost.
    return _decode_ndjson(body, max_depth)


def _decode_array(body: bytes, max_depth: int, max_line_bytes: int | None) -> DecodedBody | None:
    try:
        # orjson stops at 1024 levels (then the body is judged line by line); deeper elements than
        # max_depth are dead letters of the NDJSON decoder below.
        items = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(items, list):
        return None
    good = [orjson.dumps(item) for item in items if isinstance(item, dict)]
    if max_line_bytes is not None and good:
        longest = max(map(len, good))
        if longest > max_line_bytes:
            raise LineTooLongError(
                f"an array element of {longest} bytes exceeds the limit of {max_line_bytes} (ingest.max_line_bytes)"
            )
    bad = [
        (orjson.dumps(item).decode(), "array element is not a JSON object")
        for item in items
        if not isinstance(item, dict)
    ]
    result = _decode_ndjson(b"\n".join(good), max_depth) if good else DecodedBody(None)
    result.rejected.extend(bad)
    return result


def parse_object_line(
    line: bytes, noun: str = "line", max_depth: int = DEFAULT_MAX_JSON_DEPTH
) -> tuple[dict[str, object] | None, str | None]:
    """(the JSON object on `line`, None) or (None, why it is not one, in words a person understands).

    The per-line check of every slow path: too deep, not UTF-8, not JSON at all ("not a JSON object:
    starts with 't'"), malformed ("invalid JSON at column 9: …"), or JSON but not an object.
    """
    if too_deep(line, max_depth):
        return None, depth_reason(max_depth)
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return None, why_not_json(line, exc)
    if not isinstance(value, dict):
        return None, f"{noun} is JSON but not an object"
    return value, None


def why_not_json(line: bytes, exc: orjson.JSONDecodeError) -> str:
    """A dead-letter reason for a line orjson refused: what it starts with, or where the JSON breaks."""
    try:
        line.decode()
    except UnicodeDecodeError as bad:
        return f"invalid JSON: not valid UTF-8 at byte {bad.start}"
    text = line.lstrip().decode()
    if not text.startswith(("{", "[")):
        return f"not a JSON object: starts with {text[:1]!r}"
    return f"invalid JSON at column {exc.colno}: {exc.msg}"


@dataclass(slots=True)
class _Prescan:
    """What the vectorized pre-scan found: the body without its too-deep lines, and whether it is all objects."""

    body: bytes
    all_objects: bool
    too_deep: list[tuple[str, str]]


_NEWLINE, _BRACE = ord("\n"), ord("{")


def _plain_objects(body: bytes, max_depth: int) -> bool:
    """Whether every line starts with '{' (or is empty) and none holds more than `max_depth` '{' and '['.

    The usual body, recognised with a few numpy passes over its bytes (no split into lines, no string
    kernels): when it says yes, no line can be too deep and the reader may take the body as it is.
    """
    data = np.frombuffer(body, np.uint8)
    newlines = np.flatnonzero(data == _NEWLINE)
    starts = newlines + 1
    # Line starts: 0 and after every newline (one at the very end starts an empty last line).
    firsts = data[starts[starts < len(data)]]
    if data[0] not in (_BRACE, _NEWLINE) or not np.all((firsts == _BRACE) | (firsts == _NEWLINE)):
        return False
    # '{' (0x7B) and '[' (0x5B) are the only bytes that OR 0x20 makes 0x7B: one compare finds both.
    openers = np.flatnonzero((data | 0x20) == _BRACE)
    if len(openers) <= max_depth:
        return True
    # Openers per line: where each line's bounds fall in the sorted opener positions.
    bounds = np.searchsorted(openers, np.concatenate(([0], starts, [len(data)])))
    return int(np.diff(bounds).max()) <= max_depth


def _prescan(body: bytes, max_depth: int) -> _Prescan:
    """Valid UTF-8? Every non-blank line starts with '{' (pyarrow crashes on a leading `null`)? Any too deep?"""
    # One binary value over the body's own bytes (pa.array would copy them).
    raw = (
        pa.Array.from_buffers(pa.binary(), 1, [None, _offsets(len(body)), pa.py_buffer(body)])
        if len(body) < 1 << 31
        else pa.array([body], pa.binary())
    )
    try:
        text: pa.Array = raw.cast(pa.string())
    except pa.ArrowInvalid:
        text = raw
    if text is not raw and _plain_objects(body, max_depth):
        return _Prescan(body, True, [])
    lines = pc.split_pattern(text, "\n").flatten()
    deep: list[tuple[str, str]] = []
    bounds = depth_upper_bounds(lines, "{[" if b"[" in body else "{")
    if (pc.max(bounds).as_py() or 0) > max_depth:
        # Only lines with more brackets than the limit get the exact (string-aware) depth, all at once.
        suspects = pc.indices_nonzero(pc.greater(bounds, max_depth))
        deep_rows = suspects.filter(pc.greater(json_depths(lines.take(suspects)), max_depth))
        if len(deep_rows):
            reason = depth_reason(max_depth)
            texts = lines.take(deep_rows).cast(pa.binary()).to_pylist()
            deep = [(text.strip().decode("utf-8", "replace"), reason) for text in texts]
            lines = lines.filter(pc.invert(pc.is_in(pa.array(range(len(lines)), pa.uint64()), value_set=deep_rows)))
            body = _join_lines(lines)
    if text is raw:
        return _Prescan(body, False, deep)
    if not pc.any(pc.invert(pc.or_(pc.starts_with(lines, "{"), pc.equal(pc.binary_length(lines), 0)))).as_py():
        return _Prescan(body, True, deep)  # the common case, without trimming every line
    first = pc.utf8_slice_codeunits(pc.utf8_ltrim_whitespace(lines), 0, 1)
    stray = pc.and_(pc.not_equal(first, "{"), pc.not_equal(first, ""))
    return _Prescan(body, not pc.any(stray).as_py(), deep)


def _offsets(size: int) -> pa.Buffer:
    return pa.py_buffer(np.array([0, size], np.int32))


def _join_lines(lines: pa.Array) -> bytes:
    if len(lines) == 0:
        return b""
    as_list = pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines.cast(pa.binary()))
    joined: bytes = pc.binary_join(as_list, b"\n")[0].as_py()
    return joined


def _decode_ndjson(body: bytes, max_depth: int) -> DecodedBody:
    # isspace stops at the first other byte; strip() would copy the whole body to say the same.
    if not body or body.isspace():
        return DecodedBody(None)
    scan = _prescan(body, max_depth)
    body = scan.body
    if scan.all_objects:
        try:
            return DecodedBody(read_json_records(body), scan.too_deep)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    good_lines: list[bytes] = []
    good_objects: list[dict[str, object]] = []
    rejected: list[tuple[str, str]] = scan.too_deep
    for raw in body.split(b"\n"):
        line = raw.strip()
        if not line:
            continue
        value, reason = parse_object_line(line, max_depth=max_depth)
        if value is None:
            rejected.append((line.decode("utf-8", "replace"), str(reason)))
            continue
        good_lines.append(line)
        good_objects.append(value)
    if not good_lines:
        return DecodedBody(None, rejected)
    try:
        table = read_json_records(b"\n".join(good_lines))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Fields change type between lines: build the table record by record.
        table = records_to_table(good_objects)
    return DecodedBody(table, rejected)
