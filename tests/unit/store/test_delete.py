"""GDPR delete in the embedded store (store/duckdb/delete.py): hot tables and archive files lose exactly the
matching lines, the token index and typed columns stay right, a restart brings nothing back."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logwarden.api.routes.admin_delete import parse_delete_filter
from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.plan.filter import MatchAll
from logwarden.query.engine import run_query
from logwarden.query.errors import QuerySyntaxError
from logwarden.store.duckdb import DuckDBStore, tokens
from logwarden.store.duckdb.catalog import ARCHIVE_FILES, ARCHIVE_PENDING
from logwarden.store.duckdb.delete import ARCHIVE_REMOVING, DeleteReport
from tests.conftest import make_config

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
START, END = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
OLD, FRESH = date(2026, 11, 18), date(2026, 11, 21)


def records(day: date, n: int, tenant_tag: str = "") -> list[dict[str, object]]:
    """Every 10th line belongs to user 42 (with the word `zq42secret` in its message); the rest to others."""
    out: list[dict[str, object]] = []
    for i in range(n):
        user = 42 if i % 10 == 3 else 100 + i % 7
        out.append(
            {
                "ts": f"{day.isoformat()}T{i * 24 // n:02d}:{i % 60:02d}:{i % 59:02d}Z",
                "msg": f"{tenant_tag}login ok for {'zq42secret' if user == 42 else 'someone'} line {i}",
                "service": "auth",
                "user_id": user,  # frequent: a typed BIGINT column
                "status": 200 + i % 3,
            }
        )
    return out


def batch(recs: list[dict[str, object]], tenant: str = "default") -> pa.Table:
    decoded = decode_json_body(b"\n".join(orjson.dumps(r) for r in recs))
    return normalize(decoded.records, BatchContext(tenant, "http", NOW))


async def delete(store: DuckDBStore, where: str, *, dry_run: bool = False) -> DeleteReport:
    node, start, end = parse_delete_filter(where, NOW)
    return await store.delete_lines("default", node, start, end, where=where, dry_run=dry_run)


async def total(store: DuckDBStore, q: str, tenant: str = "default") -> int:
    result = await run_query(store, q, tenant=tenant, start=START, end=END, limit=10, now=NOW)
    return int(result.total or 0)


async def half_archived(tmp_path: Path, **overrides: Any) -> DuckDBStore:
    """300 lines on an archived day and 300 on a hot day (30 of user 42 each), plus tenant `other`'s."""
    cfg = make_config(tmp_path, **{"archive.archive_after_days": 1, **overrides})
    store = DuckDBStore(cfg)
    await store.append(batch(records(OLD, 300) + records(FRESH, 300)))
    await store.append(batch(records(OLD, 50) + records(FRESH, 50), tenant="other"))
    await store.flush()
    assert len((await store.maintain(now=NOW)).archived) == 2
    hot, archived = store.partitions()
    assert (len(hot), len(archived)) == (2, 2)
    return store


def catalog_rows(store: DuckDBStore, table: str) -> list[str]:
    cur = store._db.cursor()
    try:
        return [str(r[0]) for r in cur.execute(f"SELECT path FROM {table}").fetchall()]
    finally:
        cur.close()


async def test_delete_removes_matching_lines_hot_and_archived_and_keeps_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "BLOCK_ROWS", 64)  # several blocks per table and file
    store = await half_archived(tmp_path)
    try:
        assert await total(store, "user_id:42") == 60
        assert await total(store, "zq42secret") == 60
        before_files = catalog_rows(store, ARCHIVE_FILES)
        others = [
            "someone",
            "user_id:101",
            "status:>=201 NOT user_id:42",
            "someone line 7",
            "service:auth NOT user_id:42",
        ]
        before = {q: await total(store, q) for q in others}
        report = await delete(store, "user_id:42")
        assert (report.hot_lines, report.archive_lines) == (30, 30)
        assert len(report.hot) == 1 and len(report.archive) == 1
        # Nothing of user 42 is found any more, by the attribute (typed column) or by the word (token index).
        assert await total(store, "user_id:42") == 0
        assert await total(store, "zq42secret") == 0
        assert await total(store, "user_id:>=42 user_id:<=42") == 0
        # Every other line is still found, by word and by attribute, in both days.
        assert {q: await total(store, q) for q in others} == before
        assert before["someone"] == 540 and before["user_id:101"] > 0
        assert await total(store, "zq42secret", tenant="other") == 10  # another tenant's lines are untouched
        # The archive file was replaced: the old one is gone from disk and catalog, nothing is left pending.
        after_files = catalog_rows(store, ARCHIVE_FILES)
        (old,) = report.archive
        assert old in before_files and old not in after_files and not Path(old).exists()
        assert len(after_files) == len(before_files)
        assert catalog_rows(store, ARCHIVE_PENDING) == [] and catalog_rows(store, ARCHIVE_REMOVING) == []
        (new,) = set(after_files) - set(before_files)
        kept = pq.read_table(new)
        assert kept.num_rows == 270 and "zq42secret" not in " ".join(kept.column("message").to_pylist())
        assert "a$user_id" in kept.column_names  # typed columns carried over
    finally:
        await store.close()


