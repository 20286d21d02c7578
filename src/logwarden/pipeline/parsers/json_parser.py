"""`json`: parse a JSON object held in a text field (usually the message) into fields.

The rows whose text starts with `{` are parsed together by Arrow's JSON reader (one call per batch);
only when that refuses them (a bad row, a key whose type changes between rows) are rows checked one by
one, to tell the bad ones from the good ones and to build columns of mixed types as text.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from logwarden.model.flatten import flatten_record, flatten_structs
from logwarden.model.json_table import has_timestamp, read_json_table, timestamps_as_strings
from logwarden.model.normalize import records_table
from logwarden.pipeline.base import BuildEnv, Processed, Processor
from logwarden.pipeline.parsers.common import (
    ExtractingParserConfig,
    Source,
    error_array,
    read_source,
    scatter,
    set_record_fields,
)

_READ = pj.ReadOptions(use_threads=False, block_size=1 << 22)
_NULL_TEXT = pa.scalar(None, pa.string())


class JsonConfig(ExtractingParserConfig):
    """Parse the JSON object in a field; nested objects become dotted fields (`http.status`).

    At the top level, keys that name core fields set them: `msg`/`message` the message, `level`/`lvl`/
    `severity` the level, `ts`/`timestamp`/`@timestamp`/`time` the time, `service`, `host`, `trace_id`…
    Text that is not a JSON object is an error for that line.
    """

    type: Literal["json"]

    def build(self, env: BuildEnv) -> Processor:
        return JsonParser(self)


class JsonParser(Processor):
    def __init__(self, config: JsonConfig) -> None:
        self.config = config

    def process(self, batch: pa.Table) -> Processed:
        source = read_source(batch, self.config.field)
        if not source.any:
            return Processed(batch, error_array(self.config, source, None, ""))
        records, parsed, reasons = parse_objects(source)
        if records is not None and records.num_columns:
            batch = set_record_fields(
                batch, records, parsed, target=self.config.target, overwrite=self.config.overwrite
            )
        return Processed(batch, error_array(self.config, source, parsed, reasons))


def parse_objects(source: Source) -> tuple[pa.Table | None, pa.Array, pa.Array]:
    """(records aligned with the rows, flattened; parsed mask; error reason per row) for a text column."""
    # Most lines start with "{"; only the others need the (allocating) whitespace trim.
    candidate = pc.fill_null(pc.starts_with(source.text, "{"), False)
    every = bool(pc.all(candidate).as_py())
    if not every:
        candidate = pc.fill_null(pc.starts_with(pc.utf8_ltrim_whitespace(source.text), "{"), False)
        every = bool(pc.all(candidate).as_py())
    if every:
        reasons = pa.nulls(len(candidate), pa.string())
        texts = source.text
    else:
        reasons = pc.if_else(candidate, _NULL_TEXT, pa.scalar("not a JSON object", pa.string()))
        if not pc.any(candidate).as_py():
            return None, candidate, reasons
        texts = pc.filter(source.text, candidate)
    if _has_line_breaks(texts):
        # A raw newline is whitespace between JSON tokens (pretty-printed objects); the reader is line-based.
        texts = pc.replace_substring(pc.replace_substring(texts, "\r", " "), "\n", " ")
    table = _read_lines(_joined_lines(texts), len(texts))
    if table is None:
        table, _, bad_reasons = _read_slowly(texts)
        reasons = pc.if_else(candidate, scatter(bad_reasons, candidate), reasons)
        parsed = pc.is_null(reasons)
        return _scatter_table(table, parsed), parsed, reasons
    return _scatter_table(table, candidate), candidate, reasons


def _has_line_breaks(texts: pa.Array) -> bool:
    """Whether any value holds CR or LF: one scan of the character buffer (may see bytes past a slice's
    end, which only costs the slower path)."""
    buffer = texts.buffers()[2]
    if buffer is None:
        return False
    data = buffer.to_pybytes()  # `in` on bytes is a memchr-speed scan (a regex is ~10x slower)
    return b"\n" in data or b"\r" in data


def _joined_lines(texts: pa.Array) -> bytes:
    """The texts as one NDJSON body, built by Arrow (each value + "\n") without Python strings per row."""
    joined = pc.binary_join_element_wise(texts, "", "\n")
    size = pc.sum(pc.binary_length(joined)).as_py() or 0
    # A freshly computed array starts at the beginning of its data buffer.
    return joined.buffers()[2].slice(0, size).to_pybytes() if size else b""


def _read_lines(body: bytes, rows: int) -> pa.Table | None:
    try:
        table = read_json_table(body, _READ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != rows:
        return None
    if any(has_timestamp(f.type) for f in table.schema):
        # The reader turns ISO-looking strings into timestamps; read those again as the text they were.
        schema = pa.schema([f.with_type(timestamps_as_strings(f.type)) for f in table.schema])
        options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
        try:
            table = read_json_table(body, _READ, options)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    return flatten_structs(table)


def _read_slowly(texts: pa.Array) -> tuple[pa.Table, pa.Array, pa.Array]:
    """(table of the good rows, good mask, error reason per row) by decoding each row with orjson."""
    records: list[dict[str, Any]] = []
    good: list[bool] = []
    reasons: list[str | None] = []
    for text in texts.to_pylist():
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            good.append(False)
            reasons.append(f"invalid JSON: {exc}")
            continue
        if not isinstance(value, dict):
            good.append(False)
            reasons.append("not a JSON object")
            continue
        records.append(flatten_record(value))
        good.append(True)
        reasons.append(None)
    return records_table(records), pa.array(good, pa.bool_()), pa.array(reasons, pa.string())


def _scatter_table(table: pa.Table, mask: pa.Array) -> pa.Table:
    n = len(mask)
    if table.num_rows == n:
        # Every row parsed: nothing to spread out.
        return table.select([f.name for f in table.schema if not pa.types.is_null(f.type)])
    columns = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        if pa.types.is_null(col.type):
            continue
        columns[name] = scatter(col, mask)
    return pa.table(columns) if columns else pa.table({"__empty": pa.nulls(n)}).drop_columns(["__empty"])


CONFIGS = (JsonConfig,)
