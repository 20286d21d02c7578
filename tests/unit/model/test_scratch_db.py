"""Unit tests for logwarden.model.scratch_db: private in-memory DuckDB connections and their limits."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from logwarden.model.scratch_db import scratch_connection, thread_scratch_connection


def setting(con: duckdb.DuckDBPyConnection, name: str) -> object:
    row = con.execute("SELECT current_setting($name)", {"name": name}).fetchone()
    assert row is not None
    return row[0]


def test_limits_and_time_zone() -> None:
    con = scratch_connection(threads=2, memory_limit="64MB")
    assert setting(con, "threads") == 2
    assert setting(con, "memory_limit") == "61.0 MiB"  # DuckDB shows 64 MB in MiB
    assert setting(con, "TimeZone") == "UTC"
    assert setting(con, "temp_directory") == ""


def test_no_file_access(tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    con = scratch_connection()
    with pytest.raises(duckdb.PermissionException):
        con.execute("SELECT * FROM read_csv($p)", {"p": str(secret)})
    with pytest.raises(duckdb.PermissionException):
        con.execute("COPY (SELECT 1) TO $p", {"p": str(tmp_path / "out.csv")})
    assert not (tmp_path / "out.csv").exists()
    with pytest.raises(duckdb.Error):
        con.execute("SET enable_external_access = true")


def test_memory_limit_fails_the_query_instead_of_spilling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # where DuckDB would put its default `.tmp` spill directory
    con = scratch_connection(memory_limit="16MB")
    with pytest.raises(duckdb.OutOfMemoryException):
        con.execute(
            "SELECT count(*) FROM (SELECT range::VARCHAR || repeat('x', 200) AS s FROM range(500000) ORDER BY s)"
        )
    assert list(tmp_path.iterdir()) == []


def test_one_connection_per_thread() -> None:
    here = thread_scratch_connection()
    assert thread_scratch_connection() is here
    other: list[duckdb.DuckDBPyConnection] = []
    thread = threading.Thread(target=lambda: other.append(thread_scratch_connection()))
    thread.start()
    thread.join()
    assert other and other[0] is not here
    assert setting(other[0], "threads") == 1