async def test_the_token_index_covers_the_rewritten_tables_and_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "BLOCK_ROWS", 64)
    store = await half_archived(tmp_path)
    queries = ["zq42secret", "someone", "line 7", "line 13", "someone line 299", "user_id:103", "absentword"]
    try:
        await delete(store, "user_id:42")
        cur = store._db.cursor()
        try:
            rows = cur.execute(f"SELECT tbl, hi FROM {tokens.COVERAGE_TABLE}").fetchall()
            mine = {str(t): int(hi) for t, hi in rows if "other" not in str(t)}
            assert len(mine) == 2 and all(hi == 270 for hi in mine.values())  # every kept row covered
            for name in mine:
                if name.startswith("logs$"):
                    assert not tokens.needs_rebuild(cur, name)
                # The deleted word is in no block any more: only the "rows appended later" range is left.
                assert tokens.candidate_ranges(cur, name, ["zq42secret"]) == [(270, 1 << 62)], name
        finally:
            cur.close()
        indexed = {q: await total(store, q) for q in queries}
        with monkeypatch.context() as m:
            m.setattr(tokens, "candidate_ranges_of", lambda cur, tables, keys: {})  # every table read whole
            whole = {q: await total(store, q) for q in queries}
        assert indexed == whole and indexed["line 7"] == 2 and indexed["zq42secret"] == 0
    finally:
        await store.close()


async def test_dry_run_counts_and_changes_nothing(tmp_path: Path) -> None:
    store = await half_archived(tmp_path)
    try:
        files = catalog_rows(store, ARCHIVE_FILES)
        report = await delete(store, "user_id:42 AND status:200", dry_run=True)
        assert report.dry_run and (report.hot_lines, report.archive_lines) == (10, 10)
        assert report.to_json()["lines"] == 20 and len(report.to_json()["archive_files"]) == 1
        assert await total(store, "user_id:42") == 60
        assert catalog_rows(store, ARCHIVE_FILES) == files
    finally:
        await store.close()


async def test_deleted_lines_stay_deleted_after_a_restart_and_unapplied_lines_are_deleted_too(
    tmp_path: Path,
) -> None:
    store = await half_archived(tmp_path, **{"store.apply_interval": "1h"})
    # Acknowledged but not applied yet (in the ingest log and memory): the delete applies them first.
    await store.append(batch(records(FRESH, 20)))
    report = await delete(store, "user_id:42")
    assert report.hot_lines == 32 and report.archive_lines == 30
    await store.close()
    store = DuckDBStore(make_config(tmp_path, **{"archive.archive_after_days": 1}))
    try:
        assert await total(store, "user_id:42") == 0
        assert await total(store, "zq42secret") == 0
        assert await total(store, "someone") == 540 + 18
    finally:
        await store.close()


async def test_a_time_clause_limits_the_delete(tmp_path: Path) -> None:
    store = await half_archived(tmp_path)
    try:
        report = await delete(store, f"user_id:42 _time:>={FRESH.isoformat()}T00:00:00Z")
        assert (report.hot_lines, report.archive_lines) == (30, 0)
        assert await total(store, "user_id:42") == 30
    finally:
        await store.close()


