"""Reading and writing fields of wide batches: core columns stay typed and normalized, attributes are free.

Field names as users write them: a core name (`message`, `level`, `ts`, `host`…), an attribute key
(`status`, `http.status`), or `attrs.<key>` (always an attribute, even when `<key>` is a core name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.json_table import table_from_records
from logwarden.model.levels import LEVELS, severity_for_level
from logwarden.model.normalize import (
    PREBUILT_ATTRS,
    WIDE_CORE,
    WIDE_CORE_SCHEMA,
    BatchContext,
    as_string,
    attr_column,
    level_and_severity,
    records_table,
    widen,
)
from logwarden.model.timestamps import parse_timestamps

# Core columns a pipeline may not change: they record where and when a line arrived.
READ_ONLY = frozenset({"observed_ts", "severity"})
# Core columns that can never be null.
REQUIRED = frozenset({"ts", "observed_ts", "tenant", "source", "log_id"})
_CORE = frozenset(WIDE_CORE)
_CANONICAL_LEVELS = pa.array(LEVELS, pa.string())


def column_of(name: str) -> str:
    """The wide-table column a user-written field name refers to."""
    if name.startswith("attrs."):
        return attr_column(name[6:])
    return name


def is_core(name: str) -> bool:
    return column_of(name) in _CORE


def get(batch: pa.Table, name: str) -> pa.Array | None:
    """The values of a field (one chunk), or None when no row has it."""
    column = column_of(name)
    if column not in batch.column_names:
        return None
    return batch.column(column).combine_chunks()


def get_strings(batch: pa.Table, name: str) -> pa.Array | None:
    """A field as text (numbers formatted, nested values as JSON), or None when absent."""
    values = get(batch, name)
    return None if values is None else as_string(values)


def set_field(batch: pa.Table, name: str, values: pa.Array, where: pa.Array | None = None) -> pa.Table:
    """Set a field (adding the column if new), only on rows where `where` is true when given.

    Core columns are converted: `ts` parses text or epoch numbers (unparseable keeps the old value),
    `level` normalizes names and numbers and updates `severity`, the others become text.
    Raises ValueError for read-only columns and for nulls in columns that cannot be null.
    """
    column = column_of(name)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if where is not None and pc.all(pc.fill_null(where, False)).as_py():
        where = None  # every row: skip the blending
    if column in READ_ONLY:
        raise ValueError(f"field {name!r} is set by logwarden and cannot be changed")
    if column in _CORE:
        return _set_core(batch, column, values, where)
    if column in batch.column_names:
        old = batch.column(column).combine_chunks()
        if where is not None:
            values = _blend(where, values, old)
        return batch.set_column(batch.column_names.index(column), column, values)
    if where is not None:
        values = pc.if_else(pc.fill_null(where, False), values, pa.scalar(None, values.type))
    return batch.append_column(column, values)


def remove(batch: pa.Table, names: Iterable[str]) -> pa.Table:
    """Drop attribute fields (core fields other than the required ones become null)."""
    for name in names:
        column = column_of(name)
        if column in REQUIRED or column in READ_ONLY:
            raise ValueError(f"field {name!r} cannot be removed")
        if column in _CORE:
            batch = _set_core(batch, column, pa.nulls(batch.num_rows, WIDE_CORE_SCHEMA.field(column).type), None)
        elif column in batch.column_names:
            batch = batch.drop_columns([column])
    return batch


def attribute_columns(batch: pa.Table) -> list[str]:
    """The attribute columns of a wide batch (internal `__*` columns aside)."""
    return [name for name in batch.column_names if name not in _CORE and not name.startswith("__")]


def merge_records(batch: pa.Table, parsed: pa.Table, where: pa.Array | None = None) -> pa.Table:
    """Set every column of `parsed` (same row count) as a field, on rows where `where` holds.

    Null values never overwrite: a row keeps a field the parse did not produce for it.
    """
    for name in parsed.column_names:
        values = parsed.column(name).combine_chunks()
        if values.null_count == len(values):
            continue
        valid = pc.is_valid(values)
        mask = valid if where is None else pc.and_(pc.fill_null(where, False), valid)
        batch = set_field(batch, name, values, mask)
    return batch


def map_unique(values: pa.Array, fn: Callable[[Any], Any], out_type: pa.DataType) -> pa.Array:
    """Apply a Python function once per distinct value (nulls stay null): for lookups with no vector form.

    Log fields repeat heavily (IPs, user agents, hosts), so this costs one call per distinct value.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    dictionary = encoded.dictionary.to_pylist()
    mapped = pa.array([fn(v) for v in dictionary], out_type)
    return pc.take(mapped, encoded.indices)


