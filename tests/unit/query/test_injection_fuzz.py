"""SQL injection fuzzing: arbitrary field names, values and regexes never escape the generated statement.

Every query either raises QuerySyntaxError, or compiles to a single SELECT whose only table is `logs`
(plus our own subqueries), runs without any other error, and returns rows of the caller's tenant only.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from logwarden.query.errors import QuerySyntaxError
from logwarden.query.filter import compile_filter
from logwarden.query.parser import parse
from logwarden.query.planner import plan
from logwarden.store.duckdb import word_udf
from logwarden.store.duckdb.execute import run_sql
from logwarden.store.duckdb.plan_sql import bind_sql, query_statements

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)
NASTY = st.sampled_from(
    [
        "'",
        '"',
        "\\",
        "';--",
        "') OR 1=1 --",
        "$tenant",
        "/*",
        "*/",
        ";",
        "\x00",
        "logs",
        "UNION SELECT",
        "attrs",
        "tenant",
        "a.b",
        "%",
        "_",
        "*",
        "?",
        ":",
        "/",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "|",
        "~",
        "\n",
        "é",
    ]
)
TEXT = st.lists(st.one_of(st.text(max_size=6), NASTY), max_size=5).map("".join)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    word_udf.register(c)  # as the store's connection
    rows = pa.table(
        {
            "ts": pa.array([datetime(2026, 11, 21, 10, i, tzinfo=UTC) for i in range(4)], pa.timestamp("us", tz="UTC")),
            "observed_ts": pa.array([datetime(2026, 11, 21, 10, tzinfo=UTC)] * 4, pa.timestamp("us", tz="UTC")),
            "tenant": ["acme", "acme", "evil", "evil"],
            "service": ["api", "web", "api", "web"],
            "host": ["h1", "h2", "h1", "h2"],
            "level": ["ERROR", "INFO", "ERROR", "INFO"],
            "severity": pa.array([17, 9, 17, 9], pa.int8()),
            "message": ["it's a 'quote'", 'say "hi"', "secret ' OR 1=1", "secret"],
            "trace_id": ["t", None, "t", None],
            "span_id": [None] * 4,
            "source": ["http"] * 4,
            "log_id": ["a1", "a2", "e1", "e2"],
            "attrs": ['{"k":"v","a.b":1}', '{"x\'y":"z"}', '{"k":"v"}', None],
            "pattern_id": [None] * 4,
            "seq": pa.array([1, 2, 3, 4], pa.int64()),  # the stored arrival order (store/arrival.py)
        }
    )
    c.register("fuzz_arrow", rows)
    c.execute("CREATE TABLE fuzz_rows AS SELECT * FROM fuzz_arrow")
    return c


def check(con: duckdb.DuckDBPyConnection, text: str) -> None:
    try:
        main, count = query_statements(plan(parse(text), tenant="acme", start=START, end=END, limit=50).plan)
    except QuerySyntaxError:
        return
    for select in (main, count):
        if select is None:
            continue
        statements = sqlglot.parse(select.sql(dialect="duckdb"), read="duckdb")
        assert len(statements) == 1
        assert isinstance(statements[0], exp.Select)
        assert {t.name for t in statements[0].find_all(exp.Table)} <= {"logs"}
        sql = bind_sql("(SELECT * FROM fuzz_rows) AS logs", select)
        try:
            table = run_sql(con.cursor(), sql, {})
        except QuerySyntaxError:
            continue
        if "tenant" in table.column_names:
            assert set(table.column("tenant").to_pylist()) <= {"acme"}
        if "log_id" in table.column_names:
            assert set(table.column("log_id").to_pylist()) <= {"a1", "a2"}
        if select is count:
            assert table.column(0)[0].as_py() <= 2


pytestmark = pytest.mark.slow
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(name=TEXT, value=TEXT)
def test_field_names_and_values(con: duckdb.DuckDBPyConnection, name: str, value: str) -> None:
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    for text in (
        f"{name}:{value}",
        f'{name}:"{quoted}"',
        f"{name}:>={value}",
        f"{name}:[{value} TO *]",
        f"_exists_:{name}",
        f"{value}",
        f'"{quoted}"',
        f"{name}:{value}*",
    ):
        check(con, text)


@SETTINGS
@given(pattern=TEXT)
def test_regexes(con: duckdb.DuckDBPyConnection, pattern: str) -> None:
    escaped = pattern.replace("/", "\\/")
    check(con, f"message:/{escaped}/")
    check(con, f"k:/{escaped}/")


@SETTINGS
@given(name=TEXT, alias=TEXT, value=TEXT)
def test_pipes(con: duckdb.DuckDBPyConnection, name: str, alias: str, value: str) -> None:
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    for text in (
        f"| stats count() as {alias}, avg({name}) by {name}",
        f"| top 3 {name}",
        f'| stats count() as n by {name} | where {name} = "{quoted}"',
        f"| sort -{name} | fields {name}",
        f"| timechart span=1h count() by {name}",
        f"| stats count() by service | where count > {value}",
        f"| top 3 {name}, service",
    ):
        check(con, text)


@SETTINGS
@given(name=TEXT, value=TEXT)
def test_extraction_pipes(con: duckdb.DuckDBPyConnection, name: str, value: str) -> None:
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    for text in (
        f'| extract "(?P<a>{quoted})" | stats count() by a',
        f'| extract "(?P<{name}>.)" from {name} | fields {name}',
        f'| extract pattern "<_>{quoted}<x>" | where x = "{quoted}" | sort -x',
        f'| json | where {name} = "{quoted}" | top 3 {name}',
        f"| json from {name} | stats avg({name}) by {name}",
        f"| logfmt | where {name} > {value} | timechart span=1h count() by {name}",
        f"| logfmt from attrs.k | top 2 {name}, k",
        f'| eval {name} = concat({name}, "{quoted}") | where {name} = "{quoted}" | fields {name}',
        f'| eval x = if({name} > {value}, upper("{quoted}"), {name} / 0) | stats count() by x',
        f'| eval x = case({name} = "{quoted}", len({name}), 1) % 0 | top 1 x',
        f"| eval x = {value} | sort x",
    ):
        check(con, text)


@SETTINGS
@given(query=st.text(max_size=40))
def test_arbitrary_text(con: duckdb.DuckDBPyConnection, query: str) -> None:
    check(con, query)
    try:
        row_filter = compile_filter(query)
    except QuerySyntaxError:
        return
    table = pa.table({"message": ["x", "y"], "attrs": ['{"k":"v"}', None], "level": ["ERROR", None]})
    assert len(row_filter.mask(table)) == 2
