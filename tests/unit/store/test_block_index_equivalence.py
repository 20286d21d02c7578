"""The block index never changes an answer: every query gives the same lines with and without it, over data
half archived and half hot, with batches not yet applied; and `store.indexed_fields` narrows `field:value`."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from logwarden.config.model import StoreConfig
from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.plan.filter import Equals, FieldRef
from logwarden.query.engine import run_query
from logwarden.store.duckdb import DuckDBStore, archive_index, tokens
from logwarden.store.duckdb.plan_sql import required_tokens
from tests.conftest import make_config

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
START, END = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
OLD, FRESH = date(2026, 11, 18), date(2026, 11, 21)
VOCAB = ["alpha", "beta", "Gamma", "timeout", "refused", "db-7", "x=1", "Ünï", "a_b", "connection"]
TRACES = [f"{i:032x}" for i in range(1, 9)]
REQUESTS = ["r-1", "R-1", "r-2", "req 3"]
QUERIES = [
    "zq7xneedlek",
    '"found zq7xneedlek"',
    "ZQ7XNEEDLEK here",
    "zq7xneedlek OR alpha",
    "(zq7xneedlek AND found) OR (zq7xneedlek AND late)",
    "alpha beta",
    '"connection refused"',
    "db-7",
    "x=1",
    "Ünï",
    "absentword",
    "alp*",
    "NOT alpha",
    "zq7x",
    f"trace_id:{TRACES[2]}",
    f"trace_id:{TRACES[2]} AND zq7xneedlek",
    f"trace_id:{TRACES[2]} OR trace_id:{TRACES[3]}",
    "trace_id:absent",
    "request_id:r-1",
    "request_id:R-1",
    "attrs.request_id:r-2",
    'request_id:"req 3"',
    "request_id:absent AND alpha",
    "request_id:r-2 AND Gamma",
]


def records(day: date, n: int, tag: str) -> list[dict[str, object]]:
    rng = random.Random(f"{day}{tag}")
    out: list[dict[str, object]] = []
    for i in range(n):
        words = " ".join(rng.choices(VOCAB, k=rng.randint(0, 4)))
        rec: dict[str, object] = {
            "ts": f"{day.isoformat()}T{i * 24 // n:02d}:{i % 60:02d}:{i % 59:02d}Z",
            "msg": f"{tag} {words} line {i}",
            "service": "svc",
            "trace_id": rng.choice(TRACES) if i % 3 else None,
        }
        if i % 4:
            rec["request_id"] = rng.choice(REQUESTS)
        if rng.random() < 0.01 or i == n // 2:
            rec["msg"] = f"{tag} found zq7xneedlek here {words}"
        out.append(rec)
    return out


def batch(recs: list[dict[str, object]]) -> pa.Table:
    decoded = decode_json_body(b"\n".join(orjson.dumps(r) for r in recs))
    return normalize(decoded.records, BatchContext("default", "http", NOW))


async def answers(store: DuckDBStore) -> dict[str, tuple[int, list[str]]]:
    out: dict[str, tuple[int, list[str]]] = {}
    for q in QUERIES:
        result = await run_query(store, q, tenant="default", start=START, end=END, limit=10_000, now=NOW)
        out[q] = (int(result.total or 0), sorted(str(h["log_id"]) for h in result.hits))
    return out


@pytest.fixture
def narrowed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the tables and files the index narrowed (so a test sees that it was used at all)."""
    real = tokens.candidate_ranges_of
    used: list[int] = []

    def counting(cur: Any, tables: Any, keys: Any) -> dict[str, list[tuple[int, int]]]:
        found = real(cur, tables, keys)
        used.append(len(found))
        return found

    monkeypatch.setattr(tokens, "candidate_ranges_of", counting)
    yield used


async def with_and_without_index(store: DuckDBStore, monkeypatch: pytest.MonkeyPatch) -> None:
    indexed = await answers(store)
    with monkeypatch.context() as m:
        m.setattr(tokens, "candidate_ranges_of", lambda cur, tables, keys: {})  # every table read whole
        whole = await answers(store)
    for q in QUERIES:
        assert indexed[q] == whole[q], q
    assert indexed["zq7xneedlek"][0] > 2 and indexed[f"trace_id:{TRACES[2]}"][0] > 2
    assert indexed["request_id:r-1"][0] > 2 and indexed["request_id:r-1"] != indexed["request_id:R-1"]


async def test_answers_equal_without_the_index_hot_archived_and_unapplied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, narrowed: list[int]
) -> None:
    monkeypatch.setattr(tokens, "BLOCK_ROWS", 64)
    cfg = make_config(
        tmp_path,
        **{
            "archive.archive_after_days": 1,
            "store.apply_interval": "1h",  # appended batches stay in memory until flush()
            "store.indexed_fields": ["request_id"],
        },
    )
    store = DuckDBStore(cfg)
    try:
        await store.append(batch(records(OLD, 700, "old") + records(FRESH, 700, "new")))
        await store.flush()
        assert (await store.maintain(now=NOW)).archived
        hot, archived = store.partitions()
        assert (len(hot), len(archived)) == (1, 1)
        # Late lines for both days, not applied yet: the archived day's are in memory only.
        await store.append(batch(records(OLD, 40, "late") + records(FRESH, 40, "late")))
        narrowed.clear()
        await with_and_without_index(store, monkeypatch)
        assert sum(narrowed) > 0  # the indexed run narrowed some tables and files
        # Applied: the archived day now has a hot table beside its file.
        await store.flush()
        hot, archived = store.partitions()
        assert (len(hot), len(archived)) == (2, 1)
        await with_and_without_index(store, monkeypatch)
    finally:
        await store.close()


