"""Reads bind their statement once through DuckDB's private `_seam.submit`, and fall back to the public relation
path, for good, when another DuckDB gives that call another shape."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from logwarden.store.duckdb import arrow_read

SQL = "SELECT x, x * 2 AS y FROM range(5) t(x) WHERE x >= $lo ORDER BY x"


def test_the_answer_is_the_relations_answer() -> None:
    with duckdb.connect() as con:
        want = con.sql(SQL, params={"lo": 2}).to_arrow_table()
        assert arrow_read.fetch_arrow(con.cursor(), SQL, {"lo": 2}) == want


def test_a_changed_private_call_falls_back_to_the_relation_for_good(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    def changed(*args: Any) -> Any:
        calls.append(args)
        raise TypeError("submit() takes 3 positional arguments but 4 were given")

    monkeypatch.setattr(arrow_read, "_SUBMIT", [changed])
    with duckdb.connect() as con:
        want = con.sql(SQL, params={"lo": 1}).to_arrow_table()
        assert arrow_read.fetch_arrow(con.cursor(), SQL, {"lo": 1}) == want
        assert arrow_read.fetch_arrow(con.cursor(), SQL, {"lo": 1}) == want
    assert len(calls) == 1 and arrow_read._SUBMIT == []
