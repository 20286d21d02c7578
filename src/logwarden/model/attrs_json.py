"""Build the `attrs` JSON object of every row from columns, with Arrow kernels (no per-row Python).

Each column gives a `,"key":` piece (null where the row has no value, laid over the value's own validity
bitmap) and its value text; one element-wise concatenation of all of them assembles the objects, so a key
absent from a row stays absent.
Strings are quoted and escaped with vector replaces; the rare column holding control characters, and
nested values (lists), are encoded by polars instead.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.lazy import lazy_module

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")  # imported on first use (logwarden.lazy)

# Scanned over a column's whole values buffer at once: one C loop instead of a regex per value.
_NEEDS_ESCAPE = re.compile(rb'["\\\x00-\x1f]')
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# (character, its scan, its JSON escape); the backslash first, so the escapes' own backslashes stay.
_ESCAPES = tuple(
    (c, re.compile(re.escape(c.encode())), e)
    for c, e in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))
)


def encode_objects(columns: dict[str, pa.Array], n: int) -> pa.Array:
    """One JSON object text per row from `columns` (name → array of length n); rows with no values → null."""
    if not columns:
        return pa.nulls(n, pa.string())
    # One element-wise join over ',"key":' + value (+ '"') per column and a closing '}'. A key piece is
    # null wherever its value is, and nulls join as "", so an absent value takes its key with it.
    parts: list[pa.Array | str] = []
    for name, col in columns.items():
        value, quoted = _value_text(col)
        key = "," + orjson.dumps(name).decode() + (':"' if quoted else ":")
        parts += (
            [_where_valid(key, value), value, _where_valid('"', value)] if quoted else [_where_valid(key, value), value]
        )
    inner = pc.binary_join_element_wise(*parts, "}", "", null_handling="replace", null_replacement="")
    # Every object starts with the ASCII ',' of its first key: a byte slice makes it the '{' (no per-row
    # UTF-8 counting); a row with no value at all is just the '}'.
    objects = pc.binary_replace_slice(inner, 0, 1, "{")
    return pc.if_else(pc.equal(inner, "}"), pa.scalar(None, pa.string()), objects)


def _value_text(col: pa.Array) -> tuple[pa.Array, bool]:
    """(the JSON text of each value, or of a string's escaped body when the flag says quotes are still due)."""
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        escaped = _escaped_strings(pc.cast(col, pa.string()))
        if escaped is not None:
            return escaped, True
    elif pa.types.is_integer(t):
        return pc.cast(col, pa.string()), False
    return json_values(col), False


# Repeated-text blocks up to this many bytes are kept (a key repeated for a usual batch is a few kB).
_CACHED_BLOCK_BYTES = 1 << 17


def _where_valid(text: str, like: pa.Array) -> pa.Array:
    """`text` in every row where `like` has a value, null elsewhere: `like`'s validity bitmap over a block of
    the repeated text (no kernel, no copy of the bitmap)."""
    n = len(like)
    encoded = text.encode()
    rows = like.offset + n
    size = 1 << max(10, (rows - 1).bit_length())
    if len(encoded) * size >= 1 << 31:  # past what 32-bit string offsets address: the kernel way
        return pc.if_else(pc.is_valid(like), pa.scalar(text, pa.string()), pa.scalar(None, pa.string()))
    block = _cached_block(encoded, size) if len(encoded) * size <= _CACHED_BLOCK_BYTES else _block(encoded, size)
    _, offsets, data = block.buffers()
    return pa.Array.from_buffers(
        pa.string(), n, [like.buffers()[0], offsets, data], null_count=like.null_count, offset=like.offset
    )


def _block(encoded: bytes, size: int) -> pa.Array:
    """`size` rows of the same text, built from two buffers."""
    offsets = np.arange(0, (size + 1) * len(encoded), len(encoded), dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), size, [None, pa.py_buffer(offsets), pa.py_buffer(encoded * size)])


_cached_block = functools.lru_cache(maxsize=512)(_block)


def json_values(col: pa.Array) -> pa.Array:
    """JSON text of each value of an Arrow array (null stays null)."""
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _json_strings(pc.cast(col, pa.string()))
    if pa.types.is_integer(t):
        return pc.cast(col, pa.string())
    if pa.types.is_floating(t):
        # NaN and infinities have no JSON form.
        return pc.if_else(pc.is_finite(col), pc.cast(col, pa.string()), pa.scalar(None, pa.string()))
    if pa.types.is_boolean(t):
        return pc.if_else(col, "true", "false")
    if pa.types.is_null(t):
        return pa.nulls(len(col), pa.string())
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return _json_strings(pc.cast(col, pa.string()))
    return _polars_json(col)


def _json_strings(col: pa.Array) -> pa.Array:
    escaped = _escaped_strings(col)
    if escaped is None:
        return _polars_json(col)
    return pc.binary_join_element_wise('"', escaped, '"', "")


def _escaped_strings(col: pa.Array) -> pa.Array | None:
    """The values escaped for a JSON string body (quotes not added); None when one holds a control
    character the vector replaces do not cover (polars encodes those)."""
    values = _values_buffer(col)
    if _NEEDS_ESCAPE.search(values):
        if _CONTROL.search(values):
            return None
        # Only the characters the values hold: each replace is a pass over the column.
        for needle, pattern, escape in _ESCAPES:
            if pattern.search(values):
                col = pc.replace_substring(col, needle, escape)
    return col


def _values_buffer(col: pa.Array) -> memoryview:
    """The character data of a string array (may extend past a slice: only false positives follow)."""
    buffer = col.buffers()[2]
    return memoryview(buffer) if buffer is not None else memoryview(b"")


def _duplicate_field_names(t: pa.DataType) -> bool:
    """Whether a nested type has a struct with two fields polars would name alike: it cuts names at a NUL, so
    `{"": 1, "\u0000x": 2}` has two fields named "" there, and polars panics on that instead of raising."""
    if pa.types.is_struct(t):
        names = [t.field(i).name for i in range(t.num_fields)]
        if any("\x00" in name for name in names) or len(set(names)) < len(names):
            return True
        return any(_duplicate_field_names(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _duplicate_field_names(t.value_type)
    if pa.types.is_map(t):
        return _duplicate_field_names(t.item_type)
    return False


def _python_json(col: pa.Array) -> pa.Array:
    """Per-value encoding, for the pathological types polars cannot take (never on ordinary input)."""
    from logwarden.model.json_table import timestamps_as_strings  # json_table imports this module

    col = col.cast(timestamps_as_strings(col.type))  # Python datetimes stop at year 1; the text does not
    return pa.array(
        [None if v is None else orjson.dumps(v, default=str).decode() for v in col.to_pylist()], pa.string()
    )


def _polars_json(col: pa.Array) -> pa.Array:
    if _duplicate_field_names(col.type):
        return _python_json(col)
    frame = pl.from_arrow(pa.table({"v": col}))
    assert isinstance(frame, pl.DataFrame)
    encoded = frame.select(
        pl.when(pl.col("v").is_not_null())
        .then(pl.struct(pl.col("v")).struct.json_encode().str.slice(5).str.strip_suffix("}"))
        .alias("v")
    )
    return encoded.to_arrow().column("v").combine_chunks().cast(pa.string())
