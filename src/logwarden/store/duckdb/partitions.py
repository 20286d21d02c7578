"""Day partitions of the hot store: one DuckDB table per (tenant, day)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.schema import DUCKDB_COLUMNS
from logwarden.store.base import PartitionKey

TABLE_PREFIX = "logs$"


def table_name(key: PartitionKey) -> str:
    """`logs$<tenant>$<YYYYMMDD>`; tenant names cannot contain '$', so this parses back."""
    return f"{TABLE_PREFIX}{key.tenant}${key.day:%Y%m%d}"


def parse_table_name(name: str) -> PartitionKey | None:
    if not name.startswith(TABLE_PREFIX):
        return None
    try:
        tenant, day = name[len(TABLE_PREFIX) :].rsplit("$", 1)
        return PartitionKey(tenant, datetime.strptime(day, "%Y%m%d").date())
    except ValueError:
        return None


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_table_sql(key: PartitionKey) -> str:
    cols = ", ".join(f"{name} {sql_type}" for name, sql_type in DUCKDB_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {quote_ident(table_name(key))} ({cols})"


def split_by_partition(batch: pa.Table) -> Iterator[tuple[PartitionKey, pa.Table]]:
    """Split a batch by tenant and UTC day of ts; vector ops once per distinct partition, not per row."""
    if batch.num_rows == 0:
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
