"""The embedded hot store on DuckDB."""

from logwarden.store.duckdb.store import DuckDBStore

__all__ = ["DuckDBStore"]
