"""Row filters for streams: the search language's filter part evaluated on Arrow batches.

Used by the live tail (core-schema batches, attrs as JSON text) and by pipeline `if:` conditions (wide
batches: core columns without attrs, one column per attribute, maybe a `__attrs__` JSON column). The
filter compiles to the same DuckDB expression as a store query (plan.duckdb_filter.compile_node); only how fields
are found differs, so a line matches live exactly when it would match in the store.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from typing import Protocol

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from logwarden.model.normalize import PREBUILT_ATTRS, attr_column
from logwarden.model.scratch_db import scratch_connection
from logwarden.plan.duckdb_filter import StoreFields, as_number, attr_path, compile_node, lit
from logwarden.plan.words import bounded_regex, fold
from logwarden.query import ast
from logwarden.query.byte_text import ByteText
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.parser import parse_filter

_DOUBLE = exp.DataType.build("DOUBLE")
_VARCHAR = exp.DataType.build("VARCHAR")
_TABLE = "__lw_batch"
_CACHE_SIZE = 64

# One in-memory database; each thread evaluates on its own cursor (DuckDB cursors are not thread-safe). Made on
# first use: a server that never tails nor filters in a pipeline does not hold it (~5 MB resident, issue 13).
_db_lock = threading.Lock()
_local = threading.local()


@functools.cache
def _database() -> duckdb.DuckDBPyConnection:
    return scratch_connection()


def _cursor() -> duckdb.DuckDBPyConnection:
    cur = getattr(_local, "cursor", None)
    if cur is None:
        with _db_lock:  # the first call makes the database: once
            cur = _local.cursor = _database().cursor()
    return cur


class AttributeValues(Protocol):
    """A core-schema batch's attribute values found without parsing its `attrs` JSON (query/batch_attrs.py
    `BatchAttributes`, from the columns ingest decoded): None where they cannot be told that way."""

    def numbers(self, key: str) -> np.ndarray | None:
        """The attribute as doubles, NaN where a line lacks it or it is no finite number (TRY_CAST of its text)."""
        ...

    def decoded_text(self, key: str) -> pa.Array | None:
        """The attribute's text per line, as `json_extract_string` reads it (null where a line lacks it)."""
        ...


class WideFields:
    """Fields of one wide-batch schema: typed attribute columns, else the `__attrs__` JSON, else null."""

    def __init__(self, schema: pa.Schema) -> None:
        self.types = {f.name: f.type for f in schema}
        self.json = PREBUILT_ATTRS if PREBUILT_ATTRS in self.types else None

    def _col(self, name: str) -> exp.Expr:
        return exp.column(name, quoted=True)

    def _json_text(self, key: str) -> exp.Expr | None:
        if self.json is None:
            return None
        return exp.JSONExtractScalar(this=self._col(self.json), expression=lit(attr_path(key)))

    def _column_of(self, field: ast.FieldRef) -> str | None:
        name = field.name if field.core else attr_column(field.name)
        return name if name in self.types else None

    def text(self, field: ast.FieldRef) -> exp.Expr:
        name = self._column_of(field)
        fallback = None if field.core else self._json_text(field.name)
        if name is None:
            return fallback if fallback is not None else exp.cast(exp.Null(), _VARCHAR)
        t = self.types[name]
        col = self._col(name)
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            value: exp.Expr = col
        elif pa.types.is_struct(t) or pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_map(t):
            # The store holds nested values as JSON text; compare the same text.
            value = exp.cast(exp.Anonymous(this="to_json", expressions=[col]), _VARCHAR)
        elif pa.types.is_dictionary(t) or (pa.types.is_timestamp(t) and not field.core):
            value = exp.cast(col, _VARCHAR)
        else:
            value = exp.cast(col, _VARCHAR)
        return exp.Coalesce(this=value, expressions=[fallback]) if fallback is not None else value

    def number(self, field: ast.FieldRef) -> exp.Expr:
        name = self._column_of(field)
        if name is not None:
            t = self.types[name]
            if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
                return exp.cast(self._col(name), _DOUBLE)
            if pa.types.is_boolean(t):
                # JSON true is not a number in the store either.
                return exp.cast(exp.Null(), _DOUBLE)
        return exp.TryCast(this=self.text(field), to=_DOUBLE.copy())

    def exists(self, field: ast.FieldRef) -> exp.Expr:
        return exp.Not(this=exp.Is(this=self.text(field), expression=exp.Null()))


