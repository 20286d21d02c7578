"""Fine-grained block filters (tokens and id fields): never skip a block holding a match, in the hot store,
in archived Parquet, and after a crash during index maintenance."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.model.schema import LOG_SCHEMA
from logwarden.plan.filter import And, Equals, FieldRef, terms_filter
from logwarden.plan.nodes import SearchPlan, TracePlan
from logwarden.store.duckdb import DuckDBStore, archive_index, tokens
from logwarden.store.duckdb.applier import apply_batches, read_applied_seq
from logwarden.store.duckdb.partitions import quote_ident
from tests.conftest import make_config

DAY = datetime(2026, 11, 21, tzinfo=UTC)
TABLE = "logs$default$20261121"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ALL_TIME = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
VOCAB = ["alpha", "beta", "Gamma", "delta", "timeout", "refused", "db-7", "x=1", "Ünï", "a_b", "zq7x"]
TRACES = [f"{i:032x}" for i in range(1, 9)]
REQUESTS = ["r-1", "R-1", "r-2", "r 3"]


def rows_batch(messages: list[str], traces: list[str | None], requests: list[str | None], start: int) -> pa.Table:
    n = len(messages)
    ts = [DAY + timedelta(seconds=start + i) for i in range(n)]
    attrs = [orjson.dumps({"request_id": r}).decode() if r is not None else None for r in requests]
    return pa.table(
        {
            "ts": ts,
            "observed_ts": ts,
            "tenant": ["default"] * n,
            "service": ["svc"] * n,
            "host": ["h"] * n,
            "level": ["INFO"] * n,
            "severity": [9] * n,
            "message": messages,
            "trace_id": traces,
            "span_id": [None] * n,
            "source": ["http"] * n,
            "log_id": [f"id-{start + i}" for i in range(n)],
            "attrs": attrs,
            "pattern_id": [None] * n,
        },
        schema=LOG_SCHEMA,
    )


def whole_tokens(message: str) -> set[str]:
    return {t.lower() for t in re.findall(r"[A-Za-z0-9_\x80-\U0010ffff]+", message) if t.isascii()}


def in_ranges(rowid: int, ranges: list[tuple[int, int]]) -> bool:
    return any(lo <= rowid <= hi for lo, hi in ranges)


lines = st.tuples(
    st.lists(st.sampled_from(VOCAB), min_size=0, max_size=4).map(" ".join),
    st.one_of(st.none(), st.sampled_from(TRACES)),
    st.one_of(st.none(), st.sampled_from(REQUESTS)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(st.lists(lines, min_size=1, max_size=40), min_size=1, max_size=5),
    block_rows=st.sampled_from([3, 8, 50]),
    queries=st.lists(st.lists(st.sampled_from([*VOCAB, "absent"]), min_size=1, max_size=3), min_size=1, max_size=6),
)
def test_index_never_skips_a_block_that_holds_a_match(
    monkeypatch: pytest.MonkeyPatch,
    batches: list[list[tuple[str, str | None, str | None]]],
    block_rows: int,
    queries: list[list[str]],
) -> None:
    monkeypatch.setattr(tokens, "BLOCK_ROWS", block_rows)
    monkeypatch.setattr(tokens, "INDEXED_FIELDS", ("trace_id", "request_id"))
    con = duckdb.connect(config={"preserve_insertion_order": False})
    try:
        read_applied_seq(con)
        start = 0
        for seq, rows in enumerate(batches, 1):
            msgs, traces, reqs = (list(c) for c in zip(*rows, strict=True))
            apply_batches(con, [(seq, rows_batch(msgs, traces, reqs, start))], set())
            start += len(rows)
        stored = con.execute(
            f"SELECT rowid, message, trace_id, json_extract_string(attrs, '$.request_id') FROM {quote_ident(TABLE)}"
        ).fetchall()
        keyed: list[tuple[list[str], set[int]]] = []
        for words in queries:
            needed = [t for w in words for t in tokens.query_tokens(w)]
            keyed.append((needed, {r for r, m, _, _ in stored if set(needed) <= whole_tokens(m)}))
        for field, column in (("trace_id", 2), ("request_id", 3)):
            for value in (TRACES if field == "trace_id" else REQUESTS) + ["absent"]:
                keyed.append(([tokens.field_key(field, value)], {r[0] for r in stored if r[column] == value}))
        for keys, matching in keyed:
            ranges = tokens.candidate_ranges(con, TABLE, keys)
            if ranges is None:
                continue
            assert all(in_ranges(rowid, ranges) for rowid in matching), (keys, ranges)
        # The index is used at all: an id no row has narrows to the (empty) tail past the covered rows.
        assert tokens.candidate_ranges(con, TABLE, [tokens.field_key("trace_id", "absent")]) is not None
    finally:
        con.close()


def test_id_field_keys_never_equal_a_message_token() -> None:
    # `=` separates tokens, so a message holding "trace_id=abc" indexes trace_id and abc, never the key.
    assert tokens.field_key("trace_id", "abc") not in tokens.query_tokens("trace_id=abc")


def test_indexed_field_change_resets_coverage(monkeypatch: pytest.MonkeyPatch) -> None:
    con = duckdb.connect(config={"preserve_insertion_order": False})
    try:
        read_applied_seq(con)
        apply_batches(con, [(1, rows_batch(["a"] * 10, ["t1"] * 10, ["r"] * 10, 0))], set())
        # Filters built without request_id cannot answer for it: its key is ignored, never trusted.
        assert tokens.candidate_ranges(con, TABLE, [tokens.field_key("request_id", "zzz")]) is None
        monkeypatch.setattr(tokens, "INDEXED_FIELDS", ("trace_id", "request_id"))
        apply_batches(con, [(2, rows_batch(["b"] * 10, ["t2"] * 10, ["r"] * 10, 10))], set())
        # Rows 0-9 were indexed without request_id: they are read in full from now on.
        ranges = tokens.candidate_ranges(con, TABLE, [tokens.field_key("request_id", "zzz")])
        assert ranges is not None and in_ranges(0, ranges) and in_ranges(9, ranges)
    finally:
        con.close()


def test_old_layout_filters_are_replaced() -> None:
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TABLE {tokens.OLD_BLOOM_TABLE} (tbl VARCHAR, block BIGINT, seg USMALLINT, w0 UBIGINT)")
        tokens.create(con)
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        assert tokens.OLD_BLOOM_TABLE not in tables
        names = [r[0] for r in con.execute(f"DESCRIBE {tokens.BLOOM_TABLE}").fetchall()]
        assert names == ["tbl", "seg", "first_block", "words"]
    finally:
        con.close()


# --- the store: hot, archived, and in memory ------------------------------------------------


def records(day: date, n: int, tag: str) -> list[dict[str, object]]:
    rng = random.Random(f"{day}{tag}")
    out: list[dict[str, object]] = []
    for i in range(n):
        rec: dict[str, object] = {
            "ts": f"{day.isoformat()}T{i * 24 // n:02d}:{i % 60:02d}:00Z",
            "msg": f"{tag} {rng.choice(VOCAB)} request {i}",
            "service": "svc",
            "trace_id": TRACES[i % len(TRACES)] if i % 3 else None,
        }
        if i in (7, n - 5):
            rec["msg"] = f"{tag} found zq7xneedlek here"
        out.append(rec)
    return out


def batch(recs: list[dict[str, object]]) -> pa.Table:
    decoded = decode_json_body(b"\n".join(orjson.dumps(r) for r in recs))
    return normalize(decoded.records, BatchContext("default", "http", NOW))


async def needle_and_trace(store: DuckDBStore) -> tuple[list[str], list[str]]:
    hits = await store.execute(SearchPlan("default", *ALL_TIME, terms_filter(("zq7xneedlek",), {}), 1000))
    trace = await store.execute(TracePlan("default", *ALL_TIME, TRACES[2], 10_000))
    # `trace_id:<id>` in a search narrows by the same id index and finds the same lines.
    by_field = await store.execute(
        SearchPlan("default", *ALL_TIME, Equals(FieldRef.parse("trace_id"), TRACES[2]), 10_000)
    )
    assert sorted(by_field.column("log_id").to_pylist()) == sorted(trace.column("log_id").to_pylist())
    return sorted(hits.column("log_id").to_pylist()), sorted(trace.column("log_id").to_pylist())


async def test_queries_over_hot_and_archived_data_use_both_indexes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "BLOCK_ROWS", 64)
    cfg = make_config(tmp_path, **{"archive.archive_after_days": 1, "store.retention_days": 7})
    store = DuckDBStore(cfg)
    try:
        old, fresh = date(2026, 11, 18), date(2026, 11, 21)
        await store.append(batch(records(old, 600, "old") + records(fresh, 600, "new")))
        await store.flush()
        expected = await needle_and_trace(store)
        both = records(old, 600, "old") + records(fresh, 600, "new")
        in_trace = [r for r in both if r["trace_id"] == TRACES[2]]
        assert len(expected[0]) == 4 and len(expected[1]) == len(in_trace) > 0
        assert (await store.maintain(now=NOW)).archived
        hot, archived = store.partitions()
        assert len(hot) == 1 and len(archived) == 1
        # Unapplied lines (in memory) are found too.
        await store.append(batch(records(fresh, 16, "late")))
        late = [r for r in records(fresh, 16, "late")]
        cur = store._db.cursor()
        try:
            (location,) = cur.execute("SELECT path FROM _archive_files").fetchall()[0]
            ranges = tokens.candidate_ranges(cur, location, ["zq7xneedlek"])
            assert ranges is not None and sum(hi - lo + 1 for lo, hi in ranges if hi < 1 << 40) < 600
            # The archive file has Parquet bloom filters on the id columns for other engines too.
            meta = pq.ParquetFile(location).metadata
            trace_col = meta.schema.names.index("trace_id")
            assert meta.row_group(0).column(trace_col).to_dict().get("bloom_filter_offset") is not None
        finally:
            cur.close()
        needles, trace = await needle_and_trace(store)
        late_needles = sum(1 for r in late if "zq7xneedlek" in str(r["msg"]))
        assert len(needles) == len(expected[0]) + late_needles
        assert set(expected[0]) <= set(needles)
        assert set(expected[1]) <= set(trace)
        assert len(trace) == len(expected[1]) + sum(1 for r in late if r["trace_id"] == TRACES[2])
    finally:
        await store.close()


async def test_archived_filters_go_with_retention(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"archive.archive_after_days": 1, "store.retention_days": 5})
    store = DuckDBStore(cfg)
    try:
        await store.append(batch(records(date(2026, 11, 18), 50, "old")))
        await store.maintain(now=NOW)
        cur = store._db.cursor()
        assert cur.execute(f"SELECT count(*) FROM {tokens.COVERAGE_TABLE}").fetchall()[0][0] == 1
        await store.maintain(now=NOW + timedelta(days=3))  # past retention: the file and its filters go
        assert cur.execute(f"SELECT count(*) FROM {tokens.COVERAGE_TABLE}").fetchall() == [(0,)]
        assert cur.execute(f"SELECT count(*) FROM {tokens.BLOOM_TABLE}").fetchall() == [(0,)]
        cur.close()
    finally:
        await store.close()


_CRASHER = textwrap.dedent(
    """
    import asyncio, os, sys
    from datetime import date, datetime
    sys.path.insert(0, {root!r})
    from logwarden.store.duckdb import DuckDBStore, archive_index, tokens
    from tests.conftest import make_config
    from tests.unit.store.test_block_index import batch, records

    where = sys.argv[1]
    real = getattr(tokens if where == "apply" else archive_index, "index_appended" if where == "apply" else "build")

    def crash(*args, **kwargs):
        real(*args, **kwargs)
        os._exit(9)  # after the filters are computed, before their transaction commits

    async def main():
        store = DuckDBStore(make_config(__import__("pathlib").Path({tmp!r}), **{{"archive.archive_after_days": 1}}))
        if where == "apply":
            await store.append(batch(records(date(2026, 11, 18), 300, "old")))  # acknowledged: in the log
            tokens.index_appended = crash
            await store.flush()
        else:
            archive_index.build = crash
            await store.maintain(now=datetime.fromisoformat({now!r}))
        os._exit(3)  # not reached

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("where", ["apply", "archive"])
async def test_crash_during_index_maintenance_gives_no_wrong_answers(tmp_path: Path, where: str) -> None:
    cfg = make_config(tmp_path, **{"archive.archive_after_days": 1})
    if where == "archive":
        store = DuckDBStore(cfg)
        await store.append(batch(records(date(2026, 11, 18), 300, "old")))
        await store.close()
    root = str(Path(__file__).resolve().parents[3])
    script = _CRASHER.format(root=root, tmp=str(tmp_path), now=NOW.isoformat())
    env = {**os.environ, "PYTHONPATH": root}
    done = subprocess.run([sys.executable, "-c", script, where], env=env, cwd=root, timeout=120, check=False)
    assert done.returncode == 9
    store = DuckDBStore(cfg)  # restart: replay (apply) or drop the half-made archive file (archive)
    try:
        needles, trace = await needle_and_trace(store)
        assert len(needles) == 2
        assert len(trace) == sum(1 for r in records(date(2026, 11, 18), 300, "old") if r["trace_id"] == TRACES[2])
        hot, archived = store.partitions()
        assert (len(hot), len(archived)) == (1, 0)
        await store.maintain(now=NOW)  # archiving again works and still answers right
        assert await needle_and_trace(store) == (needles, trace)
    finally:
        await store.close()