def expand_prebuilt(batch: pa.Table) -> pa.Table:
    """Turn a ready-made attrs JSON column (the per-record decode fallback) into attribute columns.

    That fallback serves records whose fields vary in type across lines, so this decodes per row
    (only those rows) and keeps a field whose values mix types as text.
    """
    if PREBUILT_ATTRS not in batch.column_names:
        return batch
    prebuilt = batch.column(PREBUILT_ATTRS).to_pylist()
    batch = batch.drop_columns([PREBUILT_ATTRS])
    table = records_table([orjson.loads(text) if text else {} for text in prebuilt])
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        if not pa.types.is_null(column.type) and attr_column(name) not in batch.column_names:
            batch = batch.append_column(attr_column(name), column)
    return batch


def wide_from_records(
    records: list[dict[str, Any]],
    *,
    tenant: str = "default",
    source: str = "test",
    received: datetime | None = None,
) -> pa.Table:
    """A wide batch from records the way ingest builds one (for tests and `logwarden pipeline test`)."""
    ctx = BatchContext(tenant=tenant, source=source, received=received or datetime.now(UTC))
    return expand_prebuilt(widen(table_from_records(records), ctx))


def _blend(where: pa.Array, new: pa.Array, old: pa.Array) -> pa.Array:
    mask = pc.fill_null(where, False)
    if new.type != old.type:
        try:
            new = pc.cast(new, old.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # Mixed types in one field: keep both as text.
            new, old = as_string(new), as_string(old)
    return pc.if_else(mask, new, old)


def _set_core(batch: pa.Table, column: str, values: pa.Array, where: pa.Array | None) -> pa.Table:
    index = batch.column_names.index(column)
    old = batch.column(index).combine_chunks()
    if column == "ts":
        parsed = parse_timestamps(values, received_time(batch))
        # An unparseable stamp keeps the old time rather than losing the line's time.
        usable = pc.is_valid(parsed)
        mask = usable if where is None else pc.and_(pc.fill_null(where, False), usable)
        return batch.set_column(index, "ts", pc.if_else(mask, parsed, old))
    if column == "level":
        # Unknown level names keep the old level (and the raw value stays where it came from).
        if pa.types.is_string(values.type) and pc.all(pc.is_in(values, _CANONICAL_LEVELS)).as_py():
            level, severity = values, pa.nulls(len(values), pa.int8())  # already canonical
        else:
            level, severity = level_and_severity(values)
        severity = pc.cast(pc.coalesce(severity, severity_for_level(level)), pa.int8())
        usable = pc.is_valid(level)
        mask = usable if where is None else pc.and_(pc.fill_null(where, False), usable)
        sev_index = batch.column_names.index("severity")
        old_severity = batch.column(sev_index).combine_chunks()
        batch = batch.set_column(index, "level", pc.if_else(mask, level, old))
        return batch.set_column(sev_index, "severity", pc.if_else(mask, severity, old_severity))
    text = as_string(values)
    new = text if where is None else pc.if_else(pc.fill_null(where, False), text, old)
    if column in REQUIRED and new.null_count:
        new = pc.coalesce(new, old)
    return batch.set_column(index, column, new)


def received_time(batch: pa.Table) -> datetime:
    """The batch's receive time: the reference for year-less and relative stamps."""
    if batch.num_rows and "observed_ts" in batch.column_names:
        value = batch.column("observed_ts")[0].as_py()
        if isinstance(value, datetime):
            return value
    return datetime.now(UTC)
