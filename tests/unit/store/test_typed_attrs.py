"""Typed attributes (store/duckdb/typed.py): which keys get columns and of what type, widening, late keys,
and that queries read the columns where a partition has them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.query.parser import parse
from logwarden.query.planner import plan
from logwarden.store.arrival import with_seq
from logwarden.store.duckdb import DuckDBStore, catalog, typed
from logwarden.store.duckdb.applier import apply_batches, read_applied_seq
from logwarden.store.duckdb.execute import prepare
from logwarden.store.duckdb.partitions import table_name
from logwarden.store.duckdb.search import source_sql
from tests.conftest import make_config

TENANT = "default"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ALL_TIME = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def stored(records: list[dict[str, Any]], seq: int) -> pa.Table:
    """Records as the applier receives them: decoded, normalized, numbered."""
    decoded = decode_json_body(b"\n".join(orjson.dumps(r) for r in records))
    return with_seq(seq, normalize(decoded.records, BatchContext(TENANT, "http", NOW)))


class Hot:
    """A hot store's DuckDB file (in memory) written by the applier and read by the store's query path."""

    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        catalog.create(self.con)
        read_applied_seq(self.con)
        self.known: set[str] = set()
        self.seq = 0

    def add(self, records: list[dict[str, Any]]) -> None:
        self.seq += 1
        apply_batches(self.con, [(self.seq, stored(records, self.seq))], self.known)

    def columns(self) -> dict[str, str]:
        """key → type of the typed columns of every table (keys are distinct across the tests' tables)."""
        tables = [table_name(k) for k in catalog.hot_partitions(self.con)]
        found = typed.table_columns(self.con, tables)
        return {c.key: c.type for cols in found.values() for c in cols.values()}

    def query(self, text: str, limit: int = 1000) -> pa.Table:
        """The answer of the store's query path (prepare → source with the attribute columns → run)."""
        the_plan = plan(parse(text), tenant=TENANT, start=ALL_TIME[0], end=ALL_TIME[1], limit=limit).plan
        prepared = prepare(the_plan)
        cur = self.con.cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            hot, files = catalog.sources_for(cur, TENANT, *ALL_TIME)
            params: dict[str, Any] = {}
            columns = None
            if prepared.attrs:
                columns = typed.source_columns(cur, prepared.attrs, [table_name(k) for k in hot], files)
            src = source_sql(TENANT, hot, files, params, columns=columns)
            return prepared.run(cur, src, params)
        finally:
            cur.execute("ROLLBACK")
            cur.close()

    def close(self) -> None:
        self.con.close()


@pytest.fixture
def hot() -> Iterator[Hot]:
    h = Hot()
    yield h
    h.close()


def line(i: int, **attrs: Any) -> dict[str, Any]:
    return {"ts": f"2026-11-21T01:{i // 60 % 60:02d}:{i % 60:02d}Z", "msg": f"line {i}", **attrs}


def count(h: Hot, text: str) -> int:
    return int(h.query(f"{text} | stats count() as n").column("n")[0].as_py())


def test_column_names_are_distinct_case_insensitively() -> None:
    names = [typed.column_name(k) for k in ("status", "Status", "STATUS", "a.b", "a/b", "x-y:z@w")]
    assert len({n.lower() for n in names}) == len(names)
    assert typed.column_name("Status") == "a$^status"
    for key in ("status", "Status", "a.b", "x-y:z@w"):
        assert typed.key_of(typed.column_name(key)) == key
    assert typed.key_of("message") is None
    assert typed.key_of("a$^^x") is None


def test_types_follow_the_values(hot: Hot) -> None:
    hot.add(
        [line(i, status=200 + i, latency=i + 0.5, host_tag=f"web-{i % 3}", flag=True, blob=[1, 2]) for i in range(20)]
    )
    assert hot.columns() == {
        "status": "BIGINT",
        "latency": "DOUBLE",
        "host_tag": "VARCHAR",
        "flag": "VARCHAR",
        "blob": "VARCHAR",
    }
    assert count(hot, "status:>=210") == 10
    assert count(hot, "latency:<2") == 2
    assert count(hot, "host_tag:web-1") == 7


def test_a_value_that_does_not_fit_widens_the_column_to_text(hot: Hot) -> None:
    hot.add([line(i, status=500) for i in range(10)])
    assert hot.columns() == {"status": "BIGINT"}
    # `500.0` and `0500` are numbers too, but a BIGINT would print them as 500: the column becomes text.
    hot.add([line(20, status=500.0), line(21, status="0500"), line(22, status="oops")])
    assert hot.columns() == {"status": "VARCHAR"}
    assert count(hot, "status:500") == 10
    assert count(hot, "status:500.0") == 1
    assert count(hot, "status:>=500") == 12
    assert count(hot, "status:oops") == 1
    assert hot.query("| top 5 status").to_pylist()[0] == {"status": "500", "count": 10, "percent": 76.92}


def test_a_key_seen_later_gets_its_column_filled_for_earlier_rows(hot: Hot) -> None:
    with mock.patch.object(typed, "MIN_SHARE", 0.5):
        hot.add([line(i, status=200, **({"user": f"u{i}"} if i < 3 else {})) for i in range(10)])
        assert hot.columns() == {"status": "BIGINT"}  # `user` in 3 of 10 lines: attrs only
        hot.add([line(100 + i, status=200, user=f"u{i}") for i in range(10)])
    assert hot.columns() == {"status": "BIGINT", "user": "VARCHAR"}
    table = table_name(catalog.hot_partitions(hot.con)[0])
    filled = hot.con.execute(f'SELECT count("a$user") FROM "{table}"').fetchall()[0][0]
    assert filled == 13
    assert count(hot, "user:u1") == 2


def test_a_late_key_takes_a_type_every_row_fits(hot: Hot) -> None:
    with mock.patch.object(typed, "MIN_SHARE", 0.5):
        hot.add([line(0, n="x1"), line(1)])
        hot.add([line(10 + i, n=i) for i in range(10)])
    assert hot.columns() == {"n": "VARCHAR"}
    assert count(hot, "n:>=5") == 5
    assert count(hot, "n:x1") == 1


def test_rare_long_and_unnameable_keys_stay_in_attrs(hot: Hot) -> None:
    rows = [line(i, common=i, text="y" * 100, **{"odd key": 1, "ünï": 2}) for i in range(40)]
    rows[0]["rare"] = 1  # 1 of 40 lines: below MIN_SHARE
    hot.add(rows)
    assert hot.columns() == {"common": "BIGINT"}
    assert count(hot, "rare:1") == 1
    assert count(hot, 'text:"' + "y" * 100 + '"') == 40


def test_columns_per_table_are_capped(hot: Hot) -> None:
    with mock.patch.object(typed, "MAX_COLUMNS", 3):
        hot.add([line(i, **{f"k{j}": j for j in range(6)}) for i in range(5)])
        hot.add([line(10, k6=1)])
    assert len(hot.columns()) == 3
    assert count(hot, "k5:5") == 5


def test_queries_read_the_typed_column_not_the_json(hot: Hot) -> None:
    hot.add([line(i, status=200 + i, path=f"/p{i % 2}") for i in range(10)])
    the_plan = plan(parse("status:>=205 | top 3 path"), tenant=TENANT, start=ALL_TIME[0], end=ALL_TIME[1]).plan
    prepared = prepare(the_plan)
    assert {(r.key, r.kind) for r in prepared.attrs} == {("status", "number"), ("path", "text")}
    tables = [table_name(k) for k in catalog.hot_partitions(hot.con)]
    columns = typed.source_columns(hot.con, prepared.attrs, tables, [])
    src = source_sql(TENANT, catalog.hot_partitions(hot.con), [], {}, columns=columns)
    assert "->>" not in src and '"a$status"' in src and '"a$path"' in src
    assert "->>" in columns.memory()  # batches not yet applied: from attrs
    assert hot.query("status:>=205 | top 3 path").to_pylist() == [
        {"path": "/p1", "count": 3, "percent": 60.0},
        {"path": "/p0", "count": 2, "percent": 40.0},
    ]


def test_insert_keeps_attrs_whole(hot: Hot) -> None:
    hot.add([line(i, status=200) for i in range(5)])
    hits = hot.query("status:200").to_pylist()
    assert all(orjson.loads(h["attrs"]) == {"status": 200} for h in hits)


async def test_archived_hot_and_unapplied_lines_answer_together(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"archive.archive_after_days": 1, "store.retention_days": 30})
    store = DuckDBStore(cfg)

    async def ask(text: str) -> list[dict[str, Any]]:
        the_plan = plan(parse(text), tenant=TENANT, start=ALL_TIME[0], end=ALL_TIME[1]).plan
        return (await store.execute(the_plan)).to_pylist()

    try:
        day = [f"2026-11-{d:02d}T01:00:{i:02d}Z" for d in (17, 18, 21) for i in range(10)]
        numbers = [{"ts": ts, "msg": "a", "status": 200 + 100 * (i % 4)} for i, ts in enumerate(day[:10])]
        texts = [{"ts": ts, "msg": "b", "status": ["500", "oops"][i % 2]} for i, ts in enumerate(day[10:20])]
        fresh = [{"ts": ts, "msg": "c", "status": 500} for ts in day[20:]]
        await store.append(stored(numbers + texts + fresh, 0).drop_columns(["seq"]))
        report = await store.maintain(now=NOW)
        assert len(report.archived) == 2
        files = sorted(Path(cfg.archive_root).rglob("part-*.parquet"))
        schemas = [pq.read_schema(f) for f in files]
        assert [s.field("a$status").type for s in schemas] == [pa.int64(), pa.string()]
        recorded = typed.file_columns(store._db.cursor(), [str(f) for f in files])
        assert sorted(c["status"].type for c in recorded.values()) == ["BIGINT", "VARCHAR"]
        await store.append(stored([{"ts": day[20], "msg": "d", "status": 503}], 0).drop_columns(["seq"]))
        assert await ask("status:>=500 | stats count() as n") == [{"n": 2 + 5 + 10 + 1}]
        assert await ask("status:500 | stats count() as n by message") == [
            {"message": "c", "n": 10},
            {"message": "b", "n": 5},
            {"message": "a", "n": 2},
        ]
        assert (await ask("| top 1 status"))[0] == {"status": "500", "count": 17, "percent": 54.84}
    finally:
        await store.close()
