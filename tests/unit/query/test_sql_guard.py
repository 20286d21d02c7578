"""The read-only SQL guard: what is accepted, what is refused (with where), and how `logs` is bound."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logwarden.store.base import SqlError
from logwarden.store.duckdb.sql import bind_logs, logs_source, parse_read_only, reads_of

ACCEPTED = [
    "SELECT count(*) FROM logs",
    "FROM logs",
    "select level, count(*) AS n from logs group by level order by n desc limit 5",
    "SELECT * FROM logs AS l WHERE l.level = 'ERROR'",
    "SELECT json_extract_string(attrs, '$.user_id') AS u FROM logs",
    "WITH e AS (SELECT * FROM logs WHERE level = 'ERROR') SELECT service, count(*) FROM e GROUP BY 1",
    "WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT * FROM b",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT * FROM t",
    "SELECT service FROM logs UNION SELECT host FROM logs",
    "SELECT * FROM logs WHERE service IN (SELECT service FROM logs WHERE level = 'FATAL')",
    "SELECT * FROM logs a JOIN logs b USING (trace_id)",
    "SELECT date_trunc('minute', ts) AS m, count(*) FROM logs GROUP BY ALL ORDER BY m",
    "SELECT quantile_cont(severity, 0.95), approx_count_distinct(host) FROM logs",
    "SELECT row_number() OVER (PARTITION BY service ORDER BY ts) FROM logs",
    "SELECT regexp_matches(message, 'time(out|d out)') FROM logs",
    "SELECT list_transform([1, 2], x -> x + 1)",
    "SELECT * FROM range(10)",
    "SELECT * FROM unnest([1, 2, 3])",
    "SELECT * FROM (VALUES (1, 'a')) AS v(n, s)",
    "SELECT 1",
    "SELECT * FROM logs PIVOT (count(*) FOR level IN ('ERROR', 'INFO'))",
    "SELECT now(), current_date",
]

REFUSED = [
    # statements other than SELECT
    ("DROP TABLE logs", "only SELECT"),
    ("DELETE FROM logs", "only SELECT"),
    ("INSERT INTO logs VALUES (1)", "only SELECT"),
    ("UPDATE logs SET message = 'x'", "only SELECT"),
    ("CREATE TABLE x AS SELECT * FROM logs", "only SELECT"),
    ("CREATE VIEW v AS SELECT 1", "only SELECT"),
    ("ALTER TABLE logs ADD COLUMN x INT", "only SELECT"),
    ("PRAGMA version", "only SELECT"),
    ("PRAGMA enable_profiling", "only SELECT"),
    ("SET threads = 1", "only SELECT"),
    ("RESET threads", None),
    ("ATTACH 'other.duckdb' AS o", "only SELECT"),
    ("DETACH o", None),
    ("COPY logs TO '/tmp/out.csv'", "only SELECT"),
    ("COPY (SELECT * FROM logs) TO '/tmp/out.parquet'", "only SELECT"),
    ("EXPORT DATABASE '/tmp/x'", None),
    ("IMPORT DATABASE '/tmp/x'", None),
    ("CALL pragma_version()", None),
    ("INSTALL httpfs", None),
    ("LOAD httpfs", None),
    ("CHECKPOINT", None),
    ("VACUUM", None),
    ("DESCRIBE logs", None),
    ("SHOW TABLES", None),
    ("SUMMARIZE logs", None),
    ("EXPLAIN SELECT 1", None),
    ("SELECT 1; SELECT 2", "exactly one"),
    ("SELECT 1; DROP TABLE logs", None),
    ("BEGIN TRANSACTION", None),
    ("USE other", None),
    # other tables and catalogs
    ("SELECT * FROM other", "unknown table"),
    ('SELECT * FROM "logs$other$20260101"', "unknown table"),
    ("SELECT * FROM _archive_files", "unknown table"),
    ("SELECT * FROM _unapplied", "unknown table"),
    ("SELECT * FROM main.logs", "unknown table"),
    ("SELECT * FROM hot.main.logs", "unknown table"),
    ("SELECT * FROM information_schema.tables", "unknown table"),
    ("SELECT * FROM pg_catalog.pg_class", "unknown table"),
    ("SELECT * FROM sqlite_master", "unknown table"),
    ("SELECT * FROM logs WHERE log_id IN (SELECT path FROM _archive_files)", "unknown table"),
    ("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a", "unknown table"),
    ("SELECT * FROM (SELECT * FROM x) AS logs", "unknown table"),
    # files, URLs and table functions
    ("SELECT * FROM 'data.parquet'", "unknown table"),
    ("SELECT * FROM '/etc/passwd'", "unknown table"),
    ("SELECT * FROM 'https://example.com/x.csv'", "unknown table"),
    ('SELECT * FROM "x.csv"', "unknown table"),
    ("SELECT * FROM read_csv('/etc/passwd')", "cannot read from read_csv"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", None),
    ("SELECT * FROM read_parquet('x/*.parquet')", None),
    ("SELECT * FROM read_json('x')", None),
    ("SELECT * FROM read_text('/etc/passwd')", None),
    ("SELECT * FROM read_blob('/etc/passwd')", None),
    ("SELECT * FROM parquet_scan('x')", None),
    ("SELECT * FROM parquet_metadata('x')", None),
    ("SELECT * FROM glob('*')", None),
    ("SELECT * FROM duckdb_tables()", "cannot read from duckdb_tables"),
    ("SELECT * FROM duckdb_settings()", None),
    ("SELECT * FROM pragma_table_info('logs')", None),
    ("SELECT * FROM query('SELECT * FROM _archive_files')", None),
    ("SELECT * FROM query_table('_archive_files')", None),
    ("SELECT * FROM sniff_csv('x')", None),
    ("SELECT * FROM logs, LATERAL read_csv('x')", None),
    ("SELECT * FROM json_execute_serialized_sql('x')", None),
    # scalar functions that read the environment, settings or files, or change state
    ("SELECT getenv('HOME')", "getenv"),
    ("SELECT current_setting('home_directory')", "current_setting"),
    ("SELECT nextval('s')", "nextval"),
    ("SELECT setval('s', 1)", None),
    ("SELECT write_log('x')", None),
    ("SELECT json_execute_serialized_sql('x')", None),
    ("SELECT query('x')", None),
    ("SELECT pg_sleep(10)", None),
    ("SELECT main.lower('x')", None),
    ("SELECT count(*) FROM logs WHERE message = getvariable('x')", None),
    # parameters
    ("SELECT $tenant", "parameters"),
    ("SELECT * FROM logs WHERE tenant = $1", "parameters"),
    ("SELECT ?", "parameters"),
    # syntax
    ("", "empty"),
    ("   ", "empty"),
    ("SELECT (1", "syntax error"),
    ("SELECT 'unterminated", "syntax error"),
    ("SELEC 1", None),
]


@pytest.mark.parametrize("sql", ACCEPTED)
def test_accepted(sql: str) -> None:
    parse_read_only(sql)


@pytest.mark.parametrize(("sql", "expected"), REFUSED)
def test_refused(sql: str, expected: str | None) -> None:
    with pytest.raises(SqlError) as info:
        parse_read_only(sql)
    if expected:
        assert expected in str(info.value)


def test_errors_point_at_the_problem() -> None:
    with pytest.raises(SqlError) as info:
        parse_read_only("SELECT level,\n  count(*)\nFROM logs JOIN secrets ON true")
    assert (info.value.line, info.value.column) == (3, 16)
    with pytest.raises(SqlError) as info:
        parse_read_only("SELECT *\nFROM logs\nWHERE (level = 'x'")
    assert info.value.line == 3
    with pytest.raises(SqlError) as info:
        parse_read_only("SELECT message,\n   getenv('HOME') FROM logs")
    assert (info.value.line, info.value.column) == (2, 4)


def test_ctes_are_renamed_so_only_the_query_can_name_them() -> None:
    query = parse_read_only("WITH x AS (SELECT * FROM logs) SELECT x.level FROM x")
    assert query.sql == "WITH lw_cte_1 AS (SELECT * FROM logs) SELECT x.level FROM lw_cte_1 AS x"
    assert query.cte_names == {"lw_cte_1"}


def test_a_cte_named_logs_shadows_the_table() -> None:
    query = parse_read_only("WITH logs AS (SELECT 1 AS n) SELECT n FROM logs")
    assert query.sql == "WITH lw_cte_1 AS (SELECT 1 AS n) SELECT n FROM lw_cte_1 AS logs"


def _bind(sql: str, from_sql: str | None) -> str:
    source, text = logs_source(from_sql, "s", "e")
    return bind_logs(parse_read_only(sql), source, text).sql


def test_logs_is_replaced_by_the_snapshot_subquery_keeping_aliases() -> None:
    bound = _bind("SELECT l.level FROM logs AS l JOIN logs USING (log_id)", '(SELECT * FROM "logs$a$20260101") AS logs')
    assert '"logs$a$20260101"' in bound
    assert ") AS l JOIN (" in bound
    assert bound.endswith(") AS logs USING (log_id)")
    assert "$s" in bound and "$e" in bound
    source, text = logs_source('(SELECT * FROM "logs$a$20260101") AS logs', "s", "e")
    assert bind_logs(parse_read_only("SELECT * FROM logs"), source, text).parameters == {"s", "e"}
    assert bind_logs(parse_read_only("SELECT 1"), source, text).parameters == set()


def test_an_empty_snapshot_still_has_the_logs_columns() -> None:
    con = duckdb.connect()
    rel = con.sql(_bind("SELECT * FROM logs", None))
    assert rel.columns[:3] == ["ts", "observed_ts", "tenant"]
    assert rel.fetchall() == []


def test_binding_refuses_a_source_it_did_not_produce() -> None:
    # The final check compares with the source's own tables: a `logs` left unbound would be caught.
    query = parse_read_only("SELECT * FROM logs")
    source, _ = logs_source('(SELECT * FROM "logs$a$20260101") AS logs', "s", "e")
    with pytest.raises(SqlError):
        bind_logs(query, source, "SELECT 1")


FRAGMENTS = [
    "SELECT",
    "*",
    "FROM",
    "logs",
    "WHERE",
    "(",
    ")",
    ",",
    ";",
    "'x.csv'",
    '"logs$b$20260101"',
    "_unapplied",
    "_archive_files",
    "read_parquet('*.parquet')",
    "duckdb_tables()",
    "getenv('HOME')",
    "query('SELECT 1')",
    "WITH a AS",
    "a",
    "UNION ALL",
    "JOIN",
    "LATERAL",
    "information_schema.tables",
    "main.logs",
    "COPY",
    "TO",
    "ATTACH",
    "PRAGMA",
    "--",
    "/*",
    "*/",
    "$tenant",
    "1",
    "count(*)",
    "AS",
    "logs$",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=14) | st.text(max_size=80).map(lambda t: [t]))
def test_fuzz_only_logs_or_ctes_survive(parts: list[str]) -> None:
    """Whatever is accepted reads only `logs` and its own CTEs, checked again by DuckDB's parser."""
    sql = " ".join(parts)
    try:
        query = parse_read_only(sql)
    except SqlError:
        return
    # Bound to a source that reads one table, the statement must read nothing else.
    source, text = logs_source('(SELECT * FROM "logs$a$20260101") AS logs', "s", "e")
    bound = bind_logs(query, source, text).sql
    tables, functions = reads_of(bound)
    assert tables <= {"logs$a$20260101"} | query.cte_names
    assert functions <= {"range", "unnest", "generate_series"}
