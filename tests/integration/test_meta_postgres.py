"""Metadata migrations on a real PostgreSQL server, started here with initdb/pg_ctl on a loopback port.

Skipped only when the PostgreSQL server binaries are not installed (Debian: apt-get install postgresql).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from logwarden.meta.db import MetaDB, open_engine
from logwarden.meta.migrate import (
    ADVISORY_LOCK_KEY,
    UpgradeResult,
    current_revision,
    head_revision,
    schema_differences,
    upgrade,
)
from logwarden.meta.saved_searches import SavedSearchFields, SavedSearchRepository
from tests.conftest import free_port
from tests.unit.meta.pre_migration_schema import create_pre_migration_schema

pytestmark = pytest.mark.slow

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


@dataclass
class PostgresServer:
    """A throwaway cluster: trust auth on 127.0.0.1, one database per test."""

    port: int
    admin: Engine

    def new_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as con:
            con.execute(text(f'CREATE DATABASE "{name}"'))
        return f"postgresql+psycopg://logwarden@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    bindir = _postgres_bin()
    if bindir is None or not (bindir / "initdb").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    # initdb refuses to run as root: run the server as the postgres user (or nobody) then.
    user = None
    if os.geteuid() == 0:
        user = "postgres" if _user_exists("postgres") else "nobody"
    root = Path(tempfile.mkdtemp(prefix="logwarden-pg-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    data, port = root / "data", free_port()
    _run(bindir / "initdb", "-D", data, "-U", "logwarden", "--auth=trust", "-E", "UTF8", "--no-sync", user=user)
    options = f"-p {port} -h 127.0.0.1 -k {root} -F"
    _run(bindir / "pg_ctl", "-D", data, "-l", root / "log", "-w", "-t", "60", "-o", options, "start", user=user)
    admin = create_engine(f"postgresql+psycopg://logwarden@127.0.0.1:{port}/postgres", isolation_level="AUTOCOMMIT")
    try:
        yield PostgresServer(port, admin)
    finally:
        admin.dispose()
        _run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", user=user, check=False)
        shutil.rmtree(root, ignore_errors=True)


def _run(*args: str | Path, user: str | None, check: bool = True) -> None:
    result = subprocess.run(args, user=user, capture_output=True, text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"{Path(args[0]).name} failed ({result.returncode}): {result.stdout}{result.stderr}")


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_a_fresh_database_is_migrated_and_matches_the_models(postgres: PostgresServer) -> None:
    db = MetaDB(postgres.new_database())
    try:
        assert (db.migration.before, db.migration.after, db.migration.stamped) == (None, head_revision(), False)
        assert schema_differences(db.engine) == []
        repo = SavedSearchRepository(db.engine)
        made = repo.create("a", SavedSearchFields("errors", "level:error", "now-1h"), now=T0)
        assert repo.get("a", made.id) == made
    finally:
        db.close()


def test_a_database_from_before_migrations_is_stamped_and_upgraded(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    engine = open_engine(url)
    create_pre_migration_schema(engine)
    made = SavedSearchRepository(engine).create("a", SavedSearchFields("n", "q"), now=T0)
    engine.dispose()
    db = MetaDB(url)
    try:
        assert (db.migration.before, db.migration.stamped) == (None, True)
        assert current_revision(db.engine) == head_revision()
        assert SavedSearchRepository(db.engine).get("a", made.id) == made
        assert schema_differences(db.engine) == []
    finally:
        db.close()


def test_a_migration_waits_for_the_advisory_lock_before_reading_the_schema(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    holder, migrating = open_engine(url), open_engine(url)
    results: list[UpgradeResult] = []
    try:
        with holder.connect() as lock:
            lock.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            worker = threading.Thread(target=lambda: results.append(upgrade(migrating)))
            worker.start()
            _wait_for_a_waiter(lock)
            assert "alembic_version" not in inspect(lock).get_table_names()
            lock.commit()  # releases the lock
        worker.join(30)
        assert [(r.before, r.after) for r in results] == [(None, head_revision())]
    finally:
        holder.dispose()
        migrating.dispose()


def test_servers_starting_together_migrate_once(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    engines = [open_engine(url) for _ in range(4)]
    start = threading.Barrier(len(engines))
    results: list[UpgradeResult] = []
    errors: list[BaseException] = []

    def start_server(engine: Engine) -> None:
        start.wait()
        try:
            results.append(upgrade(engine))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start_server, args=(e,)) for e in engines]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert sorted((r.before or "") for r in results) == ["", *[head_revision()] * (len(engines) - 1)]
        with engines[0].connect() as con:
            assert con.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    finally:
        for e in engines:
            e.dispose()


def _wait_for_a_waiter(con: Any) -> None:
    # pg_locks splits a bigint advisory key into classid (high 32 bits) and objid (low 32 bits).
    hi, lo = ADVISORY_LOCK_KEY >> 32, ADVISORY_LOCK_KEY & 0xFFFFFFFF
    query = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND classid::bigint = :hi AND objid::bigint = :lo AND objsubid = 1"
    )
    deadline = time.monotonic() + 30
    while con.execute(query, {"hi": hi, "lo": lo}).scalar_one() == 0:
        assert time.monotonic() < deadline, "the migration never waited for the advisory lock"
        time.sleep(0.02)