def extracted_column(name: str) -> str:
    """The column an attribute's text is read from when a query extracted it from `attrs` beforehand (a name no
    core column or attribute column can have)."""
    return "__lw_attr_" + name.encode().hex()


class ExtractedFields(StoreFields):
    """Store fields whose attributes were extracted already (`extracted_column(name)`: the attribute's
    `json_extract_string` text): one JSON parse per line serves every filter and field. Records which
    attributes the compiled filters read."""

    def __init__(self) -> None:
        super().__init__()
        self.names: dict[str, None] = {}

    def text(self, field: ast.FieldRef) -> exp.Expr:
        if field.core:
            return super().text(field)
        self.names[field.name] = None
        return exp.column(extracted_column(field.name), quoted=True)


class RowFilter:
    """A compiled filter; `mask(table)` gives one boolean per row (null counts as false). Thread-safe."""

    def __init__(self, text: str, query: ast.Query) -> None:
        self.text = text
        self.query = query
        self._sql: OrderedDict[tuple[object, ...], str] = OrderedDict()
        self._extracted: OrderedDict[tuple[object, ...], tuple[str, tuple[str, ...]]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def matches_all(self) -> bool:
        return isinstance(self.query.filter, ast.MatchAll)

    def sql_for(self, schema: pa.Schema) -> str:
        """The SELECT that evaluates this filter on a table of `schema` (cached per schema)."""
        return self._compiled(schema, select=True)

    def condition_sql(self, schema: pa.Schema) -> str:
        """The filter as a DuckDB boolean expression over the columns of `schema` (never null), so that several
        filters can be evaluated in one SELECT (cached per schema)."""
        return self._compiled(schema, select=False)

    def extracted_condition_sql(self, schema: pa.Schema) -> tuple[str, tuple[str, ...]]:
        """Like `condition_sql` over a store-schema table, with each attribute read from the column
        `extracted_column(name)` instead of parsing `attrs`; and the attributes it reads (cached per schema)."""
        key = tuple((f.name, str(f.type)) for f in schema)
        with self._lock:
            found = self._extracted.get(key)
            if found is not None:
                self._extracted.move_to_end(key)
                return found
        fields = ExtractedFields()
        condition = exp.Coalesce(this=compile_node(self.query.filter, fields), expressions=[exp.false()])
        found = (condition.sql(dialect="duckdb"), tuple(fields.names))
        with self._lock:
            self._extracted[key] = found
            if len(self._extracted) > _CACHE_SIZE:
                self._extracted.popitem(last=False)
        return found

    def _compiled(self, schema: pa.Schema, *, select: bool) -> str:
        key = (select, *((f.name, str(f.type)) for f in schema))
        with self._lock:
            sql = self._sql.get(key)
            if sql is not None:
                self._sql.move_to_end(key)
                return sql
        fields = StoreFields() if "attrs" in schema.names else WideFields(schema)
        condition = exp.Coalesce(this=compile_node(self.query.filter, fields), expressions=[exp.false()])
        if select:
            sql = exp.select(exp.alias_(condition, "m")).from_(exp.to_table(_TABLE)).sql(dialect="duckdb")
        else:
            sql = condition.sql(dialect="duckdb")
        with self._lock:
            self._sql[key] = sql
            if len(self._sql) > _CACHE_SIZE:
                self._sql.popitem(last=False)
        return sql

    def mask(self, table: pa.Table | pa.RecordBatch, shared: dict[str, object] | None = None) -> pa.BooleanArray:
        """True for the rows the filter selects. Filters evaluated on the same table may pass the same `shared`
        dict: work they have in common (the lowered message text) is then done once."""
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if self.matches_all or table.num_rows == 0:
            return pa.nulls(table.num_rows, pa.bool_()).fill_null(True)
        fast = self.arrow_mask(table, shared)
        if fast is not None:
            return fast
        sql = self.sql_for(table.schema)
        cur = _cursor()
        cur.register(_TABLE, table)
        try:
            result = cur.sql(sql).to_arrow_table().column(0)
        finally:
            cur.unregister(_TABLE)
        combined = result.combine_chunks()
        assert isinstance(combined, pa.BooleanArray)
        return combined

    def arrow_mask(
        self, table: pa.Table, shared: dict[str, object] | None = None, attributes: AttributeValues | None = None
    ) -> pa.BooleanArray | None:
        """The mask by pyarrow.compute alone, or None when the filter needs DuckDB (attrs JSON, regex, CIDR,
        wildcards, text comparisons: `condition_sql`). `attributes`: on a table with `attrs`, where attribute
        numbers (comparisons, existence) and texts (equality) are found without the JSON."""
        if self.matches_all or table.num_rows == 0:
            return pa.nulls(table.num_rows, pa.bool_()).fill_null(True)
        return _arrow_mask(self.query.filter, table, {} if shared is None else shared, attributes)

    def filter(self, table: pa.Table) -> pa.Table:
        """The rows of `table` the filter selects."""
        return table.filter(self.mask(table))


class _NoFastPathError(Exception):
    """The filter needs DuckDB (attrs JSON, regex, CIDR, wildcards, text comparisons)."""


def _arrow_mask(
    node: ast.Node, table: pa.Table, shared: dict[str, object], attributes: AttributeValues | None = None
) -> pa.BooleanArray | None:
    """pyarrow.compute for the common simple filters on typed columns (no query planning per batch)."""
    try:
        found = _arrow(node, table, shared, attributes)
    except _NoFastPathError:
        return None
    if isinstance(found, np.ndarray):
        return pa.array(found, pa.bool_())
    result = pc.fill_null(found, False)
    if isinstance(result, pa.ChunkedArray):
        result = result.combine_chunks()
    assert isinstance(result, pa.BooleanArray)
    return result


def _column(field: ast.FieldRef, table: pa.Table) -> pa.ChunkedArray:
    name = field.name if field.core else attr_column(field.name)
    if name not in table.column_names:
        if field.core or "attrs" in table.column_names or PREBUILT_ATTRS in table.column_names:
            raise _NoFastPathError
        return pa.chunked_array([pa.nulls(table.num_rows, pa.string())])
    return table.column(name)


def _arrow(
    node: ast.Node, table: pa.Table, shared: dict[str, object], attributes: AttributeValues | None = None
) -> pa.ChunkedArray | pa.Array | np.ndarray:
    """The node's mask: Arrow booleans (null: no match), or numpy booleans where message terms or attribute
    numbers gave it."""
    if isinstance(node, ast.And | ast.Or):
        found = [_arrow(item, table, shared, attributes) for item in node.items]
        if all(isinstance(part, np.ndarray) for part in found):  # terms (`GET OR POST`): no round trip to Arrow
            combine = np.logical_and if isinstance(node, ast.And) else np.logical_or
            return functools.reduce(combine, found)
        parts = [pc.fill_null(pa.array(part) if isinstance(part, np.ndarray) else part, False) for part in found]
        out = parts[0]
        for part in parts[1:]:
            out = pc.and_(out, part) if isinstance(node, ast.And) else pc.or_(out, part)
        return out
    if isinstance(node, ast.Not):
        inner = _arrow(node.item, table, shared, attributes)
        if isinstance(inner, np.ndarray):
            return ~inner
        return pc.invert(pc.fill_null(inner, False))
    if isinstance(node, ast.Term) and not node.wildcard and "message" in table.column_names:
        message = table.column("message")
        if not pa.types.is_string(message.type):
            raise _NoFastPathError
        if not node.text.isascii():
            return pc.match_substring_regex(pc.utf8_lower(message), bounded_regex(node.text))
        return _term_bits(message, node.text, shared)
    if attributes is not None and isinstance(node, ast.Exists | ast.Equals | ast.Compare) and _in_attrs(node, table):
        return _attribute_mask(node, attributes)
    if isinstance(node, ast.Exists):
        return pc.is_valid(_column(node.field, table))
    if isinstance(node, ast.Equals):
        col = _column(node.field, table)
        if pa.types.is_string(col.type):
            return pc.equal(col, pa.scalar(node.value, pa.string()))
        if pa.types.is_integer(col.type) and node.value.lstrip("-").isdigit() and len(node.value) < 19:
            return (
                pc.equal(col, pa.scalar(int(node.value), col.type))
                if _fits(int(node.value), col.type)
                else (pc.equal(pc.cast(col, pa.int64()), int(node.value)))
            )
        raise _NoFastPathError
    if isinstance(node, ast.Compare) and not (node.field.core and node.field.name == "level"):
        col = _column(node.field, table)
        number = as_number(node.value)
        if number is None or not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            raise _NoFastPathError
        ops = {">": pc.greater, ">=": pc.greater_equal, "<": pc.less, "<=": pc.less_equal}
        values = pc.cast(col, pa.float64())
        # NaN and ±Infinity are not numbers (docs/query.md): they never match, as in plan/duckdb_filter.py.
        return pc.and_(ops[node.op](values, number), pc.is_finite(values))
    raise _NoFastPathError


def _in_attrs(node: ast.Exists | ast.Equals | ast.Compare, table: pa.Table) -> bool:
    """Whether the node's field is an attribute found in the table's `attrs` JSON (no column of its own)."""
    field = node.field
    return not field.core and "attrs" in table.column_names and attr_column(field.name) not in table.column_names


_NUMBER_TESTS = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}


