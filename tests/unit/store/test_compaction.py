"""Compaction of hot.duckdb (store/duckdb/compact.py): smaller file, same rows, same rowids, crash-safe."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.store.base import SearchQuery
from logwarden.store.duckdb import DuckDBStore, compact
from tests.conftest import make_config

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ALL_TIME = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
DAY = date(2026, 11, 20)


def batch(start: int, n: int, word: str = "event"):  # type: ignore[no-untyped-def]
    records = [
        {"ts": f"{DAY.isoformat()}T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z", "msg": f"{word} {i}"}
        for i in range(start, start + n)
    ]
    decoded = decode_json_body(b"\n".join(orjson.dumps(r) for r in records))
    return normalize(decoded.records, BatchContext("default", "http", NOW))


def table_contents(path: Path) -> list[tuple[str, int, int]]:
    """(table, rows, fingerprint of every row at its rowid) of every table of a closed database file."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [n for (n,) in con.sql("SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall()]
        out = []
        for name in names:
            quoted = '"' + name + '"'
            rows, digest = con.sql(f"SELECT count(*), coalesce(sum(hash(rowid, t)), 0) FROM {quoted} t").fetchall()[0]
            out.append((name, int(rows), int(digest)))
        return out
    finally:
        con.close()


def free_ratio(path: Path) -> float:
    con = duckdb.connect(str(path), read_only=True)
    try:
        total, free = con.sql("SELECT total_blocks, free_blocks FROM pragma_database_size()").fetchall()[0]
        return int(free) / int(total)
    finally:
        con.close()


def fragmented_db(path: Path, rows: int = 300_000) -> None:
    """A closed database with a partition table, an index table and a dropped table's free blocks."""
    con = duckdb.connect(str(path))
    try:
        con.execute(
            'CREATE TABLE "logs$default$20261120" (ts TIMESTAMPTZ NOT NULL, message VARCHAR, '
            "log_id VARCHAR NOT NULL, seq BIGINT)"
        )
        con.execute(
            'INSERT INTO "logs$default$20261120" '
            "SELECT TIMESTAMPTZ '2026-11-20 00:00:00+00' + i * INTERVAL 1 second, "
            "'user u' || (i % 977) || ' logged in from 10.0.' || (i % 251) || '.' || (i % 13), "
            "printf('%016x%06x', 12345, i), i FROM range($n) r(i)",
            {"n": rows},
        )
        con.execute("CREATE TABLE _token_coverage (tbl VARCHAR PRIMARY KEY, lo BIGINT, hi BIGINT)")
        con.execute("CREATE TABLE _token_runs (tbl VARCHAR, first_block BIGINT)")
        con.execute("INSERT INTO _token_coverage VALUES ('logs$default$20261120', 0, $n)", {"n": rows})
        con.execute("INSERT INTO _token_runs VALUES ('logs$default$20261120', 0)")
        con.execute("CREATE TABLE scratch AS SELECT repeat(i::VARCHAR, 50) AS s FROM range($n) r(i)", {"n": rows})
        con.execute("CHECKPOINT")
        con.execute("DROP TABLE scratch")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def test_compact_file_shrinks_keeps_rows_and_rowids_and_compresses_partitions(tmp_path: Path) -> None:
    path = tmp_path / "hot.duckdb"
    fragmented_db(path)
    before = table_contents(path)
    assert free_ratio(path) > 0.3
    assert compact.needs_compaction(path)

    report = compact.compact_file(path)

    assert report.bytes_after < report.bytes_before * 0.7
    assert report.reindexed == ()
    assert path.stat().st_size == report.bytes_after
    assert table_contents(path) == before
    assert free_ratio(path) == 0
    assert not compact.compact_path(path).exists()
    con = duckdb.connect(str(path), read_only=True)
    try:
        ddl = con.sql("SELECT sql FROM duckdb_tables() WHERE table_name LIKE 'logs$%'").fetchall()[0][0]
        indexes = con.sql("SELECT count(*) FROM _token_coverage").fetchall()[0][0]
    finally:
        con.close()
    assert "message VARCHAR USING COMPRESSION ZSTD" in ddl
    assert "log_id VARCHAR USING COMPRESSION ZSTD" in ddl
    assert indexes == 1  # rowids kept: the token filters stay