async def test_an_indexed_attribute_narrows_hot_and_archived_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "BLOCK_ROWS", 64)
    cfg = make_config(tmp_path, **{"archive.archive_after_days": 1, "store.indexed_fields": ["request_id"]})
    store = DuckDBStore(cfg)
    try:
        recs = [
            {"ts": f"{d}T10:{i % 60:02d}:00Z", "msg": f"line {i}", "request_id": f"q{i}"}
            for d in (OLD, FRESH)
            for i in range(640)
        ]
        await store.append(batch(recs))
        await store.flush()
        await store.maintain(now=NOW)
        cur = store._db.cursor()
        try:
            names = [r[0] for r in cur.execute(f"SELECT tbl FROM {tokens.COVERAGE_TABLE}").fetchall()]
            assert len(names) == 2  # the hot table and the archive file
            found = tokens.candidate_ranges_of(cur, names, [tokens.field_key("request_id", "q77")])
            for name in names:
                blocks = [r for r in found[name] if r[1] < 1 << 40]
                assert blocks and sum(hi - lo + 1 for lo, hi in blocks) <= 2 * 64, (name, blocks)
        finally:
            cur.close()
        result = await run_query(store, "request_id:q77", tenant="default", start=START, end=END, limit=100, now=NOW)
        assert result.total == 2
    finally:
        await store.close()


async def test_changing_indexed_fields_rebuilds_the_hot_index(tmp_path: Path) -> None:
    store = DuckDBStore(make_config(tmp_path))
    await store.append(batch(records(FRESH, 200, "new")))
    await store.close()
    store = DuckDBStore(make_config(tmp_path, **{"store.indexed_fields": ["request_id", "span_id"]}))
    try:
        cur = store._db.cursor()
        try:
            assert cur.execute(f"SELECT fields FROM {tokens.COVERAGE_TABLE}").fetchall() == [
                ("trace_id,request_id,span_id",)
            ]
            (table,) = cur.execute(f"SELECT tbl FROM {tokens.COVERAGE_TABLE}").fetchall()[0]
            ranges = tokens.candidate_ranges(cur, table, [tokens.field_key("request_id", "absent")])
            assert ranges is not None and all(lo >= 200 for lo, _ in ranges)  # every row covered, none a candidate
        finally:
            cur.close()
    finally:
        await store.close()


def test_exact_tests_of_indexed_fields_require_their_key(tmp_path: Path) -> None:
    store = DuckDBStore(make_config(tmp_path, **{"store.indexed_fields": ["request_id", "attrs.host"]}))
    store.close_blocking()
    assert required_tokens(Equals(FieldRef.parse("request_id"), "AbC")) == ("request_id=AbC",)
    # An attribute named like a core column is its own field: never answered by the column's filters.
    assert required_tokens(Equals(FieldRef.parse("attrs.host"), "h")) == ("attrs.host=h",)
    assert required_tokens(Equals(FieldRef.parse("never_indexed_here"), "x")) == ()


@pytest.mark.parametrize("name", ["", " ", "a,b", "a=b"])
def test_indexed_field_names_are_checked(name: str) -> None:
    with pytest.raises(ValueError, match="indexed field"):
        StoreConfig(indexed_fields=[name])


@pytest.mark.parametrize("name", ["level", "severity", "message", "ts"])
def test_core_fields_that_cannot_be_indexed_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=f"store.indexed_fields: '{name}': core field not indexable"):
        DuckDBStore(make_config(tmp_path, **{"store.indexed_fields": [name]}))


async def test_archive_files_of_an_older_layout_are_indexed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "BLOCK_ROWS", 32)
    store = DuckDBStore(make_config(tmp_path, **{"archive.archive_after_days": 1}))
    try:
        await store.append(batch(records(OLD, 300, "old")))
        await store.maintain(now=NOW)
        before = await answers(store)
        con = store._db.cursor()
        try:
            (location,) = con.execute("SELECT path FROM _archive_files").fetchall()[0]
            assert archive_index.stale_files(con) == []
            con.execute(f"UPDATE {tokens.COVERAGE_TABLE} SET probe = probe + 1")  # as an older layout left it
            assert archive_index.stale_files(con) == [location]
            assert tokens.candidate_ranges(con, location, ["zq7xneedlek"]) is None  # read whole meanwhile
            assert await answers(store) == before
            assert archive_index.reindex(con, location)
            assert archive_index.stale_files(con) == []
            ranges = tokens.candidate_ranges(con, location, ["zq7xneedlek"])
            assert ranges is not None and sum(min(hi, 299) - lo + 1 for lo, hi in ranges if lo < 300) < 300
            assert await answers(store) == before
            assert not archive_index.reindex(con, "/no/such/file.parquet")  # unreadable: left read whole
        finally:
            con.close()
    finally:
        await store.close()
