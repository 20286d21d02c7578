"""Turn one batch of Kafka messages into a record table (and dead letters), column at a time.

JSON messages are joined with newlines and decoded as one NDJSON body by `decode_json_body`; raw
messages become a message column. Kafka metadata (topic, partition, offset, key, headers) is added as
`kafka.*` columns, so it lands in attrs, and the message timestamp stands in for a missing event time.
Only a batch that holds a bad line is looked at line by line, to know which message each good line
came from.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.ingest.json_depth import DEFAULT_MAX_JSON_DEPTH
from logwarden.ingest.ndjson import DecodedBody, decode_json_body, parse_object_line
from logwarden.model.flatten import flatten_structs
from logwarden.model.schema import FIELD_ALIASES

log = logging.getLogger(__name__)

# How much of an oversized message the dead letter keeps (the whole message stays in Kafka).
DEAD_LETTER_PREFIX_BYTES = 16 * 1024
_BLANK_LINE = r"^\s*$"


@dataclass(slots=True)
class FetchedBatch:
    """Messages of one consume call as columns (filled in the consumer thread, one append per field)."""

    values: list[bytes | None] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    timestamps: list[int | None] = field(default_factory=list)  # ms since the epoch
    headers: list[list[tuple[str, bytes | None]] | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def value_bytes(self) -> int:
        return sum(len(v) for v in self.values if v is not None)

    def take(self, indices: list[int]) -> FetchedBatch:
        """The messages at `indices`, in that order."""
        return FetchedBatch(
            [self.values[i] for i in indices],
            [self.topics[i] for i in indices],
            [self.partitions[i] for i in indices],
            [self.offsets[i] for i in indices],
            [self.keys[i] for i in indices],
            [self.timestamps[i] for i in indices],
            [self.headers[i] for i in indices],
        )

    def where(self, i: int) -> str:
        """Where message `i` sits in Kafka, for dead-letter reasons."""
        return f"kafka {self.topics[i]}[{self.partitions[i]}]@{self.offsets[i]}"


def decode_messages(
    batch: FetchedBatch,
    fmt: str,
    *,
    metadata: bool,
    max_message_bytes: int,
    max_depth: int = DEFAULT_MAX_JSON_DEPTH,
) -> DecodedBody:
    """Records of every line of `batch` (fmt `json` or `raw`) and the dead letters of the bad ones."""
    rejected: list[tuple[str, str]] = []
    keep: list[int] = []
    for i, value in enumerate(batch.values):
        if value is None:
            continue  # a tombstone (deletion marker of a compacted topic) carries no log line
        if len(value) > max_message_bytes:
            text = value[:DEAD_LETTER_PREFIX_BYTES].decode("utf-8", "replace")
            rejected.append((text, f"message of {len(value)} bytes exceeds ingest.max_line_bytes ({batch.where(i)})"))
            continue
        keep.append(i)
    if not keep:
        return DecodedBody(None, rejected)
    if len(keep) < len(batch):
        batch = batch.take(keep)
    if fmt == "raw":
        decoded, line_msg = _decode_raw(batch)
    else:
        decoded, line_msg = _decode_json(batch, max_depth)
    decoded.rejected[:0] = rejected
    if decoded.records is not None and line_msg is not None:
        decoded.records = _with_kafka_columns(decoded.records, batch, line_msg, metadata=metadata)
    return decoded


def _decode_raw(batch: FetchedBatch) -> tuple[DecodedBody, pa.Array | None]:
    values = pa.array(batch.values, pa.binary())
    try:
        text = values.cast(pa.string())
        rejected: list[tuple[str, str]] = []
        positions = pa.array(range(len(batch)), pa.int32())
    except pa.ArrowInvalid:
        # Some message is not UTF-8: sort the messages one by one (only in such a batch).
        good: list[str] = []
        good_positions: list[int] = []
        rejected = []
        for i, value in enumerate(batch.values):
            assert value is not None
            try:
                good.append(value.decode("utf-8"))
                good_positions.append(i)
            except UnicodeDecodeError:
                rejected.append((value.decode("utf-8", "replace"), f"message is not valid UTF-8 ({batch.where(i)})"))
        text = pa.array(good, pa.string())
        positions = pa.array(good_positions, pa.int32())
    # The line terminator a producer may have left on is not part of the message.
    text = pc.utf8_rtrim(text, characters="\r\n")
    non_empty = pc.greater(pc.utf8_length(text), 0)
    if not pc.all(non_empty).as_py():
        text = text.filter(non_empty)
        positions = positions.filter(non_empty)
    if len(text) == 0:
        return DecodedBody(None, rejected), None
    return DecodedBody(pa.table({"message": text}), rejected), positions


def _decode_json(batch: FetchedBatch, max_depth: int) -> tuple[DecodedBody, pa.Array | None]:
    values = pa.array(batch.values, pa.binary())
    line_msg = _non_blank_line_positions(values)
    body = b"\n".join(v for v in batch.values if v is not None)
    # A body that starts with '[' would be read as one JSON array; message arrays are not log records.
    if not body.lstrip().startswith(b"["):
        decoded = decode_json_body(body, max_depth)
        rows = decoded.records.num_rows if decoded.records is not None else 0
        if not decoded.rejected and rows == len(line_msg):
            return decoded, line_msg if rows else None
    return _decode_json_line_by_line(batch, max_depth)


def _non_blank_line_positions(values: pa.Array) -> pa.Array:
    """For every non-blank line of the messages, the position of its message (int32)."""
    if not pc.any(pc.match_substring(values, "\n")).as_py():
        blank = pc.match_substring_regex(values, _BLANK_LINE)
        return pc.indices_nonzero(pc.invert(blank)).cast(pa.int32())
    lines = pc.split_pattern(values, "\n")
    parents = pc.list_parent_indices(lines)
    blank = pc.match_substring_regex(pc.list_flatten(lines), _BLANK_LINE)
    return parents.filter(pc.invert(blank)).cast(pa.int32())


def _decode_json_line_by_line(batch: FetchedBatch, max_depth: int) -> tuple[DecodedBody, pa.Array | None]:
    """The slow path for a batch with a bad line: the same checks as the NDJSON decoder, line by line."""
    good: list[bytes] = []
    positions: list[int] = []
    rejected: list[tuple[str, str]] = []
    for i, value in enumerate(batch.values):
        assert value is not None
        for raw in value.split(b"\n"):
            line = raw.strip()
            if not line:
                continue
            parsed, reason = parse_object_line(line, "message", max_depth)
            if parsed is None:
                rejected.append((line.decode("utf-8", "replace"), f"{reason} ({batch.where(i)})"))
                continue
            good.append(line)
            positions.append(i)
    if not good:
        return DecodedBody(None, rejected), None
    decoded = decode_json_body(b"\n".join(good), max_depth)
    decoded.rejected.extend(rejected)
    rows = decoded.records.num_rows if decoded.records is not None else 0
    if rows != len(positions):
        # Cannot happen with the checks above; keep the lines rather than guess their origin.
        log.warning("kafka batch: %d lines decoded to %d records; metadata left out", len(positions), rows)
        return decoded, None
    return decoded, pa.array(positions, pa.int32())


def _with_kafka_columns(records: pa.Table, batch: FetchedBatch, line_msg: pa.Array, *, metadata: bool) -> pa.Table:
    """Append `kafka.*` columns and the message timestamp, row i taken from message line_msg[i]."""
    timestamps = pa.array(batch.timestamps, pa.timestamp("ms", tz="UTC")).take(line_msg)
    if timestamps.null_count < len(timestamps):
        records = _with_fallback_ts(records, timestamps)
    if not metadata:
        return records
    columns: dict[str, pa.Array] = {
        "kafka.topic": pa.array(batch.topics, pa.string()).take(line_msg),
        "kafka.partition": pa.array(batch.partitions, pa.int32()).take(line_msg),
        "kafka.offset": pa.array(batch.offsets, pa.int64()).take(line_msg),
    }
    if any(k is not None for k in batch.keys):
        keys = [k.decode("utf-8", "replace") if k is not None else None for k in batch.keys]
        columns["kafka.key"] = pa.array(keys, pa.string()).take(line_msg)
    if any(batch.headers):
        by_name: dict[str, list[str | None]] = {}
        for i, headers in enumerate(batch.headers):
            for name, value in headers or ():
                column = by_name.setdefault(f"kafka.header.{name}", [None] * len(batch))
                column[i] = value.decode("utf-8", "replace") if value is not None else None
        for name, column in by_name.items():
            columns[name] = pa.array(column, pa.string()).take(line_msg)
    if any(name.startswith("kafka") for name in records.column_names):
        records = flatten_structs(records)  # a record's own `kafka: {...}` object becomes kafka.* columns
    names = records.column_names
    for name, column in columns.items():
        if name not in names:
            records = records.append_column(name, column)
            continue
        # A record's own field of that name wins where it is set; ours fills the other rows.
        own = records.column(name).combine_chunks()
        try:
            merged = pc.coalesce(own, column.cast(own.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        records = records.set_column(names.index(name), name, merged)
    return records


def _with_fallback_ts(records: pa.Table, timestamps: pa.Array) -> pa.Table:
    """Use the Kafka timestamp as event time for the rows that carry none, under the lowest-priority
    free ts alias, so a record's own time always wins."""
    present = [name for name in FIELD_ALIASES["ts"] if name in records.column_names]
    free = [name for name in FIELD_ALIASES["ts"] if name not in records.column_names]
    if not free:
        return records
    if present:
        none_given = functools.reduce(pc.and_, [pc.is_null(records.column(name)) for name in present])
        timestamps = pc.if_else(none_given, timestamps, pa.scalar(None, timestamps.type))
    return records.append_column(free[-1], timestamps)
