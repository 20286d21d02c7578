"""The Arrow schema every stage of logwarden speaks (see ARCHITECTURE.md, "Core log schema")."""

from __future__ import annotations

import pyarrow as pa

TS_TYPE = pa.timestamp("us", tz="UTC")

# Tenant names: 1-64 letters, digits, '_', '.', '-' (never '$', which separates partition table names).
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

LOG_SCHEMA = pa.schema(
    [
        pa.field("ts", TS_TYPE, nullable=False),
        pa.field("observed_ts", TS_TYPE, nullable=False),
        pa.field("tenant", pa.string(), nullable=False),
        pa.field("service", pa.string()),
        pa.field("host", pa.string()),
        pa.field("level", pa.string()),
        pa.field("severity", pa.int8()),
        pa.field("message", pa.string()),
        pa.field("trace_id", pa.string()),
        pa.field("span_id", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("log_id", pa.string(), nullable=False),
        # A JSON object text: every field that is not a core column, nested keys joined with dots.
        pa.field("attrs", pa.string()),
        pa.field("pattern_id", pa.string()),
    ]
)

CORE_COLUMNS: tuple[str, ...] = tuple(LOG_SCHEMA.names)

# What the store keeps besides the core schema: `seq`, a number that grows with arrival order, so lines
# that share `ts` come back in the order they were stored: (ingest-log batch seq << SEQ_ROW_BITS) + row
# index in the batch. Null for rows stored before the column existed (they sort first, then by log_id).
SEQ_COLUMN = "seq"
SEQ_ROW_BITS = 26
STORED_COLUMNS: tuple[str, ...] = (*CORE_COLUMNS, SEQ_COLUMN)

# DuckDB column types for the same schema; the store creates partition tables from this.
DUCKDB_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ts", "TIMESTAMPTZ NOT NULL"),
    ("observed_ts", "TIMESTAMPTZ NOT NULL"),
    ("tenant", "VARCHAR NOT NULL"),
    ("service", "VARCHAR"),
    ("host", "VARCHAR"),
    ("level", "VARCHAR"),
    ("severity", "TINYINT"),
    ("message", "VARCHAR"),
    ("trace_id", "VARCHAR"),
    ("span_id", "VARCHAR"),
    ("source", "VARCHAR NOT NULL"),
    ("log_id", "VARCHAR NOT NULL"),
    # VARCHAR, not JSON: the JSON type re-parses every value on insert (~20% of insert time); we build
    # the text ourselves and the json_* functions read VARCHAR all the same.
    ("attrs", "VARCHAR"),
    ("pattern_id", "VARCHAR"),
    (SEQ_COLUMN, "BIGINT"),
)

# Names a record may use for each core field, in priority order.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "timestamp", "@timestamp", "time"),
    "level": ("level", "severity", "lvl"),
    "message": ("msg", "message", "log"),
    "service": ("service", "app"),
    "host": ("host", "hostname", "node_id"),
    "trace_id": ("trace_id", "traceId"),
    "span_id": ("span_id", "spanId"),
    "log_id": ("log_id",),
}

ALIAS_TO_FIELD: dict[str, str] = {alias: field for field, names in FIELD_ALIASES.items() for alias in names}
