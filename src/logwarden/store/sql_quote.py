"""SQL text literals for the store's generated statements (file paths, table names, index keys)."""

from __future__ import annotations


def quote_literal(text: str) -> str:
    """`text` as a SQL string literal: single quotes doubled (DuckDB and PostgreSQL take no backslash escapes)."""
    return "'" + text.replace("'", "''") + "'"
