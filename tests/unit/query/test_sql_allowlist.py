"""The function allow-list (a reviewed list; everything else is refused) and the columns a statement reads."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from logwarden.model.schema import DUCKDB_COLUMNS
from logwarden.store.base import SqlError
from logwarden.store.duckdb.sql import parse_read_only, referenced_columns
from logwarden.store.duckdb.sql_functions import ALLOWED_FUNCTIONS, ALLOWED_TABLE_FUNCTIONS
from logwarden.store.duckdb.sql_functions_gen import allowed


@pytest.mark.parametrize(
    "sql",
    [
        # plans and SQL text: plan any table, leak row counts, min/max, table names, settings, files
        """SELECT json_serialize_plan('SELECT count(*) FROM "logs$beta${today}"', optimize := true)""",
        "SELECT json_serialize_plan('SELECT 1')",
        "SELECT json_serialize_sql('SELECT 1')",
        "SELECT json_deserialize_sql('{}')",
        "SELECT * FROM json_execute_serialized_sql('{}')",
        "SELECT * FROM query('SELECT 1')",
        "SELECT * FROM query_table('logs')",
        # settings, session, catalog, versions, planner statistics
        "SELECT current_setting('threads')",
        "SELECT current_database()",
        "SELECT current_query()",
        "SELECT version()",
        "SELECT stats(severity) FROM logs",
        "SELECT enum_range(NULL::VARCHAR)",
        "SELECT icu_sort_key('a', 'de')",
        "SELECT get_block_size('memory')",
        "SELECT sleep_ms(1000)",
        "SELECT setseed(0.5)",
        # table functions other than range/generate_series/unnest
        "SELECT * FROM duckdb_tables()",
        "SELECT * FROM duckdb_settings()",
        "SELECT * FROM json_each('[1]')",
        "SELECT * FROM repeat(1, 3)",
    ],
)
def test_functions_off_the_list_are_refused(sql: str) -> None:
    # {today}: another tenant's partition of the day the test runs, where its lines are.
    sql = sql.replace("{today}", f"{datetime.now(UTC):%Y%m%d}")
    with pytest.raises(SqlError, match=r"not allowed|cannot read from"):
        parse_read_only(sql)


def test_a_function_a_future_duckdb_adds_is_refused_by_default() -> None:
    # Not in the committed list, so refused whatever DuckDB would make of it.
    assert "lw_future_function" not in ALLOWED_FUNCTIONS
    with pytest.raises(SqlError, match=r"function lw_future_function\(\) is not allowed"):
        parse_read_only("SELECT lw_future_function(message) FROM logs")
    # Also a real DuckDB function that is deliberately off the list.
    con = duckdb.connect()
    assert con.execute("SELECT version()").fetchone() is not None
    with pytest.raises(SqlError, match=r"version\(\)"):
        parse_read_only("SELECT version()")


def test_the_committed_list_obeys_the_review_rules() -> None:
    assert all(allowed(name) for name in ALLOWED_FUNCTIONS)
    for name in ("json_serialize_plan", "json_execute_serialized_sql", "query", "query_table", "getenv", "glob"):
        assert name not in ALLOWED_FUNCTIONS
    assert not any(name.startswith(("read_", "duckdb_", "pragma_", "parquet_")) for name in ALLOWED_FUNCTIONS)
    assert frozenset({"range", "generate_series", "unnest"}) == ALLOWED_TABLE_FUNCTIONS


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FILTER (WHERE level = 'ERROR'), arg_max(level, ts), histogram(level) FROM logs",
        "SELECT level ILIKE 'x%', message SIMILAR TO 'a.*', extract(year FROM ts), [1, 2][1], {'a': 1}.a FROM logs",
        "SELECT lag(ts) OVER w, ntile(4) OVER w, cume_dist() OVER w FROM logs WINDOW w AS (ORDER BY ts)",
        "SELECT time_bucket(INTERVAL '5 minutes', ts), strftime(ts, '%H'), date_diff('second', ts, now()) FROM logs",
        "SELECT unnest(string_split(message, ' ')) AS w, count(*) FROM logs GROUP BY ALL",
        "SELECT message ->> '$.a', json_extract(attrs, '$.x'), regexp_replace(message, '[0-9]+', 'N', 'g') FROM logs",
        "SELECT len(range(10)), list_resize([1], 3), repeat('x', 3), 'a' || 'b', 2 ** 3, ~1, 1 << 2",
    ],
)
def test_everyday_functions_are_on_the_list(sql: str) -> None:
    parse_read_only(sql)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT count(*) FROM logs", ("ts",)),
        ("SELECT level, count(*) FROM logs WHERE message LIKE 'x%' GROUP BY 1", ("ts", "level", "message")),
        ("SELECT json_extract_string(l.attrs, '$.level') FROM logs AS l", ("ts", "attrs")),
        ("SELECT * FROM logs", None),
        ("SELECT l FROM logs AS l", None),
        ("SELECT COLUMNS('^l') FROM logs", None),
        ("SELECT #2 FROM logs", None),
        ("SELECT logs.* FROM logs", None),
    ],
)
def test_only_the_columns_a_statement_names_are_read(sql: str, expected: tuple[str, ...] | None) -> None:
    everything = tuple(name for name, _ in DUCKDB_COLUMNS)
    assert referenced_columns(parse_read_only(sql)) == (expected or everything)
