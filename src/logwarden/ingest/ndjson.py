"""Decode NDJSON (or a JSON array) request bodies into record tables, sorting out bad lines.

Fast path: pyarrow's multithreaded JSON reader over the whole body, after a vectorized pre-scan
(valid UTF-8, every line an object) that keeps inputs the reader mishandles away from it. Only when
the pre-scan or the reader refuses the body (a malformed line, a line that is not an object, a field
whose type changes between lines) do we look at lines one by one, and then only to sort good from bad.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from logwarden.model.normalize import PREBUILT_ATTRS, is_core_alias
from logwarden.model.schema import FIELD_ALIASES

# Requests are already decoded in parallel (ingest.decode_threads); splitting a small body over
# Arrow's thread pool as well only adds hand-offs. Large bodies still use it.
_READ_OPTIONS = pj.ReadOptions(use_threads=False, block_size=1 << 20)
_READ_OPTIONS_LARGE = pj.ReadOptions(use_threads=True, block_size=1 << 20)
_LARGE_BODY = 4 << 20
_TS_ALIASES = frozenset(FIELD_ALIASES["ts"])


@dataclass(slots=True)
class DecodedBody:
    """Records that decoded (as one table) and the raw text + reason of each line that did not."""

    records: pa.Table | None
    rejected: list[tuple[str, str]] = field(default_factory=list)


def decode_json_body(body: bytes) -> DecodedBody:
    """Decode an NDJSON body, or a JSON array of objects when the body starts with '['."""
    stripped = body.lstrip()
    if stripped.startswith(b"["):
        decoded = _decode_array(stripped)
        if decoded is not None:
            return decoded
        # Not a valid array: treat it as lines so that nothing is lost.
    return _decode_ndjson(body)


def _decode_array(body: bytes) -> DecodedBody | None:
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(items, list):
        return None
    good = [orjson.dumps(item) for item in items if isinstance(item, dict)]
    bad = [
        (orjson.dumps(item).decode(), "array element is not a JSON object")
        for item in items
        if not isinstance(item, dict)
    ]
    result = _decode_ndjson(b"\n".join(good)) if good else DecodedBody(None)
    result.rejected.extend(bad)
    return result


def parse_object_line(line: bytes, noun: str = "line") -> tuple[dict[str, object] | None, str | None]:
    """(the JSON object on `line`, None) or (None, why it is not one): the per-line check of slow paths."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc}"
    if not isinstance(value, dict):
        return None, f"{noun} is JSON but not an object"
    return value, None


def _all_lines_are_objects(body: bytes) -> bool:
    """Valid UTF-8 and every non-blank line starts with '{' (pyarrow crashes on a leading `null`)."""
    try:
        text = pa.array([body], pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        return False
    lines = pc.utf8_ltrim_whitespace(pc.split_pattern(text, "\n").flatten())
    first = pc.utf8_slice_codeunits(lines, 0, 1)
    stray = pc.and_(pc.not_equal(first, "{"), pc.not_equal(first, ""))
    return not pc.any(stray).as_py()


def _read_json(body: bytes) -> pa.Table:
    options = _READ_OPTIONS_LARGE if len(body) >= _LARGE_BODY else _READ_OPTIONS
    table = pj.read_json(io.BytesIO(body), read_options=options)
    # The reader turns timestamp-looking strings into timestamps; outside the ts fields that rewrites
    # user text (offsets folded, formatting lost), so read those columns again as plain strings.
    patched = [
        f.with_type(timestamps_as_strings(f.type))
        for f in table.schema
        if f.name not in _TS_ALIASES and has_timestamp(f.type)
    ]
    if patched:
        parse_options = pj.ParseOptions(explicit_schema=pa.schema(patched), unexpected_field_behavior="infer")
        table = pj.read_json(io.BytesIO(body), read_options=options, parse_options=parse_options)
    return table


def has_timestamp(t: pa.DataType) -> bool:
    """Whether a (nested) type holds timestamps: the JSON reader infers them from ISO-looking strings."""
    if pa.types.is_timestamp(t):
        return True
    if pa.types.is_struct(t):
        return any(has_timestamp(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return has_timestamp(t.value_type)
    return False


def timestamps_as_strings(t: pa.DataType) -> pa.DataType:
    """The same type with every timestamp read as the string it was."""
    if pa.types.is_timestamp(t):
        return pa.string()
    if pa.types.is_struct(t):
        return pa.struct([t.field(i).with_type(timestamps_as_strings(t.field(i).type)) for i in range(t.num_fields)])
    if pa.types.is_list(t):
        return pa.list_(timestamps_as_strings(t.value_type))
    if pa.types.is_large_list(t):
        return pa.large_list(timestamps_as_strings(t.value_type))
    return t


def _decode_ndjson(body: bytes) -> DecodedBody:
    if not body.strip():
        return DecodedBody(None)
    if _all_lines_are_objects(body):
        try:
            return DecodedBody(_read_json(body))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    good_lines: list[bytes] = []
    good_objects: list[dict[str, object]] = []
    rejected: list[tuple[str, str]] = []
    for raw in body.split(b"\n"):
        line = raw.strip()
        if not line:
            continue
        value, reason = parse_object_line(line)
        if value is None:
            rejected.append((line.decode("utf-8", "replace"), str(reason)))
            continue
        good_lines.append(line)
        good_objects.append(value)
    if not good_lines:
        return DecodedBody(None, rejected)
    try:
        table = _read_json(b"\n".join(good_lines))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Fields change type between lines: build the table record by record.
        table = records_to_table(good_objects)
    return DecodedBody(table, rejected)


def records_to_table(records: list[dict[str, object]]) -> pa.Table:
    """Per-record fallback: core-field aliases as text columns, everything else pre-encoded as JSON."""
    core: dict[str, list[str | None]] = {}
    attrs: list[str | None] = []
    for i, record in enumerate(records):
        flat: dict[str, object] = {}
        _flatten(record, "", flat)
        rest: dict[str, object] = {}
        for key, value in flat.items():
            if is_core_alias(key) and value is not None:
                column = core.setdefault(key, [None] * len(records))
                column[i] = value if isinstance(value, str) else orjson.dumps(value).decode()
            elif value is not None:
                rest[key] = value
        attrs.append(orjson.dumps(rest).decode() if rest else None)
    columns: dict[str, pa.Array] = {k: pa.array(v, pa.string()) for k, v in core.items()}
    columns[PREBUILT_ATTRS] = pa.array(attrs, pa.string())
    return pa.table(columns)


def _flatten(obj: dict[str, object], prefix: str, out: dict[str, object]) -> None:
    for key, value in obj.items():
        name = prefix + key
        if isinstance(value, dict):
            # Empty objects carry nothing and vanish, as they do on the Arrow path.
            _flatten(value, name + ".", out)
        else:
            out[name] = value
