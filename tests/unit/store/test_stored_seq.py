"""The stored `seq` column: numbered densely in arrival order when applied (on replay alike), in the archive, and
optional in archive files written before it existed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from logwarden.model.schema import LOG_SCHEMA, SEQ_ROW_BITS
from logwarden.store.arrival import MAX_BATCH_ROWS, split_rows, with_seq
from logwarden.store.base import SearchQuery
from logwarden.store.duckdb import DuckDBStore
from logwarden.store.wal import IngestLog, encode_table
from tests.conftest import make_config


def core(n: int, ts: datetime, tenant: str = "default", word: str = "line") -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "ts": ts,
                "observed_ts": ts,
                "tenant": tenant,
                "message": f"{word} {i}",
                "source": "http",
                "log_id": f"{word}-{i}",
            }
            for i in range(n)
        ],
        schema=LOG_SCHEMA,
    )


def test_with_seq_numbers_rows_in_blocks_per_batch() -> None:
    ts = datetime(2026, 12, 1, tzinfo=UTC)
    table = with_seq(3, core(4, ts))
    assert table.column("seq").to_pylist() == [(3 << SEQ_ROW_BITS) + i for i in range(4)]
    assert with_seq(3, table).column("seq").to_pylist() == table.column("seq").to_pylist()  # replaced, not added
    assert [t.num_rows for t in split_rows(core(5, ts), 2)] == [2, 2, 1]
    assert MAX_BATCH_ROWS == 1 << SEQ_ROW_BITS


async def test_replayed_batches_are_numbered_densely_in_arrival_order(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    ts = datetime.now(UTC) - timedelta(minutes=5)
    log = IngestLog(Path(config.data_dir) / "ingest-log")
    list(log.recover(0))
    log.append([encode_table(core(3, ts, word="first")), encode_table(core(2, ts, word="second"))])
    log.close(applied_seq=0)
    store = DuckDBStore(config)
    try:
        result = await store.search(SearchQuery("default", ts - timedelta(hours=1), ts + timedelta(hours=1)))
        by_message = {h["message"]: h["seq"] for h in result.hits}
        # The first apply numbers on from (applied_seq + 1) << SEQ_ROW_BITS, one after another across batches.
        assert by_message == {
            **{f"first {i}": (1 << SEQ_ROW_BITS) + i for i in range(3)},
            **{f"second {i}": (1 << SEQ_ROW_BITS) + 3 + i for i in range(2)},
        }
        # Newest first: same ts, so reverse arrival.
        assert [h["message"] for h in result.hits] == ["second 1", "second 0", "first 2", "first 1", "first 0"]
    finally:
        await store.close()


async def test_archive_files_without_seq_stay_readable(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    day = (datetime.now(UTC) - timedelta(days=2)).date()
    ts = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=3)
    directory = Path(config.archive_root) / "tenant=default" / f"date={day:%Y-%m-%d}"
    directory.mkdir(parents=True)
    pq.write_table(core(3, ts, word="archived"), directory / "part-old.parquet")  # no seq column
    # Another tenant's file in the default tenant's directory: the tenant filter in the SQL hides it.
    pq.write_table(core(1, ts, tenant="other", word="stray"), directory / "part-stray.parquet")
    store = DuckDBStore(config)
    try:
        result = await store.search(SearchQuery("default", ts - timedelta(hours=1), ts + timedelta(hours=1)))
        assert sorted(h["message"] for h in result.hits) == ["archived 0", "archived 1", "archived 2"]
        assert all(h["seq"] is None for h in result.hits)
    finally:
        await store.close()
