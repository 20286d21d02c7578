"""Decode an Elasticsearch `_bulk` body: action/source line pairs → a record table and per-item results.

Fast path, all Arrow: split the body into lines, read every other line as the action table with
pyarrow's JSON reader, and hand the source lines, joined, to the NDJSON decoder. It applies whenever
every action is `index` or `create` (so lines strictly alternate). Anything else (`delete` has no
source line, malformed actions) takes the sequential path, which walks the lines one by one.

Per-item outcome: stored items answer 201 with their id; a malformed source answers 400 and is stored
in the dead-letter stream; `update`/`delete` answer 400 (logwarden keeps logs, it does not edit them).
A malformed action line fails the whole request (400), as in Elasticsearch.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from logwarden.ingest.http.errors import RequestRefused
from logwarden.ingest.json_depth import DEFAULT_MAX_JSON_DEPTH, depth_upper_bounds
from logwarden.ingest.ndjson import DecodedBody, decode_json_body, parse_object_line
from logwarden.ingest.time_window import ITEM_COLUMN
from logwarden.model.attrs_json import json_values
from logwarden.model.flatten import flatten_record, flatten_structs
from logwarden.model.json_table import read_json_table, records_to_table
from logwarden.model.normalize import PREBUILT_ATTRS

STORED_ACTIONS = ("index", "create")
KNOWN_ACTIONS = ("index", "create", "update", "delete")
_WITH_SOURCE = frozenset(("index", "create", "update"))

# ECS fields (as flattened column names) → core fields, first match wins for each core field.
ECS_FIELDS: tuple[tuple[str, str], ...] = (
    ("log.level", "level"),
    ("service.name", "service"),
    ("host.name", "host"),
    ("host.hostname", "host"),
    ("trace.id", "trace_id"),
    ("span.id", "span_id"),
)
INDEX_ATTR = "index"
# Daily (logstash-2026.11.21) and rollover (filebeat-000001) suffixes do not belong in a service name.
_INDEX_SUFFIX = r"(-\d{4}[.\-]\d{2}[.\-]\d{2})?(-\d{6})?$"
_READ = pj.ReadOptions(use_threads=False, block_size=1 << 20)
# What follows `"_id":…` in the answer for a stored item.
_CREATED = (
    ',"_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},'
    '"_seq_no":0,"_primary_term":1,"status":201}}'
)


@dataclass(slots=True)
class BulkItems:
    """One entry per action, in request order (sources are null for `delete`)."""

    ops: pa.Array  # string
    indexes: pa.Array  # string
    ids: pa.Array  # string, null when the client gave none
    sources: pa.Array  # binary


@dataclass(slots=True)
class BulkOutcome:
    """What to answer per item: the action, index, id, HTTP status and (for failures) an ES error."""

    ops: pa.Array
    indexes: pa.Array
    ids: pa.Array
    status: pa.Array  # int16
    errors: dict[int, tuple[str, str]] = field(default_factory=dict)  # item → (error type, reason)


@dataclass(slots=True)
class DecodedBulk:
    body: DecodedBody
    outcome: BulkOutcome


def split_lines(body: bytes) -> pa.Array:
    """The non-blank lines of a body, as a binary array (CR LF endings tolerated)."""
    lines = pc.split_pattern(pa.array([body], pa.binary()), b"\n").flatten()
    return lines.filter(pc.invert(pc.match_substring_regex(lines, r"^\s*$")))


def _join(lines: pa.Array, separator: bytes = b"\n") -> bytes:
    """Binary values joined with a separator (newline: back to NDJSON), by one Arrow kernel."""
    if len(lines) == 0:
        return b""
    as_list = pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines)
    joined: bytes = pc.binary_join(as_list, separator)[0].as_py()
    return joined


def _as_string(values: pa.Array) -> pa.Array:
    if pa.types.is_string(values.type):
        return values
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), pa.string())
    return pc.cast(values, pa.string())


def _all_objects(lines: pa.Array) -> bool:
    """Valid UTF-8 and every line starts with '{': pyarrow's JSON reader crashes on some other input."""
    try:
        text = lines.cast(pa.string())
    except pa.ArrowInvalid:
        return False
    first = pc.utf8_slice_codeunits(pc.utf8_ltrim_whitespace(text), 0, 1)
    return bool(pc.all(pc.equal(first, "{")).as_py())