def _attribute_mask(node: ast.Exists | ast.Equals | ast.Compare, attributes: AttributeValues) -> np.ndarray | pa.Array:
    """An attribute's existence, number comparison or text equality from `attributes` (the same answer as the
    SQL of plan/duckdb_filter.py over its JSON text); _NoFastPathError when they cannot tell."""
    key = node.field.name
    if isinstance(node, ast.Compare):
        bound = as_number(node.value)
        values = None if bound is None else attributes.numbers(key)
        if values is None or bound is None:  # a text comparison, or no numbers on every line
            raise _NoFastPathError
        with np.errstate(invalid="ignore"):
            found: np.ndarray = _NUMBER_TESTS[node.op](values, bound)  # NaN: missing or not finite, never matches
        return found
    if isinstance(node, ast.Exists):
        values = attributes.numbers(key)
        if values is not None:  # a non-finite number is written as no value (model/attrs_json.py)
            return ~np.isnan(values)
    text = attributes.decoded_text(key)
    if text is None:
        raise _NoFastPathError
    if isinstance(node, ast.Exists):
        return pc.is_valid(text)
    return pc.equal(text, pa.scalar(node.value, pa.string()))


def _term_mask(message: pa.ChunkedArray, text: str, shared: dict[str, object]) -> pa.Array:
    """A word or phrase of ASCII text in the message (`_term_bits`), as Arrow booleans."""
    return pa.array(_term_bits(message, text, shared), pa.bool_())


