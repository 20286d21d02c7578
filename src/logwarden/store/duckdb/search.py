"""The FROM side of every read: one UNION ALL over a tenant's hot partitions, archive files and
in-memory batches. WHERE clauses come from the query planner (logwarden.query.planner).

Identifiers come from our own catalog; archive paths and the tenant are bound parameters. Every branch
filters on `tenant = $tenant` itself, so a mistake in naming or listing partitions can never show
another tenant's rows (a partition holds one tenant, so zone maps make the test nearly free).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from logwarden.model.schema import SEQ_COLUMN, STORED_COLUMNS
from logwarden.store.base import PartitionKey
from logwarden.store.duckdb.partitions import quote_ident, table_name
from logwarden.store.duckdb.typed import SourceColumns

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
    columns: SourceColumns | None = None,
    relations: Mapping[str, str] | None = None,
) -> str | None:
    """`(SELECT … UNION ALL …) AS logs` over the given sources of `tenant`, or None when there are none.

    `extra` is one more SELECT of SELECT_COLUMNS (it must filter on `$tenant` too). `row_filters` (table
    name → predicate: the token index's rowid ranges, tests of typed columns from attr_ranges.py) narrow a hot
    table's branch: rowid and typed columns belong to each table, so the predicate goes inside its own SELECT.
    `file_filters` (archive path → predicate on `file_row_number`)
    do the same for archive files, each of which is then read on its own. `columns` adds the attribute
    columns a query reads to every branch (typed.py: from a table's or file's typed column when it has one);
    archive files read together are grouped by how they supply them. `relations` (archive path → a relation
    registered on the cursor) names files read through Arrow instead of `read_parquet` (encrypted ones,
    store/archive.py): each is read on its own and whole.
    """
    filters = row_filters or {}
    selects = []
    for key in hot:
        name = table_name(key)
        where = f" AND {filters[name]}" if name in filters else ""
        added = columns.hot(name) if columns else ""
        selects.append(f"SELECT {SELECT_COLUMNS}{added} FROM {quote_ident(name)} WHERE {_TENANT}{where}")
    if extra:
        selects.append(extra)
    own = relations or {}
    for path in archive_files:
        if path in own:
            added = columns.archive(path) if columns else ""
            rows = (
                f"(SELECT * FROM {own[path]} UNION ALL BY NAME SELECT CAST(NULL AS BIGINT) AS {SEQ_COLUMN} WHERE false)"
            )
            selects.append(f"SELECT {SELECT_COLUMNS}{added} FROM {rows} WHERE {_TENANT}")
    archive_files = [path for path in archive_files if path not in own]
    narrowed = file_filters or {}
    groups: dict[str, list[str]] = {}
    for path in archive_files:
        if path not in narrowed:
            groups.setdefault(columns.archive(path) if columns else "", []).append(path)
    for g, (added, whole) in enumerate(groups.items()):
        name = "archive_files" if g == 0 else f"archive_files{g}"
        params[name] = whole
        selects.append(f"SELECT {SELECT_COLUMNS}{added} FROM {_parquet('$' + name, '')} WHERE {_TENANT}")
    for i, path in enumerate(p for p in archive_files if p in narrowed):
        params[f"archive_file{i}"] = path
        files = _parquet(f"$archive_file{i}", f", file_row_number = true) WHERE {narrowed[path]}")
        added = columns.archive(path) if columns else ""
        selects.append(f"SELECT {SELECT_COLUMNS}{added} FROM {files} WHERE {_TENANT}")
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
