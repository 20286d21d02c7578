"""Turn a decoded table of records (any columns, maybe nested) into the core log schema.

Everything here is column-at-a-time Arrow or polars work; the only Python loops run per column.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.attrs_json import encode_objects, json_values
from logwarden.model.flatten import flatten_structs
from logwarden.model.levels import (
    level_from_otel_severity,
    named_levels,
    normalize_level_text,
    numeric_strings,
    severity_for_level,
)
from logwarden.model.schema import ALIAS_TO_FIELD, FIELD_ALIASES, LOG_SCHEMA, TS_TYPE
from logwarden.model.timestamps import parse_timestamps

# A decoder that already built the attrs JSON (the per-record fallback) passes it in this column.
PREBUILT_ATTRS = "__attrs__"
# Schema metadata of a packed batch: the attribute keys whose every value in `attrs` is an integer literal
# (they came from integer columns), so the applier's typed BIGINT columns need no per-row check for them.
INT_ATTRS_META = b"logwarden.int_attrs"
# Integer types whose JSON text (a plain decimal) always spells back a BIGINT exactly.
_BIGINT_TYPES = (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32())


@dataclass(frozen=True, slots=True)
class BatchContext:
    """What is known about a batch besides its records."""

    tenant: str
    source: str
    received: datetime
    default_service: str | None = None
    default_host: str | None = None


# The core columns of a wide table: LOG_SCHEMA without attrs and pattern_id, which `pack` adds.
WIDE_CORE: tuple[str, ...] = tuple(n for n in LOG_SCHEMA.names if n not in ("attrs", "pattern_id"))
WIDE_CORE_SCHEMA = pa.schema([LOG_SCHEMA.field(n) for n in WIDE_CORE])
# In a wide table an attribute whose key is a core column name is the column "attrs.<key>".
RESERVED_KEYS = frozenset(LOG_SCHEMA.names)


def attr_column(key: str) -> str:
    """The wide-table column that holds attribute `key`."""
    return "attrs." + key if key in RESERVED_KEYS else key


def attr_key(column: str) -> str:
    """The attribute key a (non-core) wide-table column holds."""
    if column.startswith("attrs.") and column[6:] in RESERVED_KEYS:
        return column[6:]
    return column


def records_table(records: list[dict[str, Any]]) -> pa.Table:
    """Columns from flat records (per-row decode fallbacks); a key whose values differ in type becomes
    text (JSON for non-strings), so nothing is dropped."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    columns: dict[str, pa.Array] = {}
    for name in names:
        values = [record.get(name) for record in records]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array(
                [v if v is None or isinstance(v, str) else orjson.dumps(v).decode() for v in values], pa.string()
            )
    return pa.table(columns) if columns else pa.table({"__empty": pa.nulls(len(records))}).drop_columns(["__empty"])