def parse_pairs(
    lines: pa.Array, default_index: str | None, max_depth: int = DEFAULT_MAX_JSON_DEPTH
) -> BulkItems | None:
    """The fast path: None unless lines alternate action/source and every action is index/create."""
    n = len(lines) // 2
    if n == 0 or len(lines) % 2:
        return None
    pairs = pa.FixedSizeListArray.from_arrays(lines, 2)
    actions = pc.list_element(pairs, 0)
    if not _all_objects(actions) or pc.max(depth_upper_bounds(actions)).as_py() > max_depth:
        return None  # deep action lines never reach the Arrow reader; the sequential path refuses them
    try:
        table = read_json_table(_join(actions), _READ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != n or not set(table.column_names) <= set(STORED_ACTIONS):
        return None
    try:
        return _items_from_actions(table, pc.list_element(pairs, 1), default_index)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # an _id or _index that is not a scalar: let the sequential path sort it out


def _items_from_actions(table: pa.Table, sources: pa.Array, default_index: str | None) -> BulkItems | None:
    n = table.num_rows
    ops: pa.Array | None = None
    indexes: pa.Array | None = None
    ids: pa.Array | None = None
    present = pa.repeat(pa.scalar(0, pa.int8()), n)
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        if not pa.types.is_struct(col.type):
            return None
        valid = pc.is_valid(col)
        present = pc.add(present, pc.cast(valid, pa.int8()))
        ops = pc.if_else(valid, name, ops if ops is not None else pa.nulls(n, pa.string()))
        for key, target in (("_index", "indexes"), ("_id", "ids")):
            if col.type.get_field_index(key) < 0:
                continue
            values = pc.if_else(valid, _as_string(pc.struct_field(col, key)), None)
            if target == "indexes":
                indexes = values if indexes is None else pc.coalesce(indexes, values)
            else:
                ids = values if ids is None else pc.coalesce(ids, values)
    if ops is None or not pc.all(pc.equal(present, 1)).as_py():
        return None
    indexes = indexes if indexes is not None else pa.nulls(n, pa.string())
    if default_index is not None:
        indexes = pc.coalesce(indexes, pa.scalar(default_index, pa.string()))
    return BulkItems(ops, indexes, ids if ids is not None else pa.nulls(n, pa.string()), sources)


def parse_sequential(body: bytes, default_index: str | None) -> BulkItems:
    """The general path, line by line; a malformed action line fails the request (400)."""
    ops: list[str] = []
    indexes: list[str | None] = []
    ids: list[str | None] = []
    sources: list[bytes | None] = []
    lines = body.split(b"\n")
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        op, meta = _action(line, i)
        index = meta.get("_index", default_index)
        doc_id = meta.get("_id")
        ops.append(op)
        indexes.append(None if index is None else str(index))
        ids.append(None if doc_id is None else str(doc_id))
        source: bytes | None = None
        if op in _WITH_SOURCE:
            while i < len(lines) and not lines[i].strip():
                i += 1
            if i < len(lines):
                source = lines[i].strip()
                i += 1
        sources.append(source)
    return BulkItems(
        pa.array(ops, pa.string()),
        pa.array(indexes, pa.string()),
        pa.array(ids, pa.string()),
        pa.array(sources, pa.binary()),
    )


def _action(line: bytes, number: int) -> tuple[str, dict[str, object]]:
    try:
        action = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise RequestRefused(400, f"Malformed action/metadata line [{number}]: invalid JSON ({exc})") from None
    if not isinstance(action, dict) or len(action) != 1:
        raise RequestRefused(
            400, f"Malformed action/metadata line [{number}]: expected an object with one key (index, create, …)"
        )
    ((op, meta),) = action.items()
    if op not in KNOWN_ACTIONS:
        raise RequestRefused(400, f"Malformed action/metadata line [{number}]: unknown action [{op}]")
    if not isinstance(meta, dict):
        raise RequestRefused(400, f"Malformed action/metadata line [{number}]: the [{op}] action needs an object")
    return op, meta


def map_ecs(table: pa.Table) -> pa.Table:
    """Flatten nested objects and rename ECS fields onto core field names, column by column."""
    table = flatten_structs(table)
    names = table.column_names
    for source, target in ECS_FIELDS:
        if source in names and target not in names:
            names = [target if name == source else name for name in names]
    return table.rename_columns(names) if names != table.column_names else table


def _map_ecs_record(record: dict[str, object]) -> dict[str, object]:
    """map_ecs for one record of the per-record fallback (fields whose type changes between lines)."""
    flat: dict[str, object] = {}
    flatten_record(record, "", flat)
    for source, target in ECS_FIELDS:
        if source in flat and target not in flat:
            flat[target] = flat.pop(source)
    return flat


def _decode_sources(
    lines: pa.Array, max_depth: int = DEFAULT_MAX_JSON_DEPTH
) -> tuple[pa.Table | None, pa.Array, list[tuple[str, str]]]:
    """(record table of the good sources, which sources were good, raw text + reason of the bad ones)."""
    joined = _join(lines)
    decoded = decode_json_body(joined, max_depth)
    good = pa.repeat(pa.scalar(True), len(lines))
    rejected: list[tuple[str, str]] = []
    records = decoded.records
    # A leading '[' makes the NDJSON decoder try a JSON array, which a bulk source may not be.
    suspicious = joined.lstrip().startswith(b"[")
    if suspicious or decoded.rejected or (records is not None and records.num_rows != len(lines)):
        # Some source is not a JSON object: find which ones (only on this error path, line by line).
        flags: list[bool] = []
        for raw in lines.to_pylist():
            value, reason = parse_object_line(raw, "document source", max_depth)
            if value is None:
                rejected.append((raw.decode("utf-8", "replace"), str(reason)))
            flags.append(value is not None)
        good = pa.array(flags, pa.bool_())
        records = decode_json_body(_join(lines.filter(good)), max_depth).records if any(flags) else None
    if records is not None and PREBUILT_ATTRS in records.column_names:
        # The decoder fell back to one record at a time; do the ECS mapping the same way.
        objects = [_map_ecs_record(orjson.loads(raw)) for raw in lines.filter(good).to_pylist()]
        records = records_to_table(objects)
    elif records is not None:
        records = map_ecs(records)
    return records, good, rejected


def service_from_index(indexes: pa.Array) -> pa.Array:
    """The index name without a daily or rollover suffix: `logstash-2026.11.21` → `logstash`."""
    return pc.replace_substring_regex(indexes, _INDEX_SUFFIX, "")


def _generated_ids(n: int) -> pa.Array:
    prefix = secrets.token_hex(6)
    rows = pc.cast(pa.array(range(n), pa.int64()), pa.string())
    return pc.binary_join_element_wise(prefix + "-", rows, "")


def _string_column(table: pa.Table, name: str) -> pa.Array | None:
    if name not in table.column_names:
        return None
    col = table.column(name).combine_chunks()
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return pc.cast(col, pa.string())
    if pa.types.is_integer(col.type):
        return pc.cast(col, pa.string())
    return None


def _with_bulk_columns(records: pa.Table, indexes: pa.Array, ids: pa.Array) -> tuple[pa.Table, pa.Array]:
    """Add the index (attrs), a service defaulted from it, and log ids; return the table and the ids."""
    given = _string_column(records, "log_id")
    if given is not None:
        ids = pc.coalesce(ids, given)
    if ids.null_count:
        ids = pc.coalesce(ids, _generated_ids(len(ids)))
    index_attr = INDEX_ATTR if INDEX_ATTR not in records.column_names else "_index"
    columns = {name: records.column(name) for name in records.column_names}
    if indexes.null_count < len(indexes):
        columns[index_attr] = indexes
        candidates = [c for c in (_string_column(records, "service"), _string_column(records, "app")) if c is not None]
        if "service" not in records.column_names or candidates:
            columns["service"] = pc.coalesce(*candidates, service_from_index(indexes))
    columns["log_id"] = ids
    return pa.table(columns), ids


def decode_bulk(
    body: bytes, default_index: str | None, max_line_bytes: int, max_depth: int = DEFAULT_MAX_JSON_DEPTH
) -> DecodedBulk:
    """Decode a `_bulk` body; raises RequestRefused for a malformed action line (400) or a too long line (413)."""
    lines = split_lines(body)
    if len(lines) == 0:
        raise RequestRefused(400, "request body is required: send action and source lines (NDJSON)")
    items = parse_pairs(lines, default_index, max_depth)
    if items is None:
        items = parse_sequential(body, default_index)
    storable = pc.and_(pc.is_in(items.ops, pa.array(STORED_ACTIONS)), pc.is_valid(items.sources))
    sources = items.sources.filter(storable)
    longest = pc.max(pc.binary_length(sources)).as_py() if len(sources) else 0
    if longest and longest > max_line_bytes:
        raise RequestRefused(
            413, f"a document of {longest} bytes exceeds the limit of {max_line_bytes} (ingest.max_line_bytes)"
        )

    records, good, rejected = (
        _decode_sources(sources, max_depth) if len(sources) else (None, pa.array([], pa.bool_()), [])
    )
    # Positions of the stored items among all items, in order.
    stored_mask = pc.replace_with_mask(storable, storable, good) if len(sources) else storable
    ids = items.ids
    if records is not None:
        stored_indexes = items.indexes.filter(stored_mask)
        records, stored_ids = _with_bulk_columns(records, stored_indexes, items.ids.filter(stored_mask))
        # Each record's item position, so lines refused later (older than retention) get their own 400.
        records = records.append_column(ITEM_COLUMN, pc.indices_nonzero(stored_mask).cast(pa.int64()))
        ids = pc.replace_with_mask(items.ids, stored_mask, stored_ids)
    status = pc.if_else(stored_mask, pa.scalar(201, pa.int16()), pa.scalar(400, pa.int16()))

    errors: dict[int, tuple[str, str]] = {}
    if pc.any(pc.invert(stored_mask)).as_py():
        ops = items.ops.to_pylist()
        has_source = pc.is_valid(items.sources).to_pylist()
        flags = storable.to_pylist()
        bad_sources = iter(rejected)
        for i, (op, stored) in enumerate(zip(ops, stored_mask.to_pylist(), strict=True)):
            if stored:
                continue
            if op not in STORED_ACTIONS:
                errors[i] = (
                    "illegal_argument_exception",
                    f"the [{op}] action is not supported: logwarden stores log documents with index or create",
                )
            elif not has_source[i]:
                errors[i] = ("action_request_validation_exception", "Validation Failed: 1: source is missing;")
            elif flags[i]:
                _, reason = next(bad_sources)
                errors[i] = ("document_parsing_exception", f"failed to parse the document source: {reason}")
    return DecodedBulk(DecodedBody(records, rejected), BulkOutcome(items.ops, items.indexes, ids, status, errors))


def _json_strings(values: pa.Array) -> pa.Array:
    """JSON text of each string (null → `null`), escaped by vector kernels."""
    return pc.fill_null(json_values(_as_string(values)), "null")


def render_bulk_response(outcome: BulkOutcome, took_ms: int) -> bytes:
    """`{"took", "errors", "items": [{"<action>": {"_index", "_id", "status", ...}}]}`, built column-wise."""
    n = len(outcome.ops)
    tails = pa.repeat(pa.scalar(_CREATED, pa.string()), n)
    if outcome.errors:
        mask = pa.array([i in outcome.errors for i in range(n)], pa.bool_())
        error_tails = [
            ',"status":400,"error":' + orjson.dumps({"type": kind, "reason": reason}).decode() + "}}"
            for _, (kind, reason) in sorted(outcome.errors.items())
        ]
        tails = pc.replace_with_mask(tails, mask, pa.array(error_tails, pa.string()))
    items = pc.binary_join_element_wise(
        '{"',
        outcome.ops,
        '":{"_index":',
        _json_strings(outcome.indexes),
        ',"_id":',
        _json_strings(outcome.ids),
        tails,
        "",
    )
    joined = _join(pc.cast(items, pa.binary()), b",")
    head = b'{"took":%d,"errors":%s,"items":[' % (took_ms, b"true" if outcome.errors else b"false")
    return head + joined + b"]}"
