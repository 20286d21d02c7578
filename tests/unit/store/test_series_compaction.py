"""The log metrics' series file is compacted when it closes: roll-ups and expiry free blocks DuckDB never gives
back, and a clean stop copies the file without them (store/duckdb/compact.py), crash-safely."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from logwarden.logmetrics import store as series_store
from logwarden.logmetrics.store import SeriesStore
from logwarden.store.duckdb import compact

RETENTION = [timedelta(days=d) for d in (1, 7, 30, 90)]


def _fill(path: Path, rows: int, keep_every: int) -> list[tuple[object, ...]]:
    """Write `rows` points, delete all but every `keep_every`-th (free blocks), checkpoint; the rows kept."""
    store = SeriesStore(path, RETENTION, compactor=compact)
    cur = store.reader()
    cur.execute(
        "INSERT INTO points SELECT 0, (i % 500)::INTEGER, 1700000000 + (i // 500) * 10, hash(i) % 97, "
        f"hash(i) % 1000, 0, 1 FROM range({rows}) t(i)"
    )
    cur.execute("CHECKPOINT")
    cur.execute(f"DELETE FROM points WHERE (ts // 10) % {keep_every} <> 0")
    cur.execute("CHECKPOINT")
    kept = cur.execute("SELECT * FROM points ORDER BY ALL").fetchall()
    store.close()
    return kept


def _points(path: Path) -> list[tuple[object, ...]]:
    store = SeriesStore(path, RETENTION, compactor=compact)
    try:
        return store.reader().execute("SELECT * FROM points ORDER BY ALL").fetchall()
    finally:
        store.close()


def test_close_gives_free_blocks_back_and_keeps_every_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "series.duckdb"
    monkeypatch.setattr(series_store, "COMPACT_MIN_BYTES", 0)
    store = SeriesStore(path, RETENTION, compactor=compact)
    store.reader().execute(
        "INSERT INTO points SELECT 0, (i % 500)::INTEGER, 1700000000 + (i // 500) * 10, hash(i) % 97, "
        "hash(i) % 1000, 0, 1 FROM range(3000000) t(i)"
    )
    store.reader().execute("CHECKPOINT")
    full = path.stat().st_size
    store.reader().execute("DELETE FROM points WHERE (ts // 10) % 10 <> 0")
    store.reader().execute("CHECKPOINT")
    kept = store.reader().execute("SELECT * FROM points ORDER BY ALL").fetchall()
    assert path.stat().st_size >= full  # DuckDB keeps the freed blocks in the file
    store.close()
    assert path.stat().st_size < full / 3
    assert not compact.compact_path(path).exists()
    assert _points(path) == kept


def test_small_files_and_files_without_free_blocks_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "series.duckdb"
    _fill(path, 200_000, 10)  # a few MB: under COMPACT_MIN_BYTES
    before = path.stat().st_size
    assert before < series_store.COMPACT_MIN_BYTES
    SeriesStore(path, RETENTION, compactor=compact).close()
    assert path.stat().st_size == before


def test_a_copy_left_by_a_killed_compaction_is_removed_at_open(tmp_path: Path) -> None:
    path = tmp_path / "series.duckdb"
    kept = _fill(path, 100_000, 2)
    compact.compact_path(path).write_bytes(b"half a copy")
    assert _points(path) == kept
    assert not compact.compact_path(path).exists()


def test_a_failed_compaction_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "series.duckdb"
    monkeypatch.setattr(series_store, "COMPACT_MIN_BYTES", 0)

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(compact, "compact_file", broken)
    kept = _fill(path, 400_000, 10)
    assert compact.needs_compaction(path, min_gain=series_store.COMPACT_MIN_GAIN)  # it was tried, and failed
    assert _points(path) == kept


def _answers(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """What readers see (the views sum a key's rows), and the points in their stored order."""
    store = SeriesStore(path, RETENTION)  # no compactor: the file is left as it is
    try:
        cur = store.reader()
        return {
            "points": cur.sql("SELECT * FROM series_points ORDER BY ALL").fetchall(),
            "bins": cur.sql("SELECT * FROM series_bins ORDER BY ALL").fetchall(),
            "stored": cur.sql("SELECT tier, ts // 86400, sid, ts FROM points ORDER BY rowid").fetchall(),
        }
    finally:
        store.close()


def _block_size(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return int(con.sql("SELECT block_size FROM pragma_database_size()").fetchall()[0][0])
    finally:
        con.close()


def test_compaction_orders_by_tier_day_and_series_in_small_blocks_and_keeps_every_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(series_store, "COMPACT_MIN_BYTES", 0)
    path, plain = tmp_path / "series.duckdb", tmp_path / "plain.duckdb"
    store = SeriesStore(path, RETENTION)
    cur = store.reader()
    cur.execute("INSERT INTO series SELECT i, 'm', 'default', '{\"k\":\"' || i || '\"}' FROM range(40) t(i)")
    # Arrival order: by time, the series interleaved (a key may have several rows, as commits leave them).
    ts = "1700000000 + (i // 4) * 10"
    cur.execute(
        f"INSERT INTO points SELECT 0, hash(i) % 40, {ts}, 1 + i % 3, i % 100, i % 7, 50 + i % 9 "
        "FROM range(200000) t(i)"
    )
    cur.execute(f"INSERT INTO bins SELECT 0, hash(i) % 40, {ts}, i % 5, 1 FROM range(200000) t(i)")
    cur.execute("CHECKPOINT")
    store.close()  # no compactor: the file keeps DuckDB's default blocks and arrival order
    shutil.copy(path, plain)
    before = _answers(path)
    assert before["stored"] != sorted(before["stored"])
    assert _block_size(path) != series_store.COMPACT_BLOCK_SIZE
    assert compact.needs_compaction(path, min_gain=1.0, block_size=series_store.COMPACT_BLOCK_SIZE)

    SeriesStore(path, RETENTION, compactor=compact).close()  # default blocks: compacted, whatever its free blocks

    after = _answers(path)
    assert _block_size(path) == series_store.COMPACT_BLOCK_SIZE
    assert after["stored"] == sorted(before["stored"])
    assert (after["points"], after["bins"]) == (before["points"], before["bins"])
    assert not compact.needs_compaction(path, min_gain=1.0, block_size=series_store.COMPACT_BLOCK_SIZE)
    # Roll-ups and expiry (time-range scans) give the same tiers on the ordered file as on the arrival-order one.
    now = datetime.fromtimestamp(1700000000 + 6 * 86400, UTC)
    for p in (path, plain):
        s = SeriesStore(p, [timedelta(days=d) for d in (3, 7, 30, 90)])
        s.rollup(now)
        s.expire(now)
        s.close()
    rolled, rolled_plain = _answers(path), _answers(plain)
    assert (rolled["points"], rolled["bins"]) == (rolled_plain["points"], rolled_plain["bins"])
    assert {row[0] for row in rolled["points"]} == {0, 1, 2, 3, 4}
