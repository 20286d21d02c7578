"""The FROM side of every read: one UNION ALL over a tenant's hot partitions, archive files and
in-memory batches. WHERE clauses come from the query planner (logwarden.query.planner).

Identifiers come from our own catalog; archive paths and the tenant are bound parameters. Every branch
filters on `tenant = $tenant` itself, so a mistake in naming or listing partitions can never show
another tenant's rows (a partition holds one tenant, so zone maps make the test nearly free).
"""

from __future__ import annotations

from typing import Any

from logwarden.model.schema import SEQ_COLUMN, STORED_COLUMNS
from logwarden.store.base import PartitionKey
from logwarden.store.duckdb.partitions import quote_ident, table_name

SELECT_COLUMNS = ", ".join(STORED_COLUMNS)
_TENANT = "tenant = $tenant"


def source_sql(
    tenant: str,
    hot: list[PartitionKey],
    archive_files: list[str],
    params: dict[str, Any],
    extra: str | None = None,
    row_filters: dict[str, str] | None = None,
    file_filters: dict[str, str] | None = None,
) -> str | None:
    """`(SELECT … UNION ALL …) AS logs` over the given sources of `tenant`, or None when there are none.

    `extra` is one more SELECT of SELECT_COLUMNS (it must filter on `$tenant` too). `row_filters` (table
    name → predicate, from the token index) narrow a hot table's branch: rowid belongs to each table, so
    the predicate goes inside its own SELECT. `file_filters` (archive path → predicate on `file_row_number`)
    do the same for archive files, each of which is then read on its own.
    """
    filters = row_filters or {}
    selects = []
    for key in hot:
        name = table_name(key)
        where = f" AND {filters[name]}" if name in filters else ""
        selects.append(f"SELECT {SELECT_COLUMNS} FROM {quote_ident(name)} WHERE {_TENANT}{where}")
    if extra:
        selects.append(extra)
    narrowed = file_filters or {}
    whole = [path for path in archive_files if path not in narrowed]
    if whole:
        params["archive_files"] = whole
        selects.append(f"SELECT {SELECT_COLUMNS} FROM {_parquet('$archive_files', '')} WHERE {_TENANT}")
    for i, path in enumerate(p for p in archive_files if p in narrowed):
        params[f"archive_file{i}"] = path
        files = _parquet(f"$archive_file{i}", f", file_row_number = true) WHERE {narrowed[path]}")
        selects.append(f"SELECT {SELECT_COLUMNS} FROM {files} WHERE {_TENANT}")
    if not selects:
        return None
    params["tenant"] = tenant
    return "(" + " UNION ALL ".join(selects) + ") AS logs"


def _parquet(files: str, rest: str) -> str:
    """Rows of the archive `files` (`rest` closes the read_parquet call, with its options and a WHERE)."""
    # Files written before the seq column existed lack it: BY NAME with a typed empty row adds it as null.
    # No hive partitioning: `tenant` must be the rows' own column, never the `tenant=` of the path.
    read = f"read_parquet({files}, union_by_name = true, hive_partitioning = false"
    return (
        f"(SELECT * FROM {read}{rest or ')'} UNION ALL BY NAME SELECT CAST(NULL AS BIGINT) AS {SEQ_COLUMN} WHERE false)"
    )