def _term_bits(message: pa.ChunkedArray, text: str, shared: dict[str, object]) -> np.ndarray:
    """A word or phrase of ASCII text in the message, one boolean per row (never null: a null message holds no
    term). Every term on a table searches the same ASCII-lowered message text (lowered once per table through
    `shared`, where each term's rows are kept too): in lines of ASCII text alone — where lowering is ASCII
    lowering and a word is a run of ASCII letters, digits and `_` — its occurrences are found in the text's one
    buffer, vectorized, and kept where they are not glued to more word characters; lines with other characters
    go through the bounded regex of plan/words.py (`_regex_term_mask`)."""
    key = "ascii_term\x1f" + text
    known = shared.get(key)
    if known is not None:
        assert isinstance(known, np.ndarray)
        return known
    found = shared.get("ascii_lower_message_text")
    if found is None:
        lowered = shared.get("ascii_lower_message")
        if lowered is None:
            lowered = shared["ascii_lower_message"] = pc.ascii_lower(message.combine_chunks())
        assert isinstance(lowered, pa.Array)
        found = shared["ascii_lower_message_text"] = _LoweredText(lowered)
    assert isinstance(found, _LoweredText)
    out = found.bounded(text)
    if len(found.other_rows):
        # Lines with non-ASCII text: the regex decides (as for every line before the buffer search).
        decided = _regex_term_mask(message.combine_chunks().take(pa.array(found.other_rows)), text)
        out[found.other_rows] = decided.to_numpy(zero_copy_only=False)
    out.flags.writeable = False  # shared by every filter on the table with this term
    shared[key] = out
    return out


