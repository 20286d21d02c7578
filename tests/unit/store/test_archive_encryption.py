"""Archive encryption (store/archive_encryption.py): encrypted files are unreadable without the key, searches,
SQL and deletes read them with it, keys rotate, and a missing or wrong key fails clearly at start."""

from __future__ import annotations

import base64
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logwarden.api.app import create_app
from logwarden.api.routes.admin_delete import parse_delete_filter
from logwarden.config.loader import ConfigError
from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.query.engine import run_query
from logwarden.store.archive_encryption import SIDECAR_SUFFIX, ArchiveKeyError, from_config
from logwarden.store.base import SqlRequest
from logwarden.store.duckdb import DuckDBStore, tokens
from logwarden.store.duckdb.catalog import ARCHIVE_FILES
from tests.conftest import make_config

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
START, END = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
OLD, OLDER, FRESH = date(2026, 11, 18), date(2026, 11, 17), date(2026, 11, 21)
KEY_A = base64.b64encode(os.urandom(32)).decode()
KEY_B = base64.b64encode(os.urandom(32)).decode()


def batch(day: date, n: int) -> pa.Table:
    recs = [
        {
            "ts": f"{day.isoformat()}T{i * 24 // n:02d}:{i % 60:02d}:00Z",
            "msg": f"payment {'zq9needle' if i == n // 2 else 'ok'} line {i}",
            "user_id": 42 if i % 10 == 3 else 7,
            "trace_id": f"{i:032x}",
        }
        for i in range(n)
    ]
    decoded = decode_json_body(b"\n".join(orjson.dumps(r) for r in recs))
    return normalize(decoded.records, BatchContext("default", "http", NOW))


def encrypted(tmp_path: Path, keys: dict[str, str], current: str | None = None) -> Any:
    return make_config(
        tmp_path,
        **{
            "archive.archive_after_days": 1,
            "store.retention_days": 3650,
            "archive.encryption.keys": keys,
            "archive.encryption.current": current,
        },
    )


def archive_files(store: DuckDBStore) -> list[str]:
    cur = store._db.cursor()
    try:
        return sorted(str(r[0]) for r in cur.execute(f"SELECT path FROM {ARCHIVE_FILES}").fetchall())
    finally:
        cur.close()


async def total(store: DuckDBStore, q: str) -> int:
    result = await run_query(store, q, tenant="default", start=START, end=END, limit=10, now=NOW)
    return int(result.total or 0)


async def test_encrypted_files_need_the_key_and_searches_read_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "BLOCK_ROWS", 64)
    monkeypatch.setenv("LW_TEST_ARCHIVE_KEY", KEY_A)
    store = DuckDBStore(encrypted(tmp_path, {"main": "env:LW_TEST_ARCHIVE_KEY"}))
    try:
        await store.append(batch(OLD, 400))
        await store.append(batch(FRESH, 100))
        await store.flush()
        assert (await store.maintain(now=NOW)).archived
        (path,) = archive_files(store)
        # Without the key no Parquet reader gets the schema or a row.
        with pytest.raises(OSError, match="encrypted"):
            pq.read_table(path)
        with pytest.raises(duckdb.Error, match="encrypted"):
            duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()
        assert b"zq9needle" not in Path(path).read_bytes()
        sidecar = orjson.loads(Path(path + SIDECAR_SUFFIX).read_bytes())
        assert sidecar["key"] == "main" and KEY_A not in str(sidecar)
        # With it, every reader of the store sees the archived lines: words, attributes, traces, SQL.
        assert await total(store, "zq9needle") == 2
        assert await total(store, "user_id:42") == 50
        assert await total(store, f"trace_id:{200:032x}") == 1  # archived day only
        answer = await store.run_sql(
            SqlRequest(
                "default", START, END, "SELECT count(*) AS n FROM logs WHERE message LIKE '%zq9needle%'", 10, 30.0
            )
        )
        assert orjson.loads(answer.rows_json) == [[2]]
        store.close_sql()
    finally:
        await store.close()
    # After a restart (keys checked at start), and a delete rewrites the file encrypted.
    store = DuckDBStore(encrypted(tmp_path, {"main": "env:LW_TEST_ARCHIVE_KEY"}))
    try:
        assert await total(store, "zq9needle") == 2
        node, start, end = parse_delete_filter("user_id:42", NOW)
        report = await store.delete_lines("default", node, start, end, where="user_id:42")
        assert (report.hot_lines, report.archive_lines) == (10, 40)
        (new,) = archive_files(store)
        assert new != path and not Path(path + SIDECAR_SUFFIX).exists()
        with pytest.raises(OSError, match="encrypted"):
            pq.read_table(new)
        assert await total(store, "user_id:42") == 0 and await total(store, "payment") == 450
        assert await total(store, "zq9needle") == 2
    finally:
        await store.close()


async def test_rotation_new_files_take_the_new_key_and_old_files_stay_readable(tmp_path: Path) -> None:
    store = DuckDBStore(encrypted(tmp_path, {"a": KEY_A}))
    try:
        await store.append(batch(OLDER, 100))
        await store.flush()
        await store.maintain(now=NOW)
    finally:
        await store.close()
    store = DuckDBStore(encrypted(tmp_path, {"a": KEY_A, "b": KEY_B}, current="b"))
    try:
        await store.append(batch(OLD, 100))
        await store.flush()
        await store.maintain(now=NOW)
        files = archive_files(store)
        assert len(files) == 2
        names = sorted(orjson.loads(Path(f + SIDECAR_SUFFIX).read_bytes())["key"] for f in files)
        assert names == ["a", "b"]
        assert await total(store, "zq9needle") == 2 and await total(store, "user_id:42") == 20
    finally:
        await store.close()
    # Key `a` removed while a file still needs it: the start fails naming the key and the file.
    with pytest.raises(
        ArchiveKeyError, match=r"archive file .*part-.*master key 'a' is not in archive.encryption.keys"
    ):
        DuckDBStore(encrypted(tmp_path, {"b": KEY_B}))
    # The right name with the wrong value: told apart from a missing key.
    with pytest.raises(ArchiveKeyError, match="wrong key value"):
        DuckDBStore(encrypted(tmp_path, {"a": KEY_B, "b": KEY_B}, current="b"))
    # Encryption turned off: the encrypted files still need their keys.
    with pytest.raises(ArchiveKeyError, match=r"archive\.encryption\.keys is empty"):
        DuckDBStore(make_config(tmp_path, **{"store.retention_days": 3650}))


def test_a_missing_or_malformed_key_fails_at_start_naming_the_field(tmp_path: Path) -> None:
    config = encrypted(tmp_path, {"main": "env:LW_TEST_UNSET_KEY_VARIABLE"})
    with pytest.raises(ValueError, match=r"archive.encryption.keys.main: environment variable LW_TEST_UNSET"):
        from_config(config.archive.encryption, env={})
    with pytest.raises(ConfigError, match=r"archive.encryption.keys.main: environment variable"):
        create_app(config, run_maintenance=False)
    short = encrypted(tmp_path, {"main": base64.b64encode(b"too short").decode()})
    with pytest.raises(ConfigError, match=r"archive.encryption.keys.main: not base64 of a 16, 24 or 32 byte key"):
        create_app(short, run_maintenance=False)
    with pytest.raises(ConfigError, match="current"):
        encrypted(tmp_path, {"a": KEY_A, "b": KEY_B})  # two keys: which one encrypts new files?
