"""A real logwarden server process with one extra stateful bus subscriber, for the SIGKILL tests.

`python -m tests.integration.bus_server CONFIG_FILE PORT STATE_SQLITE`: serves like `logwarden serve`, and
adds `SqliteLines`, which commits every line's log_id and its cursor in one SQLite transaction.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import time
from pathlib import Path

from logwarden.api.app import create_app
from logwarden.api.server import bind_socket, build_server
from logwarden.bus.base import BusBatch
from logwarden.config import load_config


class SqliteLines:
    """Stateful lossless subscriber: lines and cursor in one transaction, a little slow on purpose."""

    name = "sqlite-lines"

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS lines (log_id TEXT, seq INTEGER)")
        self.db.execute("CREATE TABLE IF NOT EXISTS position (seq INTEGER)")

    def cursor(self) -> int | None:
        row = self.db.execute("SELECT max(seq) FROM position").fetchone()
        return None if row[0] is None else int(row[0])

    def handle(self, batch: BusBatch) -> None:
        time.sleep(0.005)  # so that a backlog builds up under load and the kill lands inside it
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(
            "INSERT INTO lines VALUES (?, ?)", [(i, batch.seq) for i in batch.table.column("log_id").to_pylist()]
        )
        self.db.execute("DELETE FROM position")
        self.db.execute("INSERT INTO position VALUES (?)", (batch.seq,))
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


def main() -> None:
    config_file, port, state = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(Path(config_file), env={}, overrides={"http.port": port})
    app = create_app(config, config_path=Path(config_file), subscribers=[SqliteLines(state)])
    server = build_server(app, config.http, log_level="warning")
    server.run(sockets=[bind_socket("127.0.0.1", port)])


if __name__ == "__main__":
    main()