def test_rows_that_moved_lose_their_token_filters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "hot.duckdb"
    fragmented_db(path, rows=10_000)
    monkeypatch.setattr(compact, "_same_rows", lambda *args, **kwargs: False)

    report = compact.compact_file(path)

    assert report.reindexed == ("logs$default$20261120",)
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.sql("SELECT count(*) FROM _token_coverage").fetchall()[0][0] == 0
        assert con.sql("SELECT count(*) FROM _token_runs").fetchall()[0][0] == 0
    finally:
        con.close()


def test_compact_file_refuses_a_database_with_a_wal(tmp_path: Path) -> None:
    path = tmp_path / "hot.duckdb"
    fragmented_db(path, rows=1000)
    compact.wal_path(path).write_bytes(b"not checkpointed")
    assert not compact.needs_compaction(path)
    with pytest.raises(RuntimeError, match="has a WAL"):
        compact.compact_file(path)


def test_a_failure_before_the_swap_leaves_the_old_file_and_the_next_open_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / "hot.duckdb"
    fragmented_db(path, rows=20_000)
    before_bytes, before = path.read_bytes(), table_contents(path)

    def crash() -> None:
        raise OSError("power cut")

    with pytest.raises(OSError, match="power cut"):
        compact.compact_file(path, before_swap=crash)
    assert path.read_bytes() == before_bytes
    assert compact.compact_path(path).exists()  # the finished copy that never got swapped in
    compact.remove_leftovers(path)
    assert not compact.compact_path(path).exists()
    assert table_contents(path) == before


_KILLED_COMPACTION = """
import sys
from pathlib import Path
from typing import Any
from logwarden.store.duckdb import compact
print("ready", flush=True)
compact.compact_file(Path(sys.argv[1]))
"""


@pytest.mark.parametrize("delay", [0.0, 0.1, 0.25, 0.4, 0.6, 0.9])
def test_sigkill_during_compaction_loses_nothing(tmp_path: Path, delay: float) -> None:
    """A compaction killed at some point of its copy, sync or rename (it takes ~0.7 s here) leaves a whole
    database."""
    path = tmp_path / "hot.duckdb"
    fragmented_db(path)
    before = table_contents(path)
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_COMPACTION, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    compact.remove_leftovers(path)  # what the store does at open
    assert table_contents(path) == before
    assert not compact.compact_path(path).exists()


def test_sigkill_after_the_copy_is_durable_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "hot.duckdb"
    fragmented_db(path, rows=20_000)
    before = table_contents(path)
    script = _KILLED_COMPACTION.replace(
        "compact.compact_file(Path(sys.argv[1]))",
        "import os, signal\n"
        "compact.compact_file(Path(sys.argv[1]), before_swap=lambda: os.kill(os.getpid(), signal.SIGKILL))",
    )
    assert subprocess.run([sys.executable, "-c", script, str(path)], check=False).returncode == -signal.SIGKILL
    assert compact.compact_path(path).exists()
    compact.remove_leftovers(path)
    assert table_contents(path) == before


def test_live_copy_catches_up_with_appends_drops_new_and_altered_tables(tmp_path: Path) -> None:
    """Phase two brings the snapshot copy up to what the database holds when the writer stops."""
    path = tmp_path / "hot.duckdb"
    fragmented_db(path, rows=50_000)
    db = duckdb.connect(str(path))
    try:
        db.execute('CREATE TABLE "logs$default$20261121" AS SELECT * FROM "logs$default$20261120" LIMIT 100')
        db.execute('CREATE TABLE "logs$default$20261122" AS SELECT * FROM "logs$default$20261120" LIMIT 100')
        reader = db.cursor()
        snapshot = compact.copy_snapshot(reader, path)
        reader.close()
        assert set(snapshot.partitions) == {f"logs$default$2026112{d}" for d in (0, 1, 2)}
        # The writer goes on between the phases.
        db.execute('INSERT INTO "logs$default$20261120" SELECT * FROM "logs$default$20261120" LIMIT 777')
        db.execute('DROP TABLE "logs$default$20261121"')
        db.execute('ALTER TABLE "logs$default$20261122" ADD COLUMN "a$status" BIGINT')
        db.execute('CREATE TABLE "logs$default$20261123" AS SELECT * FROM "logs$default$20261120" LIMIT 5')
        db.execute("INSERT INTO _token_runs VALUES ('logs$default$20261123', 0)")
        tables, reindexed = compact.finish_live(db, path, snapshot)
        assert (tables, reindexed) == (5, ())
    finally:
        db.close()
    wanted = table_contents(path)
    assert [name for name, _, _ in wanted if name.startswith("logs$")] == [
        "logs$default$20261120",
        "logs$default$20261122",
        "logs$default$20261123",
    ]
    before = path.stat().st_size
    compact.swap_in(path)
    assert table_contents(path) == wanted
    assert path.stat().st_size < before / 2  # the dropped scratch table's blocks are gone


