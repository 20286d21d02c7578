"""Settings every DuckDB database logwarden opens shares."""

from __future__ import annotations

# The extensions logwarden uses (core functions, ICU, JSON, Parquet) are linked into the duckdb wheel, yet DuckDB
# tries to download one it autoloads while replaying a WAL (after a crash: `printf` of the generated `log_id`
# column, bound again by an ALTER TABLE in the WAL), which fails offline and stopped the start. Loading what is
# linked in needs no download, and a server never downloads code.
OFFLINE: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": True,
}
