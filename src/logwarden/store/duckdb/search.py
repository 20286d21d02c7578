"""The FROM side of every read: one UNION ALL over a tenant's hot partitions, archive files and
in-memory batches. WHERE clauses come from the query planner (logwarden.query.planner).

Identifiers come from our own catalog; archive paths and the tenant are bound parameters.
"""

from __future__ import annotations

from typing import Any

from logwarden.model.schema import CORE_COLUMNS
from logwarden.store.base import PartitionKey
from logwarden.store.duckdb.partitions import quote_ident, table_name

SELECT_COLUMNS = ", ".join(CORE_COLUMNS)


def source_sql(
    hot: list[PartitionKey],
    archive_files: list[str],
    params: dict[str, Any],
    extra: str | None = None,
    row_filters: dict[str, str] | None = None,
) -> str | None:
    """`(SELECT … UNION ALL …) AS logs` over the given sources, or None when there are none.

    `row_filters` (table name → predicate, from the token index) narrow a hot table's branch: rowid
    belongs to each table, so the predicate goes inside its own SELECT.
    """
    filters = row_filters or {}
    selects = []
    for key in hot:
        name = table_name(key)
        where = f" WHERE {filters[name]}" if name in filters else ""
        selects.append(f"SELECT {SELECT_COLUMNS} FROM {quote_ident(name)}{where}")
    if extra:
        selects.append(extra)
    if archive_files:
        params["archive_files"] = archive_files
        selects.append(f"SELECT {SELECT_COLUMNS} FROM read_parquet($archive_files, union_by_name = true)")
    if not selects:
        return None
    return "(" + " UNION ALL ".join(selects) + ") AS logs"
