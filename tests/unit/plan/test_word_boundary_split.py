"""The store's word-boundary test: ASCII classes for pure-ASCII lines, `lw_unicode_match` for the others — the same
lines as the constant Unicode-class pattern, without compiling that pattern per table scanned."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pytest

from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.plan import filter as ast
from logwarden.plan.duckdb_filter import StoreFields, compile_node
from logwarden.plan.words import bounded_regex, wildcard_regex
from logwarden.query.engine import run_query
from logwarden.store.duckdb import DuckDBStore, word_udf
from tests.conftest import make_config

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
START, END = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)

MESSAGES = [
    "read timeout here",
    "READ TIMEOUT: 5s",
    "timeouts",
    "x_timeout",
    "timeout_x",
    "timeout9",
    "9timeout",
    "(timeout)",
    "timeout",
    "é timeout é",  # non-ASCII line, ASCII neighbours
    "étimeout",  # a letter glues
    "timeouté",
    "timeout\u0301",  # a combining mark glues
    "\u0663timeout",  # ARABIC-INDIC DIGIT THREE glues
    "é code42 é",  # a term with a digit: the store splits its word test (likely narrow)
    "code42é",
    "code42",
    "—timeout—",  # punctuation separates
    "€timeout…",
    "\u212aimeout",  # no: the Kelvin sign lowers to k, not t
    "\u0130d=7 failed",
    "İdris failed",
    "user idris",
    "time-in-out",
    "timeXout",
    "timeéout",
    "time out",
    "connection refused now",
    "CONNECTION  refused",
    "connection refused—",
    "connection refusedé",
    "δοκιμή timeout",
    "δοκιμή",
    "ΔΟΚΙΜΉ!",
    "",
]
TERMS = [
    ("timeout", False),
    ("connection refused", False),
    ("id", False),
    ("idris", False),
    ("δοκιμή", False),
    ("code42", False),  # with a digit: the store's reads take the split test
]
WILDCARDS = [("time*out", True), ("time?out", True), ("tim*", True), ("*out", True), ("δοκ*", True)]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    with duckdb.connect() as c:
        word_udf.register(c)
        c.execute("CREATE TABLE logs AS SELECT unnest($m) AS message", {"m": MESSAGES})
        yield c


@pytest.mark.parametrize(("text", "wildcard"), TERMS + WILDCARDS)
def test_split_test_matches_the_unicode_pattern(con: duckdb.DuckDBPyConnection, text: str, wildcard: bool) -> None:
    """Every line: the store's split test answers as the Unicode-class regex does (and it matches some lines)."""
    node = ast.Term(text, wildcard)
    split = compile_node(node, StoreFields(unicode_udf=True)).sql(dialect="duckdb")
    pattern = (wildcard_regex if wildcard else bounded_regex)(text)
    got = con.sql(f"SELECT message FROM logs WHERE {split} ORDER BY message").fetchall()
    sql = "SELECT message FROM logs WHERE regexp_matches(lower(message), $p) ORDER BY message"
    want = con.execute(sql, {"p": pattern}).fetchall()
    assert got == want
    assert want


def test_no_unicode_class_is_compiled_as_a_constant() -> None:
    """The store's SQL has no constant Unicode-class pattern in a DuckDB regex function (those compile per table)."""
    sql = compile_node(ast.Term("timeout", False), StoreFields(unicode_udf=True)).sql(dialect="duckdb")
    for call in sql.split("REGEXP_MATCHES(")[1:]:
        assert "\\pL" not in call.split(")")[0]
    assert "LW_UNICODE_MATCH(" in sql and "[^a-z0-9_]" in sql
    # Other evaluators (no such function) keep the Unicode pattern as a constant.
    assert "LW_UNICODE_MATCH" not in compile_node(ast.Term("timeout", False), StoreFields()).sql(dialect="duckdb")


def test_ascii_lines_do_not_reach_the_function(con: duckdb.DuckDBPyConnection) -> None:
    """Only lines with non-ASCII text are passed to `lw_unicode_match` (which compiles the Unicode pattern)."""
    calls: list[int] = []
    original = word_udf._unicode_match

    def counting(messages, patterns):  # type: ignore[no-untyped-def]
        calls.append(len(messages))
        return original(messages, patterns)

    with duckdb.connect() as c:
        c.create_function("lw_unicode_match", counting, ["VARCHAR", "VARCHAR"], "BOOLEAN", type="arrow")
        c.execute("CREATE TABLE logs AS SELECT unnest($m) AS message", {"m": MESSAGES})
        split = compile_node(ast.Term("timeout", False), StoreFields(unicode_udf=True)).sql(dialect="duckdb")
        c.sql(f"SELECT count(*) FROM logs WHERE {split}").fetchall()
        non_ascii_candidates = sum(1 for m in MESSAGES if not m.isascii() and "timeout" in m.lower())
        assert sum(calls) == non_ascii_candidates
        calls.clear()
        c.sql(
            "SELECT count(*) FROM logs WHERE message ILIKE '%timeout%' AND message = 'timeout' AND " + split
        ).fetchall()
        assert sum(calls) == 0


async def test_the_store_answers_terms_over_unicode_lines_hot_archived_and_unapplied(tmp_path: Path) -> None:
    """A real store (its own connection has the function): terms over non-ASCII lines give the lines the Unicode
    pattern picks, in hot tables, archived Parquet and not-yet-applied batches."""
    day_old, day_new = "2026-11-18", "2026-11-21"
    recs = [
        {"ts": f"{d}T{i % 24:02d}:{i % 60:02d}:00Z", "msg": f"{m} #{i}", "service": "s"}
        for d in (day_old, day_new)
        for i, m in enumerate(MESSAGES)
    ]
    cfg = make_config(tmp_path, **{"archive.archive_after_days": 1, "store.apply_interval": "1h"})
    store = DuckDBStore(cfg)
    try:
        await store.append(_batch(recs))
        await store.flush()
        assert (await store.maintain(now=NOW)).archived
        await store.append(_batch([{**r, "msg": "late " + str(r["msg"])} for r in recs]))
        for text, wildcard in TERMS + WILDCARDS:
            query = f'"{text}"' if " " in text else text
            result = await run_query(store, query, tenant="default", start=START, end=END, limit=1000, now=NOW)
            messages = [str(r["msg"]) for r in recs] + ["late " + str(r["msg"]) for r in recs]
            want = _unicode_pattern_picks(text, wildcard, messages)
            assert sorted(str(h["message"]) for h in result.hits) == sorted(want), text
            assert want
    finally:
        await store.close()


def _unicode_pattern_picks(text: str, wildcard: bool, messages: list[str]) -> list[str]:
    """The messages the constant Unicode-class pattern matches, sorted."""
    pattern = (wildcard_regex if wildcard else bounded_regex)(text)
    sql = "SELECT m FROM unnest($ms) AS t(m) WHERE regexp_matches(lower(m), $p) ORDER BY m"
    with duckdb.connect() as c:
        return [r[0] for r in c.execute(sql, {"ms": messages, "p": pattern}).fetchall()]


def _batch(recs: list[dict[str, object]]) -> pa.Table:
    decoded = decode_json_body(b"\n".join(orjson.dumps(r) for r in recs))
    return normalize(decoded.records, BatchContext("default", "http", NOW))
