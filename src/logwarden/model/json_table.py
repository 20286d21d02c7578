"""Record tables from JSON objects: pyarrow's JSON reader (column-wise) and the per-record fallback.

Shared by the ingest decoders and the pipeline (the `json` parser, `logwarden pipeline test`), so neither
imports the other. The reader's table keeps nested objects as structs (normalize flattens them); the
fallback flattens each record itself with the same rule (model.flatten), so both give the same fields.
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.json as pj

from logwarden.model.flatten import flatten_record
from logwarden.model.normalize import PREBUILT_ATTRS, is_core_alias
from logwarden.model.schema import FIELD_ALIASES

# Requests are already decoded in parallel (ingest.decode_threads); splitting a small body over
# Arrow's thread pool as well only adds hand-offs. Large bodies still use it.
_READ_OPTIONS = pj.ReadOptions(use_threads=False, block_size=1 << 20)
_READ_OPTIONS_LARGE = pj.ReadOptions(use_threads=True, block_size=1 << 20)
_LARGE_BODY = 4 << 20
_TS_ALIASES = frozenset(FIELD_ALIASES["ts"])


def read_json_table(
    body: bytes, read_options: pj.ReadOptions, parse_options: pj.ParseOptions | None = None
) -> pa.Table:
    """pyarrow's JSON reader, with its output checked: for a field that is null on one line and a list of
    nulls on another it builds a list array whose offsets overrun its values (ArrowInvalid here, like any
    other input the reader cannot take, instead of a crash further on)."""
    table = pj.read_json(io.BytesIO(body), read_options=read_options, parse_options=parse_options)
    table.validate()
    return table


def read_json_records(body: bytes) -> pa.Table:
    """The records of an NDJSON body of objects, column-wise; raises ArrowInvalid / ArrowNotImplementedError
    when the reader cannot take it (a malformed line, a field whose type changes between lines)."""
    options = _READ_OPTIONS_LARGE if len(body) >= _LARGE_BODY else _READ_OPTIONS
    table = read_json_table(body, options)
    # The reader turns timestamp-looking strings into timestamps; outside the ts fields that rewrites
    # user text (offsets folded, formatting lost), so read those columns again as plain strings.
    patched = [
        f.with_type(timestamps_as_strings(f.type))
        for f in table.schema
        if f.name not in _TS_ALIASES and has_timestamp(f.type)
    ]
    if patched:
        parse_options = pj.ParseOptions(explicit_schema=pa.schema(patched), unexpected_field_behavior="infer")
        table = read_json_table(body, options, parse_options)
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


def records_to_table(records: list[dict[str, Any]]) -> pa.Table:
    """Per-record fallback: core-field aliases as text columns, everything else pre-encoded as JSON
    (the PREBUILT_ATTRS column), nested keys flattened by `flatten_record`."""
    core: dict[str, list[str | None]] = {}
    attrs: list[str | None] = []
    for i, record in enumerate(records):
        rest: dict[str, object] = {}
        for key, value in flatten_record(record).items():
            if is_core_alias(key):
                column = core.setdefault(key, [None] * len(records))
                column[i] = value if isinstance(value, str) else orjson.dumps(value).decode()
            else:
                rest[key] = value
        attrs.append(orjson.dumps(rest).decode() if rest else None)
    columns: dict[str, pa.Array] = {k: pa.array(v, pa.string()) for k, v in core.items()}
    columns[PREBUILT_ATTRS] = pa.array(attrs, pa.string())
    return pa.table(columns)


def table_from_records(records: list[dict[str, Any]]) -> pa.Table:
    """The record table ingest's NDJSON decoder makes of these (already decoded) objects: column-wise
    when the reader takes them, else record by record."""
    if not records:
        return pa.table({})
    body = b"\n".join(orjson.dumps(record) for record in records)
    try:
        return read_json_records(body)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return records_to_table(records)
