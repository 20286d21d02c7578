"""Row filters on Arrow batches: core (live tail) and wide (pipeline) shapes agree with the store's SQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pytest

from logwarden.model.normalize import BatchContext, pack, widen
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.filter import compile_filter
from logwarden.query.parser import parse
from logwarden.query.planner import plan
from logwarden.store.duckdb import word_udf
from logwarden.store.duckdb.plan_sql import bind_sql, query_statements

RECORDS = [
    {
        "ts": "2026-11-21T10:00:00Z",
        "level": "error",
        "msg": "payment timeout",
        "service": "checkout",
        "host": "web-1",
        "status": 500,
        "latency_ms": 250.5,
        "client_ip": "10.1.2.3",
        "user_id": "42",
        "ok": False,
    },
    {
        "ts": "2026-11-21T10:00:01Z",
        "level": "info",
        "msg": "Connection refused",
        "service": "checkout",
        "host": "web-2",
        "status": 200,
        "latency_ms": 50,
        "client_ip": "2001:db8::1",
        "http": {"status": 404},
    },
    {
        "ts": "2026-11-21T10:00:02Z",
        "level": "warn",
        "msg": "timed out",
        "service": "api",
        "host": "db-1",
        "status": 503,
        "code": "503",
        "trace_id": "abc",
        "tags": ["a", "b"],
        "ok": True,
    },
    {"ts": "2026-11-21T10:00:03Z", "msg": "no level here", "service": "api"},
]
QUERIES = [
    "timeout",
    '"connection refused"',
    "conn*",
    "level:error",
    "level:>=warn",
    "service:checkout",
    "host:web-*",
    "status:500",
    "status:>=500",
    "status:503",
    "code:503",
    "code:>=500",
    "latency_ms:[50 TO 250.5]",
    "latency_ms:{50 TO 300}",
    "http.status:404",
    "attrs.http.status:404",
    "user_id:42",
    "client_ip:10.0.0.0/8",
    "client_ip:2001:db8::/32",
    "_exists_:trace_id",
    "_exists_:status",
    "_exists_:nope",
    "message:/time(out|d)/",
    "-timeout",
    "NOT status:200",
    "service:api OR level:error",
    "(service:api OR service:checkout) -level:info",
    "ok:true",
    "ok:false",
    "missing:1",
    "-missing:1",
    "*",
]
CTX = BatchContext("acme", "http", datetime(2026, 11, 21, 10, 5, tzinfo=UTC))


@pytest.fixture(scope="module")
def tables() -> tuple[pa.Table, pa.Table]:
    raw = pa.Table.from_struct_array(pa.array(RECORDS))
    wide = widen(raw, CTX)
    return pack(wide), wide


def store_mask(core: pa.Table, text: str) -> list[bool]:
    """What the store query would return for the same rows, as a mask over `core`."""
    the_plan = plan(
        parse(text),
        tenant="acme",
        start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime(2027, 1, 1, tzinfo=UTC),
        limit=1000,
    )
    con = duckdb.connect()
    word_udf.register(con)  # as the store's connection
    con.register("core_rows", core)
    ids = {
        r[0]
        for r in con.sql(
            bind_sql(
                "(SELECT *, CAST(NULL AS BIGINT) AS seq FROM core_rows) AS logs",
                query_statements(the_plan.plan)[0].select("log_id", append=False),
            )
        ).fetchall()
    }
    return [log_id in ids for log_id in core.column("log_id").to_pylist()]


@pytest.mark.parametrize("text", QUERIES)
def test_core_and_wide_agree_with_the_store(tables: tuple[pa.Table, pa.Table], text: str) -> None:
    core, wide = tables
    row_filter = compile_filter(text)
    expected = store_mask(core, text)
    assert row_filter.mask(core).to_pylist() == expected
    assert row_filter.mask(wide).to_pylist() == expected


def test_some_expected_masks(tables: tuple[pa.Table, pa.Table]) -> None:
    core, wide = tables
    assert compile_filter("status:>=500").mask(wide).to_pylist() == [True, False, True, False]
    assert compile_filter("-missing:1").mask(core).to_pylist() == [True, True, True, True]
    assert compile_filter("http.status:404").mask(wide).to_pylist() == [False, True, False, False]
    assert compile_filter("client_ip:2001:db8::/32").mask(core).to_pylist() == [False, True, False, False]


def test_wide_with_prebuilt_attrs_json() -> None:
    table = pa.table({"message": ["a", "b"], "__attrs__": ['{"status":500}', '{"status":200}']})
    assert compile_filter("status:>=500").mask(table).to_pylist() == [True, False]
    assert compile_filter("_exists_:status").mask(table).to_pylist() == [True, True]


def test_missing_columns_are_false_and_nulls_false() -> None:
    table = pa.table({"message": ["x", None], "level": [None, "ERROR"]})
    assert compile_filter("status:500").mask(table).to_pylist() == [False, False]
    assert compile_filter("x").mask(table).to_pylist() == [True, False]
    assert compile_filter("_exists_:status").mask(table).to_pylist() == [False, False]


def test_pipes_and_time_are_rejected() -> None:
    with pytest.raises(QuerySyntaxError, match="pipes"):
        compile_filter("level:error | stats count()")
    with pytest.raises(QuerySyntaxError, match="_time"):
        compile_filter("_time:[now-1h TO now]")
    with pytest.raises(QuerySyntaxError) as info:
        compile_filter("level:")
    assert info.value.column == 7


def test_thread_safe(tables: tuple[pa.Table, pa.Table]) -> None:
    core, wide = tables
    row_filter = compile_filter("status:>=500 OR client_ip:10.0.0.0/8")
    expected = row_filter.mask(core).to_pylist()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                assert row_filter.mask(core).to_pylist() == expected
                assert row_filter.mask(wide).to_pylist() == expected
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
