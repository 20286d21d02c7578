"""Day tables store generated log ids as two integers (log_ids.py) and give every id back character for character:
from the hot store, after a restart, a live compaction, a delete, in the archive, and in tables made before."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.model.schema import DUCKDB_COLUMNS
from logwarden.plan.filter import terms_filter
from logwarden.store.base import PartitionKey, SearchQuery
from logwarden.store.duckdb import DuckDBStore, compact, log_ids
from logwarden.store.duckdb.partitions import quote_ident, table_name
from tests.conftest import make_config

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DAY = date(2026, 11, 18)
KEY = PartitionKey("default", DAY)
ALL_TIME = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
# Client ids, among them some that look generated: 22 lower-case hex digits go to the integers, the others stay text.
CLIENT_IDS = ["0123456789abcdef012345", "0123456789ABCDEF012345", "ffffffffffffffffffffff", "app@17", "x", "é" * 22]


def batch(records: list[dict[str, str]]) -> pa.Table:
    decoded = decode_json_body(b"\n".join(orjson.dumps(r) for r in records))
    return normalize(decoded.records, BatchContext("default", "http", NOW))


def records(n: int, word: str = "line") -> list[dict[str, str]]:
    """n lines of DAY without log ids, then one per CLIENT_IDS with it."""
    lines = [{"ts": f"{DAY.isoformat()}T{i % 24:02d}:00:00Z", "msg": f"{word} {i}"} for i in range(n)]
    given = [
        {"ts": f"{DAY.isoformat()}T12:00:00Z", "msg": f"{word} client {i}", "log_id": log_id}
        for i, log_id in enumerate(CLIENT_IDS)
    ]
    return lines + given


async def stored_ids(store: DuckDBStore) -> dict[str, str]:
    """message → log_id of every line, as the search API gives them."""
    result = await store.search(SearchQuery("default", *ALL_TIME, limit=100_000))
    return {h["message"]: h["log_id"] for h in result.hits}


def expected(table: pa.Table) -> dict[str, str]:
    return dict(zip(table.column("message").to_pylist(), table.column("log_id").to_pylist(), strict=True))


def split_rows(path: Path) -> tuple[int, int]:
    """(rows whose id is stored as integers, rows whose id is text) of KEY's table in a closed hot.duckdb."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute(
            f"SELECT count({log_ids.BATCH}), count({log_ids.TEXT}) FROM {quote_ident(table_name(KEY))}"
        ).fetchall()[0]
        return int(row[0]), int(row[1])
    finally:
        con.close()


async def test_generated_and_client_ids_come_back_unchanged_across_restart_compaction_and_archive(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, **{"archive.archive_after_days": 1, "store.retention_days": 7})
    lines = batch(records(3000))
    want = expected(lines)
    generated = pc.sum(pc.match_substring_regex(lines.column("log_id"), "^[0-9a-f]{22}$")).as_py()
    assert generated == 3000 + 2  # the normalizer's ids and the two client ids spelled like them

    store = DuckDBStore(config)
    try:
        await store.append(lines)
        assert await stored_ids(store) == want  # from memory
        await store.flush()
        assert await stored_ids(store) == want  # from the split columns
        assert await store.compact_hot(force=True) is not None
        assert await stored_ids(store) == want
    finally:
        await store.close()
    path = Path(config.data_dir) / "hot.duckdb"
    assert split_rows(path) == (generated, len(want) - generated)
    compact.compact_file(path)  # the copy at a clean stop: the table's statement and stored columns only
    assert split_rows(path) == (generated, len(want) - generated)

    store = DuckDBStore(config)
    try:
        assert await stored_ids(store) == want  # after a restart
        assert (await store.maintain(now=NOW)).archived == [KEY]
        assert await stored_ids(store) == want  # from Parquet
        files = list(Path(config.archive_root).rglob("*.parquet"))
        assert len(files) == 1
        archived = pq.read_table(files[0], columns=["message", "log_id"])
        assert expected(archived) == want  # the archive holds the ids as text, as other readers expect
    finally:
        await store.close()


async def test_filters_and_context_by_log_id_see_the_spelled_id(tmp_path: Path) -> None:
    store = DuckDBStore(make_config(tmp_path))
    try:
        lines = batch(records(50))
        await store.append(lines)
        await store.flush()
        one = lines.column("log_id")[7].as_py()
        for wanted in (one, *CLIENT_IDS):
            result = await store.search(SearchQuery("default", *ALL_TIME, equals={"log_id": (wanted,)}))
            assert [h["log_id"] for h in result.hits] == [wanted]
        # Upper-case hex is another id: it must not find the lower-case one.
        result = await store.search(SearchQuery("default", *ALL_TIME, equals={"log_id": (one.upper(),)}))
        assert result.hits == []
    finally:
        await store.close()


async def test_delete_keeps_the_other_ids(tmp_path: Path) -> None:
    store = DuckDBStore(make_config(tmp_path))
    try:
        lines = batch(records(200))
        want = expected(lines)
        await store.append(lines)
        await store.flush()
        victim = lines.column("log_id")[3].as_py()
        report = await store.delete_lines("default", terms_filter((), {"log_id": (victim,)}), where="log_id")
        assert report.hot_lines == 1
        del want["line 3"]
        assert await stored_ids(store) == want
    finally:
        await store.close()


async def test_a_table_made_before_keeps_its_text_column(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    path = Path(config.data_dir) / "hot.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    cols = ", ".join(f"{name} {sql_type}" for name, sql_type in DUCKDB_COLUMNS)
    con.execute(f"CREATE TABLE {quote_ident(table_name(KEY))} ({cols})")  # the layout before log_ids.py
    con.close()
    store = DuckDBStore(config)
    try:
        lines = batch(records(100))
        await store.append(lines)
        await store.flush()
        assert await stored_ids(store) == expected(lines)
        assert await store.compact_hot(force=True) is not None
        assert await stored_ids(store) == expected(lines)
    finally:
        await store.close()
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert not log_ids.is_split(con, table_name(KEY))
    finally:
        con.close()


@pytest.mark.parametrize("log_id", ["0123456789abcdef012345", "0000000000000000000000", "ffffffffffffffffffffff"])
@pytest.mark.parametrize("seq", [None, 0, 5, (7 << 26) + 3, 2**62])
def test_parts_spell_the_id_back(log_id: str, seq: int | None) -> None:
    con = duckdb.connect()
    try:
        row = con.execute(
            f"SELECT {log_ids.VALUE_SQL}, {log_ids.TEXT} FROM (SELECT {log_ids.parts_sql('$id', '$seq')}, $seq) "
            f"AS t({log_ids.TEXT}, {log_ids.BATCH}, {log_ids.OFFSET}, seq)",
            {"id": log_id, "seq": seq},
        ).fetchall()[0]
        assert row == (log_id, None)
    finally:
        con.close()
