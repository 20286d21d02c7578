"""What makes a needle cheap to read: `store.block_size` (new files, and a file of another block size once compacted
at a clean stop), a needle's message tests applied in each day table's branch, and a context's
anchor found through the stored id columns, not the virtual log_id — the same lines either way."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from sqlglot import exp

from logwarden.config.loader import ConfigError
from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.model.schema import DUCKDB_COLUMNS
from logwarden.plan.duckdb_filter import UNICODE_MATCH_UDF
from logwarden.plan.nodes import META_ANCHOR, ContextPlan, Plan, meta_int
from logwarden.query.engine import run_query
from logwarden.query.parser import parse
from logwarden.query.planner import plan
from logwarden.store.base import SearchQuery
from logwarden.store.duckdb import DuckDBStore, execute, lines, log_ids, plan_sql
from tests.conftest import make_config

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
DAY = date(2026, 11, 20)


def batch(start: int, n: int):  # type: ignore[no-untyped-def]
    records = [
        {
            "ts": f"{DAY.isoformat()}T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z",
            "msg": f"request {i} served" if i % 997 else f"request {i} failed with code zq{i}x",
            "service": "api",
        }
        for i in range(start, start + n)
    ]
    decoded = decode_json_body(b"\n".join(orjson.dumps(r) for r in records))
    return normalize(decoded.records, BatchContext("default", "http", NOW))


def block_size(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        sql = "SELECT block_size FROM pragma_database_size() WHERE database_name = current_database()"
        return int(con.sql(sql).fetchall()[0][0])
    finally:
        con.close()


@pytest.mark.parametrize("size", [None, 64 * 1024])
async def test_a_new_hot_file_has_the_configured_blocks(tmp_path: Path, size: int | None) -> None:
    config = make_config(tmp_path, **({"store.block_size": size} if size else {}))
    store = DuckDBStore(config)
    await store.append(batch(0, 100))
    await store.flush()
    await store.close()
    assert block_size(Path(config.data_dir) / "hot.duckdb") == (size or 256 * 1024)  # DuckDB's default


@pytest.mark.parametrize(("before", "after"), [(256 * 1024, 64 * 1024), (64 * 1024, 256 * 1024)])
async def test_a_file_of_other_blocks_gets_the_configured_ones_at_a_clean_stop(
    tmp_path: Path, before: int, after: int
) -> None:
    config = make_config(tmp_path, **{"store.block_size": after})
    path = Path(config.data_dir) / "hot.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(path), config={"default_block_size": before}).close()  # made with the setting before
    store = DuckDBStore(config)
    store.compact_min_bytes = 0
    await store.append(batch(0, 3000))
    await store.flush()
    assert block_size_open(store) == before
    await store.close()  # the file is tidy (no free blocks to speak of): only its block size calls for the copy
    assert block_size(path) == after
    store = DuckDBStore(config)
    try:
        result = await store.search(SearchQuery("default", START, END, terms=("zq997x",), limit=10))
        assert [h["message"] for h in result.hits] == ["request 997 failed with code zq997x"]
        assert (await store.search(SearchQuery("default", START, END, limit=1))).total == 3000
    finally:
        await store.close()


def test_a_block_size_duckdb_cannot_use_fails_at_start_naming_the_field(tmp_path: Path) -> None:
    for bad in ("48KiB", "8KiB", "512KiB"):
        with pytest.raises(ConfigError, match=r"store\.block_size"):
            make_config(tmp_path, **{"store.block_size": bad})


def block_size_open(store: DuckDBStore) -> int:
    sql = "SELECT block_size FROM pragma_database_size() WHERE database_name = current_database()"
    return int(store._db.sql(sql).fetchall()[0][0])


def test_message_tests_are_the_conjuncts_that_read_message_alone() -> None:
    where = "tenant = 'a' AND ts > 1 AND REGEXP_MATCHES(message, 'x') AND LOWER(message) LIKE '%y%' AND level = 'e'"
    select = exp.select("*").from_("logs").where(where)
    assert plan_sql.message_tests(select) == "REGEXP_MATCHES(message, 'x') AND LOWER(message) LIKE '%y%'"
    # A test that reads another column as well stays in the statement only.
    mixed = exp.select("*").from_("logs").where("tenant = 'a' AND (REGEXP_MATCHES(message, 'x') OR level = 'e')")
    assert plan_sql.message_tests(mixed) == ""
    # Only the statement over `logs`: a wrapping select's filter (after an aggregation) is not a row filter.
    inner = exp.select("message").from_("logs").where("REGEXP_MATCHES(message, 'x')").subquery("t")
    outer = exp.select("*").from_(inner).where("message = 'z'")
    assert plan_sql.message_tests(outer) == "REGEXP_MATCHES(message, 'x')"
    # Tests a scan cannot take as its own filter stay out: a CASE, a Python function.
    udf = (
        exp.select("*")
        .from_("logs")
        .where(
            f"REGEXP_MATCHES(message, 'x') AND {UNICODE_MATCH_UDF}(message, 'y') AND "
            "CASE WHEN STRLEN(message) = 1 THEN TRUE ELSE FALSE END"
        )
    )
    assert plan_sql.message_tests(udf) == "REGEXP_MATCHES(message, 'x')"


def planned(query: str) -> Plan:
    return plan(parse(query), tenant="default", start=START, end=END, now=NOW).plan


def test_only_a_needles_hits_push_their_message_tests() -> None:
    pushed = execute.prepare(planned("zq997x")).pushed
    assert "zq997x" in pushed  # a word with a digit: likely in few blocks
    # Only what DuckDB's scan takes as its own filter: the word-boundary test (a CASE around a Python function)
    # stays in the statement, or the scan would read every column of every candidate row before testing.
    assert "REGEXP_MATCHES" in pushed and "CASE" not in pushed and UNICODE_MATCH_UDF not in pushed.lower()
    assert "level" not in execute.prepare(planned("level:error zq997x")).pushed  # message tests only
    assert execute.prepare(planned("served")).pushed == ""  # a common word: its many matches tested once
    assert execute.prepare(planned("zq997x | stats count() by service")).pushed == ""  # reads the columns it uses


@pytest.mark.parametrize(
    ("query", "pushes"),
    [
        ("zq997x", True),
        ("zq1994x OR zq997x", False),  # no word common to both branches: no block pruning, no push
        ('"code zq2991x"', True),
        ("zq997x -served", True),
        ("request zq1994x", True),
        ("zq99*", False),  # a wildcard requires no word: every block is read, the statement tests once
    ],
)
async def test_pushing_changes_no_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, query: str, pushes: bool
) -> None:
    store = DuckDBStore(make_config(tmp_path))
    try:
        await store.append(batch(0, 5000))
        await store.flush()
        await store.append(batch(5000, 2000))  # not yet applied: read from memory, without the branch filter

        async def hits() -> tuple[int, list[Any]]:
            result = await run_query(store, query, tenant="default", start=START, end=END, limit=50, now=NOW)
            return result.total, [h["log_id"] for h in result.hits]

        statements: list[str] = []
        fetch = execute.fetch_arrow
        monkeypatch.setattr(
            execute, "fetch_arrow", lambda cur, sql, params: statements.append(sql) or fetch(cur, sql, params)
        )
        pushed = await hits()
        assert pushed[0] > 0
        branches = statements[-1].split(") SELECT", 1)[0]
        assert 'FROM "logs$default$20261120" WHERE tenant = $tenant' in branches
        assert ("REGEXP_MATCHES" in branches) is pushes  # the day table's branch tests the message itself
        monkeypatch.setattr(plan_sql, "message_tests", lambda select: "")
        assert await hits() == pushed
    finally:
        await store.close()


CLIENT_IDS = ["0123456789abcdef012345", "0123456789ABCDEF012345", "app@17", "it's", "é" * 22]


def with_ids(start: int, n: int) -> Any:
    records = [
        {"ts": f"{DAY.isoformat()}T10:{i // 60 % 60:02d}:{i % 60:02d}Z", "msg": f"line {i}", "service": "api"}
        for i in range(start, start + n)
    ]
    records += [
        {"ts": f"{DAY.isoformat()}T11:00:00Z", "msg": f"client {i}", "service": "api", "log_id": log_id}
        for i, log_id in enumerate(CLIENT_IDS)
    ]
    decoded = decode_json_body(b"\n".join(orjson.dumps(r) for r in records))
    return normalize(decoded.records, BatchContext("default", "http", NOW))


@pytest.mark.parametrize("layout", ["split", "before"])
async def test_context_finds_its_anchor_through_the_stored_id_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    config = make_config(tmp_path)
    if layout == "before":  # a day table of the layout before generated ids were split (a text log_id column)
        path = Path(config.data_dir) / "hot.duckdb"
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path))
        cols = ", ".join(f"{name} {sql_type}" for name, sql_type in DUCKDB_COLUMNS)
        con.execute(f'CREATE TABLE "logs$default${DAY:%Y%m%d}" ({cols})')
        con.close()
    store = DuckDBStore(config)
    sources: list[str] = []
    anchor_line = lines.anchor_line
    monkeypatch.setattr(lines, "anchor_line", lambda cur, src, *a: sources.append(src) or anchor_line(cur, src, *a))
    try:
        batch = with_ids(0, 300)
        await store.append(batch)
        await store.flush()
        generated = batch.column("log_id")[150].as_py()
        for wanted in (generated, *CLIENT_IDS):
            table = await store.execute(ContextPlan("default", START, END, wanted, 2, 2))
            assert table.column("log_id").to_pylist()[meta_int(table, META_ANCHOR)] == wanted
            assert table.num_rows == 5 or wanted in CLIENT_IDS  # the client lines share one second: fewer sides
            test = log_ids.stored_test(wanted, layout == "split")
            assert f"WHERE tenant = $tenant AND {test}" in sources[-1]  # the day table's branch tests its columns
        got = await store.execute(ContextPlan("default", START, END, generated, 2, 2))
        assert got.column("message").to_pylist() == [f"line {i}" for i in range(148, 153)]
        assert (await store.execute(ContextPlan("default", START, END, generated.upper(), 2, 2))).num_rows == 0
        assert (await store.execute(ContextPlan("default", START, END, "absent", 2, 2))).num_rows == 0
    finally:
        await store.close()
