"""Day tables keep typed attribute keys only in their columns (attrs_split.py) and give `attrs` back character for
character: in the hot store, after widening and late keys, across a restart, compactions, a delete, in the
archive, half archived and half hot, and in tables made before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logwarden.api.routes.admin_delete import parse_delete_filter
from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.model.schema import DUCKDB_COLUMNS
from logwarden.plan.duckdb_filter import attr_path
from logwarden.store.arrival import with_seq
from logwarden.store.base import PartitionKey, SearchQuery
from logwarden.store.duckdb import DuckDBStore, attrs_split, catalog, compact, typed
from logwarden.store.duckdb.applier import apply_batches, read_applied_seq
from logwarden.store.duckdb.partitions import quote_ident, table_name
from tests.conftest import make_config

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DAY = date(2026, 11, 18)
KEY = PartitionKey("default", DAY)
TABLE = table_name(KEY)
ALL_TIME = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))

# Values a pair could be spelled otherwise for: strings that spell numbers, escapes, non-ASCII, \u0001, nested
# objects holding the same key, nulls, booleans, long numbers, doubles.
ODD: list[dict[str, Any]] = [
    {"status": "500"},
    {"user": 'q"uote', "path": "back\\slash"},
    {"user": "é ü 日本", "path": "/ok"},
    {"user": "\x01x", "note": "ctl"},
    {"user": "u1", "inner": {"user": "u1", "status": 200}},
    {"user": "u1", "inner": {"user": "u10", "status": 2000}},
    {"user": None, "status": None},
    {"user": True, "status": 200},
    {"status": 9007199254740993, "user": "big"},
    {"user": "", "path": ""},
    {"user": "x", "user2": "x", "path": "x"},
    {"path": "/a", "user": "u2", "status": 404},
    {"user": "u5", "list": [{"user": "u5"}, 1]},
]


def line(i: int, **attrs: Any) -> dict[str, Any]:
    return {"ts": f"{DAY.isoformat()}T{i % 24:02d}:00:{i % 60:02d}Z", "msg": f"line {i}", **attrs}


def records(n: int, start: int = 0, **extra: Any) -> list[dict[str, Any]]:
    """n lines whose keys get typed columns (status, user, path), then the ODD ones."""
    plain = [line(start + i, status=200 + i % 3, user=f"u{i}", path=f"/p/{i % 5}", **extra) for i in range(n)]
    return plain + [line(start + n + i, **attrs) for i, attrs in enumerate(ODD)]


def batch(recs: list[dict[str, Any]]) -> pa.Table:
    decoded = decode_json_body(b"\n".join(orjson.dumps(r) for r in recs))
    return normalize(decoded.records, BatchContext("default", "http", NOW))


def written(table: pa.Table) -> dict[str, str | None]:
    """message → attrs text as the normalizer wrote it."""
    return dict(zip(table.column("message").to_pylist(), table.column("attrs").to_pylist(), strict=True))


def table_attrs(con: duckdb.DuckDBPyConnection, table: str = TABLE) -> dict[str, str | None]:
    """message → attrs text as the day table gives it."""
    return dict(con.execute(f"SELECT message, attrs FROM {quote_ident(table)}").fetchall())


class Hot:
    """An in-memory hot store written by the applier."""

    def __init__(self) -> None:
        self.con = duckdb.connect()
        catalog.create(self.con)
        read_applied_seq(self.con)
        self.known: set[str] = set()
        self.seq = 0
        self.want: dict[str, str | None] = {}

    def add(self, recs: list[dict[str, Any]]) -> None:
        self.seq += 1
        table = batch(recs)
        self.want.update(written(table))
        apply_batches(self.con, [(self.seq, with_seq(self.seq, table))], self.known)
        self.known.add(TABLE)

    def types(self) -> dict[str, str]:
        return {c.key: c.type for c in typed.table_columns(self.con, [TABLE])[TABLE].values()}


@pytest.fixture
def hot() -> Iterator[Hot]:
    h = Hot()
    yield h
    h.con.close()


def test_typed_keys_leave_the_stored_text_and_come_back_exactly(hot: Hot) -> None:
    hot.add(records(60))
    assert hot.types() == {"status": "BIGINT", "user": "VARCHAR", "path": "VARCHAR"}
    assert attrs_split.is_split(hot.con, TABLE)
    assert table_attrs(hot.con) == hot.want
    shapes = hot.con.execute(
        f"SELECT count(DISTINCT {attrs_split.SHAPE}), count({attrs_split.TEXT}) FROM {quote_ident(TABLE)}"
    ).fetchall()[0]
    assert shapes[0] <= 1 + len(ODD)  # the 60 plain lines share one shape
    assert shapes[1] == 1  # only the line holding \u0001 is kept whole
    plain = hot.con.execute(f"SELECT {attrs_split.SHAPE} FROM {quote_ident(TABLE)} WHERE message = 'line 1'")
    assert (
        plain.fetchall()[0][0] == r'{"status":"\u0001status\u0001","user":"\u0001user\u0001","path":"\u0001path\u0001"}'
    )


def test_keys_without_a_column_read_from_the_shape_as_from_attrs(hot: Hot) -> None:
    hot.add(records(60))
    for key in ("note", "list", "user2", "inner.user", "inner.status", "absent"):  # keys without a column
        path = typed._literal(attr_path(key))
        rows = hot.con.execute(
            f"SELECT {attrs_split.key_sql(path)} IS NOT DISTINCT FROM attrs ->> {path} FROM {quote_ident(TABLE)}"
        ).fetchall()
        assert all(same for (same,) in rows), key


def test_a_column_that_widens_turns_the_table_back_whole(hot: Hot) -> None:
    hot.add(records(60))
    rowids = hot.con.execute(f"SELECT rowid, message FROM {quote_ident(TABLE)} ORDER BY rowid").fetchall()
    hot.add([line(100 + i, status="oops", user=f"v{i}") for i in range(10)])
    assert hot.types()["status"] == "VARCHAR"
    assert not attrs_split.is_split(hot.con, TABLE)
    assert table_attrs(hot.con) == hot.want
    after = hot.con.execute(f"SELECT rowid, message FROM {quote_ident(TABLE)} ORDER BY rowid").fetchall()
    assert after[: len(rowids)] == rowids  # the block index addresses rowids


def test_a_late_key_gets_a_column_and_stays_in_the_shape(hot: Hot) -> None:
    hot.add(records(60))
    hot.add(records(60, start=200, method="GET"))
    assert hot.types()["method"] == "VARCHAR"
    assert attrs_split.is_split(hot.con, TABLE)
    assert table_attrs(hot.con) == hot.want
    late = hot.con.execute(f"SELECT count(*) FROM {quote_ident(TABLE)} WHERE \"a$method\" = 'GET'")
    assert late.fetchall()[0][0] == 60


def test_an_old_layout_table_keeps_attrs_stored(hot: Hot) -> None:
    cols = ", ".join(f"{name} {sql_type}" for name, sql_type in DUCKDB_COLUMNS)
    hot.con.execute(f"CREATE TABLE {quote_ident(TABLE)} ({cols})")  # the layout before log_ids.py and this
    hot.con.execute(
        f"INSERT INTO {quote_ident(TABLE)} (ts, observed_ts, tenant, source, log_id, message, attrs) "
        "VALUES ('2026-11-18 00:00:00+00', '2026-11-18 00:00:00+00', 'default', 'http', 'old', 'old', '{\"a\":1}')"
    )
    hot.want["old"] = '{"a":1}'
    hot.known.add(TABLE)
    hot.add(records(60))
    assert not attrs_split.is_split(hot.con, TABLE)
    assert table_attrs(hot.con) == hot.want


async def hits(store: DuckDBStore) -> dict[str, str | None]:
    """message → attrs (as text again) of every line, as the search API gives them."""
    result = await store.search(SearchQuery("default", *ALL_TIME, limit=100_000))
    return {h["message"]: orjson.dumps(h["attrs"]).decode() if h["attrs"] else None for h in result.hits}


def as_api(want: dict[str, str | None]) -> dict[str, str | None]:
    return {m: orjson.dumps(orjson.loads(a)).decode() if a else None for m, a in want.items()}


async def test_attrs_come_back_across_restart_compaction_delete_and_archive(tmp_path: Path) -> None:
    config = make_config(tmp_path, **{"archive.archive_after_days": 1, "store.retention_days": 7})
    lines = batch(records(3000))
    want = written(lines)
    path = Path(config.data_dir) / "hot.duckdb"
    store = DuckDBStore(config)
    try:
        await store.append(lines)
        await store.flush()
        assert await hits(store) == as_api(want)
        assert await store.compact_hot(force=True) is not None
        node, start, end = parse_delete_filter("user:u7", NOW)
        report = await store.delete_lines("default", node, start, end, where="user:u7")
        assert report.hot_lines == 1
        del want["line 7"]
        assert await hits(store) == as_api(want)
    finally:
        await store.close()
    compact.compact_file(path)  # the copy at a clean stop: the table's statement and stored columns only
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert attrs_split.is_split(con, TABLE)
        assert table_attrs(con) == want
    finally:
        con.close()

    store = DuckDBStore(config)
    try:
        # Half and half: a line of today stays hot (split) while the day is archived.
        fresh = batch([{"ts": "2026-11-21T01:00:00Z", "msg": "fresh", "status": 201, "user": "f", "path": "/f"}])
        await store.append(fresh)
        await store.flush()
        want |= written(fresh)
        assert (await store.maintain(now=NOW)).archived == [KEY]
        assert await hits(store) == as_api(want)
        files = list(Path(config.archive_root).rglob("*.parquet"))
        archived = pq.read_table(files[0], columns=["message", "attrs"])
        assert written(archived) == {m: a for m, a in want.items() if m != "fresh"}  # whole text in Parquet
    finally:
        await store.close()


@pytest.mark.parametrize("text", ['{"k":"v"}', '{"k":1,"n":"x"}', '{"n":"k","k":"\\u0001"}', "{}", None])
def test_rebuild_is_the_identity(text: str | None) -> None:
    cols = [typed.TypedColumn("k", "a$k", "VARCHAR"), typed.TypedColumn("n", "a$n", "BIGINT")]
    con = duckdb.connect()
    con.execute(f'CREATE TABLE t ({attrs_split.generated_ddl(cols)}, "a$k" VARCHAR, "a$n" BIGINT)')
    con.execute("CREATE TABLE src AS SELECT CAST(? AS VARCHAR) AS attrs", [text])
    values = ["try(json_extract_string(attrs, '/k'))", "TRY_CAST(json_extract_string(attrs, '/n') AS BIGINT)"]
    con.execute(
        f'INSERT INTO t ({attrs_split.SHAPE}, {attrs_split.TEXT}, "a$k", "a$n") '
        f"SELECT {attrs_split.insert_values(attrs_split.shape_sql(cols, values))}, {', '.join(values)} FROM src"
    )
    assert con.execute("SELECT attrs FROM t").fetchall() == [(text,)]


def test_a_table_shaped_otherwise_is_joined_before_rows_are_added(hot: Hot) -> None:
    cols = [typed.TypedColumn("user", "a$user", "VARCHAR")]
    ddl = attrs_split.generated_ddl(cols).replace("\\u0001", "\\u0002")  # as another version would mark values
    core = ", ".join(f"{n} {t}" for n, t in DUCKDB_COLUMNS if n != "attrs")
    hot.con.execute(f'CREATE TABLE {quote_ident(TABLE)} ({core}, {ddl}, "a$user" VARCHAR)')
    hot.con.execute(
        f'INSERT INTO {quote_ident(TABLE)} (ts, observed_ts, tenant, source, log_id, message, attrs_shape, "a$user") '
        "VALUES ('2026-11-18 00:00:00+00', '2026-11-18 00:00:00+00', 'default', 'http', 'old', 'old', "
        "'{\"user\":\"\\u0002user\\u0002\"}', 'u9')"
    )
    hot.want["old"] = '{"user":"u9"}'
    hot.known.add(TABLE)
    hot.add(records(60))
    assert not attrs_split.is_split(hot.con, TABLE)
    assert table_attrs(hot.con) == hot.want
