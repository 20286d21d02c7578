"""Day partitions of the hot store: one DuckDB table per (tenant, day)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.schema import DUCKDB_COLUMNS
from logwarden.model.tenants import is_tenant
from logwarden.store.base import PartitionKey
from logwarden.store.duckdb import log_ids

TABLE_PREFIX = "logs$"


# The attribute the `route` processor sets; class names are validated by the config.
RETENTION_CLASS_RE = r'"retention_class":"(?P<c>[a-z0-9_]{1,32})"'


# DuckDB identifiers are case-insensitive, so tenants `gamma` and `Gamma` need different table names:
# an upper-case letter is written as '^' + the letter in lower case ('^' is outside the tenant alphabet).
_UPPER = re.compile(r"[A-Z]")
_ESCAPED = re.compile(r"\^([a-z])")
_ENCODED_TENANT = re.compile(r"^(?:[a-z0-9_.-]|\^[a-z])+$")


def encode_tenant(tenant: str) -> str:
    """The tenant as it appears in table names: injective even when compared case-insensitively."""
    return _UPPER.sub(lambda m: "^" + m.group().lower(), tenant)


def decode_tenant(encoded: str) -> str | None:
    """The tenant an encoded name stands for, or None when it is not one `encode_tenant` makes."""
    if not _ENCODED_TENANT.match(encoded):
        return None
    tenant = _ESCAPED.sub(lambda m: m.group(1).upper(), encoded)
    return tenant if is_tenant(tenant) else None


def table_name(key: PartitionKey) -> str:
    """`logs$<encoded tenant>$<YYYYMMDD>[$<class>]`; tenant and class names cannot contain '$', so this parses
    back."""
    suffix = f"${key.retention_class}" if key.retention_class else ""
    return f"{TABLE_PREFIX}{encode_tenant(key.tenant)}${key.day:%Y%m%d}{suffix}"


def split_table_name(name: str) -> tuple[str, date, str] | None:
    """(tenant part as written, day, retention class) of a partition table name, old style or new."""
    if not name.startswith(TABLE_PREFIX):
        return None
    parts = name[len(TABLE_PREFIX) :].split("$")
    if len(parts) not in (2, 3):
        return None
    try:
        day = datetime.strptime(parts[1], "%Y%m%d").date()
    except ValueError:
        return None
    return parts[0], day, parts[2] if len(parts) == 3 else ""


def parse_table_name(name: str) -> PartitionKey | None:
    """The partition a table holds; None for other tables and for old-style names (upper case in them)."""
    split = split_table_name(name)
    if split is None:
        return None
    tenant = decode_tenant(split[0])
    return None if tenant is None else PartitionKey(tenant, split[1], split[2])


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Columns of day partitions whose text compresses best with zstd (measured on bench/query_data.py lines: 41%
# fewer bytes than DuckDB's dictionary/FSST for messages, 51% for log ids; zstd is larger for random hex ids and
# for the short, repetitive attrs text, so the other columns keep DuckDB's automatic choice). `log_id` is
# stored so only in tables made before log ids were split (log_ids.py: a generated column since).
ZSTD_COLUMNS = ("message", "log_id")


def create_table_sql(key: PartitionKey) -> str:
    """The CREATE TABLE of a day partition: the core columns, ZSTD_COLUMNS compressed with zstd from the first
    checkpoint on (not only once compaction copies the table), log_id split (log_ids.py)."""
    cols = ", ".join(
        log_ids.COLUMNS_DDL if name == "log_id" else f"{name} {_with_compression(name, sql_type)}"
        for name, sql_type in DUCKDB_COLUMNS
    )
    return f"CREATE TABLE IF NOT EXISTS {quote_ident(table_name(key))} ({cols})"


def _with_compression(name: str, sql_type: str) -> str:
    if name not in ZSTD_COLUMNS:
        return sql_type
    # Before NOT NULL, as DuckDB writes it back (compact._zstd_ddl then leaves the statement alone).
    base, _, constraint = sql_type.partition(" ")
    return f"{base} USING COMPRESSION zstd {constraint}".rstrip()


def split_by_partition(
    batch: pa.Table, classes: frozenset[str] = frozenset()
) -> Iterator[tuple[PartitionKey, pa.Table]]:
    """Split a batch by tenant, UTC day of ts and, for rows routed to one of `classes`, retention class;
    vector ops once per distinct partition, not per row."""
    if batch.num_rows == 0:
        return
    if classes:
        attrs = batch.column("attrs")
        if pc.any(pc.match_substring(attrs, '"retention_class":')).as_py():
            found = pc.struct_field(pc.extract_regex(attrs, RETENTION_CLASS_RE), [0])
            known = pc.fill_null(pc.if_else(pc.is_in(found, pa.array(sorted(classes))), found, ""), "")
            for klass in pc.unique(known).to_pylist():
                part = batch.filter(pc.equal(known, klass))
                for key, rows in split_by_partition(part):
                    yield PartitionKey(key.tenant, key.day, klass), rows
            return
    tenants = batch.column("tenant")
    if pc.count_distinct(tenants).as_py() > 1:
        for tenant in pc.unique(tenants).to_pylist():
            yield from split_by_partition(batch.filter(pc.equal(tenants, tenant)))
        return
    tenant = tenants[0].as_py()
    days = pc.cast(batch.column("ts"), pa.date32())
    lo, hi = pc.min_max(days).values()
    if lo == hi:
        yield PartitionKey(tenant, lo.as_py()), batch
        return
    for day in pc.unique(days).to_pylist():
        yield PartitionKey(tenant, day), batch.filter(pc.equal(days, pa.scalar(day, pa.date32())))


def overlapping(keys: list[PartitionKey], tenant: str, start: datetime, end: datetime) -> list[PartitionKey]:
    """Partitions of `tenant` whose day overlaps [start, end), newest first."""
    first, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    return sorted((k for k in keys if k.tenant == tenant and first <= k.day <= last), key=lambda k: k.day, reverse=True)