def test_swap_in_refuses_while_the_database_is_still_open(tmp_path: Path) -> None:
    path = tmp_path / "hot.duckdb"
    fragmented_db(path, rows=1000)
    db = duckdb.connect(str(path))
    try:
        snapshot = compact.copy_snapshot(db, path)
        compact.finish_live(db, path, snapshot)
        with pytest.raises(RuntimeError, match="still open"):
            compact.swap_in(path)
        assert not compact.compact_path(path).exists()
        assert db.sql('SELECT count(*) FROM "logs$default$20261120"').fetchall() == [(1000,)]
    finally:
        db.close()


def test_a_failed_live_copy_is_abandoned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "hot.duckdb"
    fragmented_db(path, rows=1000)
    db = duckdb.connect(str(path))
    try:
        snapshot = compact.copy_snapshot(db, path)
        monkeypatch.setattr(compact, "_forget_filters", lambda *args: (_ for _ in ()).throw(OSError("disk full")))
        with pytest.raises(OSError, match="disk full"):
            compact.finish_live(db, path, snapshot)
        assert not compact.compact_path(path).exists()
        assert db.sql("SELECT count(*) FROM duckdb_databases() WHERE database_name = '_compact_dst'").fetchall() == [
            (0,)
        ]
    finally:
        db.close()


def test_swap_gate_holds_reads_while_swapping() -> None:
    gate = compact.SwapGate()
    order: list[str] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()

        def swap() -> None:
            with gate.exclusive():
                order.append("swap start")
                time.sleep(0.2)
                order.append("swap end")

        def read() -> None:
            with gate.shared():
                order.append("read")

        swapping = loop.run_in_executor(None, swap)
        await asyncio.sleep(0.05)
        await loop.run_in_executor(None, read)
        await swapping

    asyncio.run(scenario())
    assert order == ["swap start", "swap end", "read"]


async def _fill(store: DuckDBStore, batches: int, rows: int) -> None:
    for k in range(batches):
        await store.append(batch(k * rows, rows, word=f"w{k}"))
        await store.flush()


async def test_clean_close_compacts_and_a_reopened_store_finds_every_line(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = DuckDBStore(config)
    store.compact_min_bytes = 0
    store.compact_min_gain = 0.0
    await _fill(store, 4, 2000)
    path = Path(config.data_dir) / "hot.duckdb"
    inode = path.stat().st_ino
    await store.close()
    assert path.stat().st_ino != inode  # the copy was swapped in
    assert free_ratio(path) == 0
    con = duckdb.connect(str(path), read_only=True)
    try:
        ddl = con.sql("SELECT sql FROM duckdb_tables() WHERE table_name LIKE 'logs$%'").fetchall()[0][0]
    finally:
        con.close()
    assert "USING COMPRESSION ZSTD" in ddl

    store = DuckDBStore(config)
    try:
        result = await store.search(SearchQuery("default", *ALL_TIME, terms=("w3",), limit=10))
        assert result.total == 2000  # found through the token index of the copied rows
        result = await store.search(SearchQuery("default", *ALL_TIME, limit=1))
        assert result.total == 8000
    finally:
        await store.close()


async def test_clean_close_compacts_with_a_small_buffer_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, object]] = []
    real = compact.compact_file

    def recording(path: Path, **kwargs: Any) -> compact.CompactionReport:
        calls.append(kwargs)
        return real(path, **kwargs)

    monkeypatch.setattr(compact, "compact_file", recording)
    store = DuckDBStore(make_config(tmp_path, **{"store.memory_limit": "512MiB"}))  # above COPY_MEMORY_LIMIT
    store.compact_min_bytes = 0
    store.compact_min_gain = 0.0
    await _fill(store, 2, 500)
    await store.close()
    assert [c["memory_limit"] for c in calls] == [f"{compact.COPY_MEMORY_LIMIT}B"]