async def test_a_file_whose_every_line_matches_is_dropped(tmp_path: Path) -> None:
    store = await half_archived(tmp_path)
    try:
        report = await delete(store, "service:auth")
        assert report.archive_lines == 300 and report.hot_lines == 300
        assert await total(store, "*") == 0
        _, archived = store.partitions()
        assert [k.tenant for k in archived] == ["other"]
        assert await total(store, "*", tenant="other") == 100
    finally:
        await store.close()


def test_bad_filters_are_refused_with_a_position() -> None:
    with pytest.raises(QuerySyntaxError, match="needs a filter"):
        parse_delete_filter("", NOW)
    with pytest.raises(QuerySyntaxError, match="pipes") as exc:
        parse_delete_filter("user_id:42 | stats count()", NOW)
    assert exc.value.column > 1
    with pytest.raises(QuerySyntaxError):
        parse_delete_filter("user_id:(42", NOW)


async def test_an_empty_filter_is_refused_by_the_store_too(tmp_path: Path) -> None:
    store = DuckDBStore(make_config(tmp_path))
    try:
        with pytest.raises(QuerySyntaxError, match="needs a filter"):
            await store.delete_lines("default", MatchAll())
    finally:
        await store.close()


_KILL_SCRIPT = """
import asyncio, os, signal, sys
from logwarden.config.loader import load_config
from logwarden.store.duckdb import DuckDBStore, delete
from logwarden.plan.filter import Equals, FieldRef

def kill_at(step):
    if step == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)

async def main():
    cfg = load_config(None, env={}, overrides={"data_dir": sys.argv[1], "store.retention_days": 3650,
                                               "archive.archive_after_days": 1})
    store = DuckDBStore(cfg)
    node = Equals(FieldRef("user_id", False), "42")
    await delete.delete_lines(store, "default", node, where="user_id:42", on_step=kill_at)

asyncio.run(main())
"""


@pytest.mark.parametrize("step", ["archive.written", "archive.swapped"])
async def test_sigkill_during_the_delete_leaves_each_file_before_or_after(tmp_path: Path, step: str) -> None:
    import subprocess
    import sys

    store = await half_archived(tmp_path, **{"store.retention_days": 3650})
    files = catalog_rows(store, ARCHIVE_FILES)
    await store.close()
    data_dir = str(tmp_path / "data")
    done = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, data_dir, step], timeout=120, check=False)
    assert done.returncode == -9
    store = DuckDBStore(make_config(tmp_path, **{"archive.archive_after_days": 1, "store.retention_days": 3650}))
    try:
        after = catalog_rows(store, ARCHIVE_FILES)
        on_disk = sorted(str(p) for p in (tmp_path / "data").rglob("*.parquet"))
        assert sorted(after) == on_disk  # no stray copy, no replaced file left to be adopted again
        assert not list((tmp_path / "data").rglob("*.tmp"))
        assert catalog_rows(store, ARCHIVE_PENDING) == [] and catalog_rows(store, ARCHIVE_REMOVING) == []
        assert await total(store, "someone") == 540  # nothing else lost
        if step == "archive.written":
            assert after == files  # before: the old file, whole
            assert await total(store, "user_id:42") == 30  # the hot day was already done
        else:
            assert len(after) == len(files) and after != files  # after: the new file
            assert await total(store, "user_id:42") == 0
        report = await delete(store, "user_id:42")  # running it again finishes the job
        assert report.archive_lines == (30 if step == "archive.written" else 0)
        assert await total(store, "user_id:42") == 0
    finally:
        await store.close()


async def test_compact_rewrites_the_hot_file_after_the_delete(tmp_path: Path) -> None:
    store = await half_archived(tmp_path)
    try:
        node, start, end = parse_delete_filter("user_id:42", NOW)
        report = await store.delete_lines("default", node, start, end, where="user_id:42", compact=True)
        assert report.compacted and report.to_json()["compacted"] is True and report.hot_lines == 30
        assert not Path(str(store.path) + ".compact").exists()
        # The store works on the compacted file: the kept lines are there, the deleted ones are not.
        assert await total(store, "user_id:42") == 0 and await total(store, "someone") == 540
        dry = await delete(store, "user_id:42", dry_run=True)
        assert not dry.compacted and dry.hot_lines == 0
    finally:
        await store.close()
