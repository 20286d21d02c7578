"""The metadata database: an engine, its schema migrated at startup, and a thread to run calls in."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from logwarden.meta.migrate import UpgradeResult, upgrade

T = TypeVar("T")
DB_FILE = "meta.sqlite"


def default_url(data_dir: Path) -> str:
    """The embedded database: a SQLite file in the data directory."""
    return f"sqlite:///{(data_dir / DB_FILE).resolve()}"


def open_engine(url: str) -> Engine:
    """An engine for the metadata database; a SQLite file's directory is created, and SQLite connections get
    WAL, a busy timeout and real transactions (DDL included, so a migration is all or nothing)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
    else:
        # One shared connection, or each pool thread would see its own empty in-memory database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


class MetaDB:
    """One engine for the server's metadata, its schema migrated to the newest revision when opened (see
    `meta.migrate`); blocking calls run in a small pool, off the event loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = open_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        try:
            self.migration: UpgradeResult = upgrade(self.engine)
        except BaseException:
            self.engine.dispose()
            raise
        # In-memory SQLite is one shared connection: one thread, or two transactions would interleave on it.
        workers = 1 if isinstance(self.engine.pool, StaticPool) else 2
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="logwarden-meta")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking repository call in the metadata pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.engine.dispose()


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite opens transactions itself, only before DML, so DDL would run outside them: SQLAlchemy's recipe
    # is to switch that off here and emit BEGIN in _sqlite_begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; busy_timeout waits for a lock instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")