def one_array(column: pa.ChunkedArray) -> pa.Array:
    """A column as one array: its only chunk as it is (combine_chunks copies even that one), else concatenated."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def normalize(raw: pa.Table, ctx: BatchContext) -> pa.Table:
    """Map a decoded record table onto LOG_SCHEMA (`pack(widen(raw, ctx))`)."""
    return pack(widen(raw, ctx))


def widen(raw: pa.Table, ctx: BatchContext) -> pa.Table:
    """The wide form of a decoded record table: the core columns (WIDE_CORE), then one column per
    attribute named by its dotted key, any Arrow type (and PREBUILT_ATTRS when a decoder built JSON).

    Each core field takes, row by row, the first of its aliases (FIELD_ALIASES order) whose value is
    usable; alias values not used for the core field (a second alias, an unparseable timestamp, an
    unknown level) stay as attributes under their own key, so nothing the client sent is lost.
    Pipelines work on this form; `pack` turns it into LOG_SCHEMA.
    """
    core, attrs = _core_and_attrs(raw, ctx)
    n = raw.num_rows
    core["log_id"] = _log_ids(core["log_id"], n)
    arrays = [core[name] for name in WIDE_CORE] + list(attrs.values())
    fields = [*WIDE_CORE_SCHEMA, *(pa.field(attr_column(key), arr.type) for key, arr in attrs.items())]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def core_fields_of(raw: pa.Table, ctx: BatchContext) -> tuple[dict[str, pa.Array], dict[str, pa.Array], set[str]]:
    """(core field → values, attribute → values, core fields some alias provided) of a record table.

    Core fields no alias provided hold nulls (ts: the received time); log_id may hold nulls.
    Used by parsers whose output may name core fields (`{"msg": …, "level": …}` inside a message).
    """
    core, attrs = _core_and_attrs(raw, ctx)
    present = {field for field in FIELD_ALIASES if any(alias in raw.column_names for alias in FIELD_ALIASES[field])}
    return core, attrs, present


def _core_and_attrs(raw: pa.Table, ctx: BatchContext) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
    raw = flatten_structs(raw)
    n = raw.num_rows
    columns = {name: one_array(raw.column(name)) for name in raw.column_names}
    leftovers: dict[str, pa.Array] = {}

    def take(field: str) -> list[tuple[str, pa.Array]]:
        return [(alias, columns.pop(alias)) for alias in FIELD_ALIASES[field] if alias in columns]

    def pick(field: str, convert: Callable[[pa.Array], tuple[pa.Array, ...]]) -> tuple[pa.Array, ...] | None:
        """First usable alias per row; `convert` returns the field value first, companions after it."""
        result: list[pa.Array] | None = None
        for alias, col in take(field):
            converted = convert(col)
            if result is None and converted[0] is col:
                result = list(converted)  # the first alias, taken as it is: every value it has is used
                continue
            usable = pc.is_valid(converted[0])
            if result is None:
                used = usable
                result = list(converted)
            else:
                used = pc.and_(pc.is_null(result[0]), usable)
                result = [pc.if_else(used, c, r) for c, r in zip(converted, result, strict=True)]
            unused = pc.and_(pc.is_valid(col), pc.invert(used))
            if pc.any(unused).as_py():
                leftovers[alias] = pc.if_else(unused, col, pa.scalar(None, col.type))
        return tuple(result) if result is not None else None

    received = pa.scalar(ctx.received, TS_TYPE)
    picked_ts = pick("ts", lambda col: (parse_timestamps(col, ctx.received),))
    ts = pc.coalesce(picked_ts[0], received) if picked_ts else pa.repeat(received, n)

    picked_level = pick("level", level_and_severity)
    level, severity = picked_level if picked_level else (pa.nulls(n, pa.string()), pa.nulls(n, pa.int8()))

    def text(field: str, default: str | None = None) -> pa.Array:
        picked = pick(field, lambda col: (as_string(col),))
        value = picked[0] if picked else pa.nulls(n, pa.string())
        if default is not None:
            value = pc.coalesce(value, pa.scalar(default, pa.string()))
        return value

    core = {
        "ts": ts,
        "observed_ts": pa.repeat(received, n),
        "tenant": pa.repeat(pa.scalar(ctx.tenant, pa.string()), n),
        "service": text("service", ctx.default_service),
        "host": text("host", ctx.default_host),
        "level": level,
        "severity": severity,
        "message": text("message"),
        "trace_id": text("trace_id"),
        "span_id": text("span_id"),
        "source": pa.repeat(pa.scalar(ctx.source, pa.string()), n),
        "log_id": text("log_id"),
    }
    attrs = {k: v for k, v in columns.items() if not pa.types.is_null(v.type) and v.null_count < len(v)}
    attrs.update(leftovers)
    return core, attrs


def pack(wide: pa.Table) -> pa.Table:
    """LOG_SCHEMA from a wide table: every non-core column (internal `__*` ones aside) into attrs JSON."""
    n = wide.num_rows
    columns: dict[str, pa.Array] = {}
    prebuilt = None
    for name in wide.column_names:
        if name in WIDE_CORE:
            continue
        if name == PREBUILT_ATTRS:
            prebuilt = one_array(wide.column(name))
        elif not name.startswith("__"):
            col = one_array(wide.column(name))
            if not pa.types.is_null(col.type) and col.null_count < n:
                columns[attr_key(name)] = col
    attrs = _attrs_json(columns, prebuilt, n)
    arrays = [one_array(wide.column(name)) for name in WIDE_CORE]
    schema = LOG_SCHEMA
    ints = sorted(key for key, col in columns.items() if col.type in _BIGINT_TYPES)
    if ints and prebuilt is None:  # ready-made JSON may spell any key any way: no claim then
        schema = LOG_SCHEMA.with_metadata({INT_ATTRS_META: orjson.dumps(ints)})
    return pa.Table.from_arrays([*arrays, attrs, pa.nulls(n, pa.string())], schema=schema)


def int_attr_keys(table: pa.Table) -> frozenset[str]:
    """The attribute keys `pack` found integer-only in `table` (INT_ATTRS_META); empty when it said nothing."""
    raw = (table.schema.metadata or {}).get(INT_ATTRS_META)
    return frozenset(orjson.loads(raw)) if raw else frozenset()


def without_int_claims(table: pa.Table) -> pa.Table:
    """`table` without the INT_ATTRS_META claim (for a batch that gained rows `pack` did not make)."""
    meta = table.schema.metadata
    if not meta or INT_ATTRS_META not in meta:
        return table
    rest = {k: v for k, v in meta.items() if k != INT_ATTRS_META}
    return table.replace_schema_metadata(rest or None)


def dead_letter(lines: list[tuple[str, str]], ctx: BatchContext) -> pa.Table:
    """Records for input that could not be decoded: the raw text as message, the reason in attrs.error."""
    n = len(lines)
    received = pa.scalar(ctx.received, TS_TYPE)
    messages = pa.array([line for line, _ in lines], pa.string())
    attrs = pa.array(
        [orjson.dumps({"error": reason, "original_source": ctx.source}).decode() for _, reason in lines],
        pa.string(),
    )
    return pa.Table.from_arrays(
        [
            pa.repeat(received, n),
            pa.repeat(received, n),
            pa.repeat(pa.scalar(ctx.tenant, pa.string()), n),
            pa.repeat(pa.scalar(ctx.default_service, pa.string()), n),
            pa.repeat(pa.scalar(ctx.default_host, pa.string()), n),
            pa.nulls(n, pa.string()),
            pa.nulls(n, pa.int8()),
            messages,
            pa.nulls(n, pa.string()),
            pa.nulls(n, pa.string()),
            pa.repeat(pa.scalar("dead_letter", pa.string()), n),
            _log_ids(pa.nulls(n, pa.string()), n),
            attrs,
            pa.nulls(n, pa.string()),
        ],
        schema=LOG_SCHEMA,
    )


def level_and_severity(col: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(canonical level, OpenTelemetry severity number) from level names or severity numbers."""
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        nums = pc.cast(col, pa.int64(), safe=False)
    elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        # Numeric strings ("17") are severity numbers too; keep the exact number, not the range floor.
        trimmed = pc.utf8_trim_whitespace(pc.cast(col, pa.string()))
        numeric = numeric_strings(trimmed)
        if numeric is None:
            # Level names only (the usual batch): the severity-number kernels would all give nulls.
            return named_levels(trimmed)
        nums = pc.cast(pc.if_else(numeric, trimmed, None), pa.int64())
    else:
        return pa.nulls(len(col), pa.string()), pa.nulls(len(col), pa.int8())
    by_number = level_from_otel_severity(nums)
    exact = pc.cast(pc.if_else(pc.is_valid(by_number), nums, None), pa.int8())
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        return by_number, exact
    level = pc.coalesce(by_number, normalize_level_text(col))
    return level, pc.coalesce(exact, severity_for_level(level))


