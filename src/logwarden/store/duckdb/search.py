"""SQL for the minimal search and count APIs over hot partitions and archived Parquet.

User input only ever reaches DuckDB as bound parameters; identifiers come from our own catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from logwarden.model.schema import CORE_COLUMNS
from logwarden.store.base import PartitionKey
from logwarden.store.duckdb.partitions import quote_ident, table_name

SELECT_COLUMNS = ", ".join(CORE_COLUMNS)
# Columns a count can group by directly; anything else is looked up in attrs.
GROUPABLE = frozenset({"service", "host", "level", "severity", "source", "trace_id", "span_id", "pattern_id"})
FILTERABLE = frozenset({"service", "host", "level", "source", "trace_id", "span_id"})


@dataclass(slots=True)
class SqlParts:
    """A FROM clause over the chosen partitions and a WHERE clause, with their parameters."""

    from_sql: str
    where_sql: str
    params: dict[str, Any] = field(default_factory=dict)


def source_sql(
    hot: list[PartitionKey], archive_files: list[str], params: dict[str, Any], extra: str | None = None
) -> str | None:
    selects = [f"SELECT {SELECT_COLUMNS} FROM {quote_ident(table_name(k))}" for k in hot]
    if extra:
        selects.append(extra)
    if archive_files:
        params["archive_files"] = archive_files
        selects.append(f"SELECT {SELECT_COLUMNS} FROM read_parquet($archive_files, union_by_name = true)")
    if not selects:
        return None
    return "(" + " UNION ALL ".join(selects) + ") AS logs"


def where_sql(
    start: Any, end: Any, terms: tuple[str, ...], equals: dict[str, tuple[str, ...]], params: dict[str, Any]
) -> str:
    params["start"] = start
    params["end"] = end
    clauses = ["ts >= $start", "ts < $end"]
    for i, term in enumerate(terms):
        params[f"t{i}"] = term.lower()
        clauses.append(f"contains(lower(message), $t{i})")
    for column, values in equals.items():
        if column not in FILTERABLE:
            raise ValueError(f"cannot filter on {column!r}")
        names = []
        for j, value in enumerate(values):
            params[f"{column}{j}"] = value
            names.append(f"${column}{j}")
        clauses.append(f"{column} IN ({', '.join(names)})")
    return " AND ".join(clauses)


def group_expr(name: str, i: int, params: dict[str, Any]) -> str:
    """SQL for one group-by field: a core column, or `attrs.<key>` / a bare attrs key."""
    if name in GROUPABLE:
        return name
    key = name[len("attrs.") :] if name.startswith("attrs.") else name
    if not key:
        raise ValueError(f"invalid field {name!r}")
    params[f"g{i}"] = key
    return f"json_extract_string(attrs, $g{i})"