async def test_running_store_compacts_while_serving_reads_and_appends(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = DuckDBStore(config)
    try:
        await _fill(store, 3, 3000)
        path = Path(config.data_dir) / "hot.duckdb"

        async def reads() -> list[int]:
            totals = []
            for _ in range(20):
                result = await store.search(SearchQuery("default", *ALL_TIME, limit=1))
                totals.append(result.total)
            return totals

        reading = asyncio.create_task(reads())
        compacting = asyncio.create_task(store.compact_hot(force=True))
        await store.append(batch(9000, 500, word="late"))
        report, totals = await compacting, await reading
        assert report is not None and report.reindexed == ()
        assert report.blocked_seconds < 5
        assert all(t >= 9000 for t in totals)  # no read failed or lost rows during the swap
        assert not compact.compact_path(path).exists()

        await store.append(batch(9500, 500, word="after"))
        await store.flush()
        for words, n in ((("w1",), 3000), (("late",), 500), (("after",), 500), ((), 10000)):
            result = await store.search(SearchQuery("default", *ALL_TIME, terms=words, limit=1))
            assert result.total == n, words
    finally:
        await store.close()
    store = DuckDBStore(config)  # the swapped-in file opens again with everything
    try:
        result = await store.search(SearchQuery("default", *ALL_TIME, terms=("after",), limit=1))
        assert result.total == 500
    finally:
        await store.close()


async def test_maintain_skips_compaction_of_a_small_or_tidy_file(tmp_path: Path) -> None:
    store = DuckDBStore(make_config(tmp_path))
    try:
        await _fill(store, 1, 100)
        assert await store.compact_hot() is None  # below compact_min_bytes
        store.compact_min_bytes = 0
        store.compact_live_min_gain = 1.1  # no copy can save more than the whole file
        assert await store.compact_hot() is None
    finally:
        await store.close()


async def test_maintain_compacts_the_running_store(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(tmp_path)
    store = DuckDBStore(config)
    try:
        await _fill(store, 2, 1000)
        store.compact_min_bytes = 0
        store.compact_live_min_gain = 0.0
        with caplog.at_level("INFO", logger="logwarden.store.duckdb.compact"):
            await store.maintain(NOW)
        assert any(r.message.startswith("compacted ") for r in caplog.records)
        result = await store.search(SearchQuery("default", *ALL_TIME, terms=("w1",), limit=1))
        assert result.total == 1000
        cur = store._db.cursor()
        try:
            ddl = cur.sql("SELECT sql FROM duckdb_tables() WHERE table_name LIKE 'logs$%'").fetchall()[0][0]
        finally:
            cur.close()
        assert "message VARCHAR USING COMPRESSION ZSTD" in ddl  # the swapped-in copy is the open database
    finally:
        await store.close()


def test_leftover_copy_is_removed_when_the_store_opens(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    data = Path(config.data_dir)
    data.mkdir(parents=True)
    leftover = compact.compact_path(data / "hot.duckdb")
    leftover.write_bytes(b"half a copy")
    store = DuckDBStore(config)
    store.close_blocking()
    assert not leftover.exists()
    assert os.path.exists(data / "hot.duckdb")
    shutil.rmtree(data)


def test_an_order_asked_for_a_partition_is_ignored_and_other_tables_are_ordered(tmp_path: Path) -> None:
    path = tmp_path / "hot.duckdb"
    fragmented_db(path, rows=50_000)
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE side AS SELECT (i * 7919) % 1000 AS k FROM range(1000) t(i)")
    con.close()
    before = {row[0]: row[1:] for row in table_contents(path)}

    report = compact.compact_file(path, order_by={"logs$default$20261120": "message", "side": "k"})

    after = {row[0]: row[1:] for row in table_contents(path)}
    assert report.reindexed == ()
    assert after["logs$default$20261120"] == before["logs$default$20261120"]  # rowids kept: the token index
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.sql("SELECT k FROM side ORDER BY rowid").fetchall() == [(k,) for k in range(1000)]
        assert con.sql("SELECT count(*) FROM _token_coverage").fetchall()[0][0] == 1
    finally:
        con.close()
