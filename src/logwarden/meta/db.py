"""The metadata database: an engine, its schema created at startup, and a thread to run calls in."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from logwarden.meta.tables import metadata

T = TypeVar("T")
DB_FILE = "meta.sqlite"


def default_url(data_dir: Path) -> str:
    """The embedded database: a SQLite file in the data directory."""
    return f"sqlite:///{(data_dir / DB_FILE).resolve()}"


class MetaDB:
    """One engine for the server's metadata; blocking calls run in a small pool, off the event loop."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        if self.is_sqlite and parsed.database in (None, "", ":memory:"):
            # One shared connection, or each pool thread would see its own empty in-memory database.
            self.engine: Engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            self.engine = create_engine(url)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="logwarden-meta")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking repository call in the metadata pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; busy_timeout waits for a lock instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