def _regex_term_mask(message: pa.Array, text: str) -> pa.BooleanArray:
    """A term by the bounded regex (plan/words.py) on the Unicode-lowered message: a substring search for the
    folded text picks the candidates, and the regex runs on those alone."""
    low = pc.utf8_lower(message)  # Unicode lowercase, as the regex expects (`İ` → `i`, Kelvin sign → `k`)
    candidates = pc.fill_null(pc.match_substring(low, fold(text)), False)
    if (pc.sum(candidates).as_py() or 0) == 0:
        return candidates
    index = pc.indices_nonzero(candidates)
    hits = pc.match_substring_regex(pc.take(low, index), bounded_regex(text))
    misses = pc.filter(index, pc.invert(pc.fill_null(hits, False)))
    if len(misses) == 0:
        return candidates
    out = candidates.to_numpy(zero_copy_only=False).copy()
    out[misses.to_numpy()] = False
    return pa.array(out, pa.bool_())


# Bytes of a word in ASCII text: letters, digits and `_` (what every definition of a word agrees on there).
_WORD_BYTE = np.zeros(256, dtype=bool)
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_":
    _WORD_BYTE[_c] = True
_OTHER_BYTE = ~_WORD_BYTE
_HIGH_BITS = np.uint64(0x8080808080808080)  # the high bit of each of 8 bytes: set in UTF-8 beyond ASCII only


class _LoweredText(ByteText):
    """A string array's ASCII-lowered text (`ByteText`) and which rows a term search there decides:
    `other_rows`, the rows with non-ASCII text, are left undecided (False)."""

    def __init__(self, lowered: pa.Array) -> None:
        super().__init__(lowered)
        # Rows the buffer search decides: valid ones of ASCII text alone. Text without a byte above 0x7F (most
        # batches) is ASCII in every row: one test of 8 bytes at a time, instead of Arrow's per row (~8x dearer).
        whole = self.bytes[: -(-self.size // 8) * 8].view("<u8")  # the zero padding completes the last 8
        if not int(np.bitwise_or.reduce(whole, initial=0)) & int(_HIGH_BITS):  # no temporary array
            self.other_rows = np.zeros(0, dtype=np.int64)
            decided = pc.is_valid(lowered)
        else:
            decided = pc.fill_null(pc.string_is_ascii(lowered), True)
            self.other_rows = np.flatnonzero(~decided.to_numpy(zero_copy_only=False))
            if lowered.null_count:
                decided = pc.and_(decided, pc.is_valid(lowered))
        self.decided = None if decided.false_count == 0 else decided.to_numpy(zero_copy_only=False)

    def bounded(self, text: str) -> np.ndarray:
        """Per row: whether it holds `text` (ASCII) where it is not glued to more word characters (rows in
        `other_rows`: False, undecided)."""
        needle = text.lower().encode("ascii")
        size = len(needle)
        out = np.zeros(self.rows, dtype=bool)
        if size == 0:  # the empty text is in every line
            out[:] = True
        else:
            starts = self.starts(needle)
            if len(starts):
                rows = self.row_of(starts)
                ends = starts + size
                row_end = self.offsets[rows + 1]
                keep = ends <= row_end  # not running on into the next row
                data = self.bytes
                if _WORD_BYTE[needle[0]]:  # at its row's start, or after a byte of no word (-1: the padding)
                    keep &= (starts == self.offsets[rows]) | _OTHER_BYTE[data[starts - 1]]
                if _WORD_BYTE[needle[-1]]:  # at its row's end, or before a byte of no word (the padding at the end)
                    keep &= (ends == row_end) | _OTHER_BYTE[data[ends]]
                out[rows[keep]] = True
        if self.decided is not None:
            out &= self.decided
        return out


def _fits(value: int, t: pa.DataType) -> bool:
    try:
        pa.scalar(value, t)
    except (pa.ArrowInvalid, OverflowError):
        return False
    return True


def compile_filter(text: str) -> RowFilter:
    """Compile a filter (`level:error AND status:>=500`); raises QuerySyntaxError (pipes and _time too)."""
    query = parse_filter(text)
    if query.time is not None:
        raise QuerySyntaxError("_time is not supported in a stream filter; lines are filtered as they arrive", 1)
    return RowFilter(text, query)