def is_core_alias(name: str) -> bool:
    """True when a top-level record key maps onto a core column."""
    return name in ALIAS_TO_FIELD


def as_string(col: pa.Array) -> pa.Array:
    t = col.type
    if pa.types.is_string(t):
        return col
    if pa.types.is_null(t):
        return pa.nulls(len(col), pa.string())
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_struct(t):
        return json_values(col)
    return pc.cast(col, pa.string())


@functools.cache
def _row_suffix_block(size: int) -> pa.Array:
    return pa.array([f"{i:06x}" for i in range(size)], pa.string())


def _row_suffixes(n: int) -> pa.Array:
    """'000000', '000001', … from a cached array (sizes are powers of two), so ids cost a slice and a join."""
    size = max(65_536, 1 << (n - 1).bit_length())
    return _row_suffix_block(size).slice(0, n)


def _log_ids(given: pa.Array, n: int) -> pa.Array:
    if n and given.null_count == 0:
        return given
    # Unique ids that compress well: one random 64-bit prefix per batch plus the row number.
    generated = pc.binary_join_element_wise(secrets.token_hex(8), _row_suffixes(n), "")
    return pc.coalesce(given, generated) if given.null_count < n else generated


def _attrs_json(columns: dict[str, pa.Array], prebuilt: pa.Array | None, n: int) -> pa.Array:
    attrs = encode_objects(columns, n)
    if prebuilt is None:
        return attrs
    # Records decoded one by one carry their attrs JSON ready-made; merge the two objects textually.
    pre = pc.cast(prebuilt, pa.string())
    joined = pc.binary_join_element_wise(pc.utf8_slice_codeunits(attrs, 0, -1), pc.utf8_slice_codeunits(pre, 1), ",")
    both = pc.and_(pc.is_valid(pre), pc.is_valid(attrs))
    return pc.if_else(both, joined, pc.coalesce(attrs, pre))