def test_archive_file_filters_match_file_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "BLOCK_ROWS", 5)
    msgs = [f"row {i} {'needle' if i in (3, 17) else 'hay'}" for i in range(30)]
    path = str(tmp_path / "f.parquet")
    pq.write_table(rows_batch(msgs, [None] * 30, [None] * 30, 0), path)
    con = duckdb.connect()
    try:
        tokens.create(con)
        archive_index.store(con, path, 30, archive_index.build(con, path))
        ranges = tokens.candidate_ranges(con, path, ["needle"])
        assert ranges is not None
        assert in_ranges(3, ranges) and in_ranges(17, ranges)
        assert not in_ranges(10, ranges)  # a block without it is skipped (16 KiB filters: no false positive here)
    finally:
        con.close()


def test_an_exact_indexed_field_filter_requires_its_key() -> None:
    from logwarden.store.duckdb.plan_sql import required_tokens

    node = And((Equals(FieldRef.parse("trace_id"), "AbC"), terms_filter(("boom",), {})))
    assert set(required_tokens(node)) == {tokens.field_key("trace_id", "AbC"), "boom"}
    assert required_tokens(Equals(FieldRef.parse("service"), "x")) == ()  # not an indexed field


def test_rebuild_gives_the_filters_appends_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "BLOCK_ROWS", 7)
    monkeypatch.setattr(tokens, "REBUILD_BLOCKS", 2)  # several passes
    rng = random.Random(5)
    con = duckdb.connect(config={"preserve_insertion_order": False})
    try:
        read_applied_seq(con)
        start = 0
        for seq in range(1, 6):
            n = rng.randint(1, 30)
            msgs = [" ".join(rng.choices(VOCAB, k=3)) for _ in range(n)]
            apply_batches(con, [(seq, rows_batch(msgs, rng.choices([*TRACES, None], k=n), [None] * n, start))], set())
            start += n
        snapshot = f"SELECT * FROM {tokens.BLOOM_TABLE} ORDER BY ALL"
        built = con.execute(snapshot).fetchall()
        coverage = con.execute(f"SELECT * FROM {tokens.COVERAGE_TABLE}").fetchall()
        assert not tokens.needs_rebuild(con, TABLE)
        tokens.rebuild(con, TABLE)
        assert con.execute(snapshot).fetchall() == built
        assert con.execute(f"SELECT * FROM {tokens.COVERAGE_TABLE}").fetchall() == coverage
    finally:
        con.close()


async def test_tables_without_filters_are_indexed_at_start(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    store = DuckDBStore(cfg)
    await store.append(batch(records(date(2026, 11, 18), 300, "old")))
    await store.close()
    con = duckdb.connect(str(Path(cfg.data_dir) / "hot.duckdb"))
    con.execute(f"DELETE FROM {tokens.BLOOM_TABLE}")  # as an older version left it: no filters
    con.execute(f"DELETE FROM {tokens.COVERAGE_TABLE}")
    con.close()
    store = DuckDBStore(cfg)
    try:
        cur = store._db.cursor()
        (table,) = cur.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'logs$%'").fetchall()[0]
        assert cur.execute(f"SELECT lo, hi FROM {tokens.COVERAGE_TABLE}").fetchall() == [(0, 300)]
        assert tokens.candidate_ranges(cur, table, ["zq7xneedlek"]) is not None
        cur.close()
        needles, trace = await needle_and_trace(store)
        assert len(needles) == 2 and trace
    finally:
        await store.close()
