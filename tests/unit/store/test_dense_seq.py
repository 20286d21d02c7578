"""Stored `seq` is numbered densely in apply order (applier.number_rows): unique within a tenant, in arrival order,
above what stores of the previous format hold, below every batch not yet applied, and ~free on disk."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from logwarden.model.schema import LOG_SCHEMA, SEQ_ROW_BITS, STORED_COLUMNS
from logwarden.store.arrival import with_seq
from logwarden.store.base import PartitionKey
from logwarden.store.duckdb import log_ids
from logwarden.store.duckdb.applier import (
    SEQ_STATE,
    STATE_TABLE,
    apply_batches,
    probe_batches,
    read_applied_seq,
)
from logwarden.store.duckdb.partitions import create_table_sql, quote_ident, table_name

TS = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # fixed: no test depends on today's date


def lines(n: int, tenant: str = "default", ts: datetime = TS, word: str = "line") -> pa.Table:
    rows = [
        {
            "ts": ts,
            "observed_ts": ts,
            "tenant": tenant,
            "message": f"{word} {i}",
            "source": "http",
            "log_id": f"{word}{i}",
        }
        for i in range(n)
    ]
    return pa.Table.from_pylist(rows, schema=LOG_SCHEMA)


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "hot.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    read_applied_seq(con)
    yield con
    con.close()


def stored(con: duckdb.DuckDBPyConnection, key: PartitionKey) -> list[tuple[str, int]]:
    rows = con.execute(f"SELECT message, seq FROM {quote_ident(table_name(key))} ORDER BY rowid").fetchall()
    return [(str(m), int(s)) for m, s in rows]


def test_rows_are_numbered_one_after_another_across_batches_tables_and_applies(con: duckdb.DuckDBPyConnection) -> None:
    known: set[str] = set()
    day2 = TS + timedelta(days=1)
    # Batches out of order in one call are numbered in batch order; rows of two days and two tenants share one count.
    apply_batches(con, [(2, lines(2, ts=day2, word="b")), (1, lines(3, word="a"))], known)
    apply_batches(con, [(3, lines(2, tenant="other", word="c")), (4, lines(1, word="d"))], known)
    first = 1 << SEQ_ROW_BITS  # (applied_seq 0 + 1) << SEQ_ROW_BITS
    assert stored(con, PartitionKey("default", TS.date())) == [
        ("a 0", first), ("a 1", first + 1), ("a 2", first + 2), ("d 0", first + 7)
    ]  # fmt: skip
    assert stored(con, PartitionKey("default", day2.date())) == [("b 0", first + 3), ("b 1", first + 4)]
    assert stored(con, PartitionKey("other", TS.date())) == [("c 0", first + 5), ("c 1", first + 6)]
    assert con.execute(f"SELECT last_seq FROM {SEQ_STATE}").fetchall() == [(first + 7,)]


def test_a_store_of_the_previous_format_goes_on_above_its_rows(con: duckdb.DuckDBPyConnection) -> None:
    # As the previous version left it: rows numbered (batch << SEQ_ROW_BITS) + row, batches up to 9 applied, and
    # no counter yet.
    key = PartitionKey("default", TS.date())
    con.execute(create_table_sql(key))
    old = pa.concat_tables([with_seq(b, lines(3, word=f"old{b}")) for b in (8, 9)])
    con.register("_old", old)
    columns, values = log_ids.insert_lists(STORED_COLUMNS, split=True)  # log_id is a generated column
    con.execute(f"INSERT INTO {quote_ident(table_name(key))} ({columns}) SELECT {values} FROM _old")
    con.unregister("_old")
    con.execute(f"UPDATE {STATE_TABLE} SET applied_seq = 9")
    apply_batches(con, [(10, lines(2, word="new"))], {table_name(key)})
    seqs = dict(stored(con, key))
    assert max(v for k, v in seqs.items() if k.startswith("old")) == (9 << SEQ_ROW_BITS) + 2
    assert [seqs["new 0"], seqs["new 1"]] == [10 << SEQ_ROW_BITS, (10 << SEQ_ROW_BITS) + 1]


def test_stored_numbers_stay_below_every_batch_not_yet_applied(con: duckdb.DuckDBPyConnection) -> None:
    """The union of stored rows and unapplied batches (in-memory seq) keeps seq unique and in arrival order."""
    rng = random.Random(7)
    known: set[str] = set()
    batch = 0
    for _ in range(40):
        items = []
        for _ in range(rng.randint(1, 4)):
            batch += rng.randint(1, 3)  # batch numbers skip (other writers' batches, dropped duplicates)
            items.append((batch, lines(rng.randint(1, 50))))
        apply_batches(con, items, known)
        last = int(con.execute(f"SELECT last_seq FROM {SEQ_STATE}").fetchall()[0][0])
        next_unapplied = with_seq(batch + 1, lines(1)).column("seq")[0].as_py()
        assert last < next_unapplied
    seqs = [s for _m, s in stored(con, PartitionKey("default", TS.date()))]
    assert seqs == sorted(set(seqs)) and seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_a_rolled_back_apply_gives_its_numbers_again(con: duckdb.DuckDBPyConnection) -> None:
    known: set[str] = set()
    apply_batches(con, [(1, lines(2, word="a"))], known)
    assert probe_batches(con, [(2, lines(5, word="probe"))], known) is None  # always rolled back
    apply_batches(con, [(2, lines(2, word="b"))], known)
    first = 1 << SEQ_ROW_BITS
    assert [s for _m, s in stored(con, PartitionKey("default", TS.date()))] == [first + i for i in range(4)]


def _column_bytes(path: Path, values: pa.Array) -> int:
    """Bytes a checkpointed DuckDB file takes for one BIGINT column of `values` (beyond an empty file)."""
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE TABLE t (seq BIGINT)")
        con.register("_v", pa.table({"seq": values}))
        con.execute("INSERT INTO t SELECT seq FROM _v")
        con.execute("CHECKPOINT")
        return int(con.execute("SELECT used_blocks FROM pragma_database_size()").fetchall()[0][0])
    finally:
        con.close()


def test_dense_numbers_take_a_fraction_of_the_blocked_ones(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    known: set[str] = set()
    batches = [(b, lines(1000)) for b in range(1, 501)]  # 500k rows in bodies of 1000, as bench/peers.py sends
    for start in range(0, len(batches), 100):
        apply_batches(con, batches[start : start + 100], known)
    dense = con.sql(f"SELECT seq FROM {quote_ident(table_name(PartitionKey('default', TS.date())))} ORDER BY rowid")
    dense_blocks = _column_bytes(tmp_path / "dense.duckdb", dense.to_arrow_table().column("seq").combine_chunks())
    blocked = pa.concat_arrays([with_seq(b, t).column("seq").combine_chunks() for b, t in batches])
    blocked_blocks = _column_bytes(tmp_path / "blocked.duckdb", blocked)
    assert dense_blocks * 4 <= blocked_blocks, (dense_blocks, blocked_blocks)
