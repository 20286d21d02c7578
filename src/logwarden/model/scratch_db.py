"""Private in-memory DuckDB connections for computations that have a SQL form but no vector one
(timestamp formats, RE2 regex checks, SQL parsing, row filters): one place that sets their limits.

A scratch connection holds no user data beyond the call that uses it, so it is bounded hard: one
worker thread (callers already run in parallel), a memory limit, no spilling to disk, no file or
network access, no extension downloads. Time zone UTC, so timestamp arithmetic never depends on the host.

Thread safety: a DuckDB connection must not be used by two threads at once. Either call
`thread_scratch_connection()` (one connection per thread, created on first use and kept), or create one
with `scratch_connection()` and give each thread its own `.cursor()` of it (cursors share the database
and its limits; creating a cursor is not thread-safe, so guard that with a lock).
"""

from __future__ import annotations

import threading

import duckdb

DEFAULT_MEMORY_LIMIT = "256MB"

_local = threading.local()


def scratch_connection(*, threads: int = 1, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection with the scratch limits (see the module docstring)."""
    con = duckdb.connect(
        ":memory:",
        config={"threads": threads, "memory_limit": memory_limit, "autoinstall_known_extensions": False},
    )
    con.execute("SET TimeZone = 'UTC'")
    # Past the limit a query fails rather than writing temporary files into the working directory.
    con.execute("SET temp_directory = ''")
    # Last: it also locks settings such as temp_directory.
    con.execute("SET enable_external_access = false")
    return con


def thread_scratch_connection() -> duckdb.DuckDBPyConnection:
    """This thread's scratch connection (default limits), created on first use.

    Shared by every caller on the thread: register a relation under a name of your own and unregister
    it before returning.
    """
    con: duckdb.DuckDBPyConnection | None = getattr(_local, "con", None)
    if con is None:
        con = _local.con = scratch_connection()
    return con
