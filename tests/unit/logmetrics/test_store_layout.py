"""The series store's layout: points and bins keyed by numbered series, and a file of the first layout (keyed by
labels) moved over at open with nothing lost."""

from __future__ import annotations

from pathlib import Path

import duckdb

from logwarden.logmetrics.store import SeriesStore
from tests.unit.logmetrics.conftest import RETENTION

FIRST_LAYOUT = (
    "CREATE TABLE points (tier UTINYINT, metric VARCHAR, tenant VARCHAR, labels VARCHAR, ts BIGINT, "
    "n DOUBLE, total DOUBLE, lo DOUBLE, hi DOUBLE, PRIMARY KEY (tier, metric, tenant, labels, ts))",
    "CREATE TABLE bins (tier UTINYINT, metric VARCHAR, tenant VARCHAR, labels VARCHAR, ts BIGINT, "
    "bin SMALLINT, n BIGINT, PRIMARY KEY (tier, metric, tenant, labels, ts, bin))",
    "CREATE TABLE cursors (name VARCHAR PRIMARY KEY, seq BIGINT)",
    "INSERT INTO points VALUES (0, 'latency', 'default', '{\"service\":\"api\"}', 100, 2, 30, 10, 20), "
    "(3, 'latency', 'default', '{\"service\":\"api\"}', 0, 5, 70, 5, 20), "
    '(0, \'logs_total\', \'acme\', \'{"service":"web","level":"INFO"}\', 100, 7, 7, 1, 1)',
    "INSERT INTO bins VALUES (0, 'latency', 'default', '{\"service\":\"api\"}', 100, 230, 1), "
    "(0, 'latency', 'default', '{\"service\":\"api\"}', 100, 301, 1)",
    "INSERT INTO cursors VALUES ('logmetrics', 41)",
)


def test_a_file_of_the_first_layout_is_moved_to_numbered_series(tmp_path: Path) -> None:
    path = tmp_path / "series.duckdb"
    with duckdb.connect(str(path)) as con:
        for statement in FIRST_LAYOUT:
            con.execute(statement)
        before_points = con.execute("SELECT * FROM points ORDER BY ALL").fetchall()
        before_bins = con.execute("SELECT * FROM bins ORDER BY ALL").fetchall()
    store = SeriesStore(path, RETENTION)
    try:
        cur = store.reader()
        assert cur.execute("SELECT * FROM series_points ORDER BY ALL").fetchall() == before_points
        assert cur.execute("SELECT * FROM series_bins ORDER BY ALL").fetchall() == before_bins
        assert cur.execute("SELECT count(*) FROM series").fetchall() == [(2,)]
        assert store.cursor("logmetrics") == 41
    finally:
        store.close()
    again = SeriesStore(path, RETENTION)  # opened again: nothing to move, nothing changed
    try:
        assert again.reader().execute("SELECT * FROM series_points ORDER BY ALL").fetchall() == before_points
    finally:
        again.close()


def test_a_checkpoint_while_another_write_is_open_is_put_off_not_an_error(tmp_path: Path) -> None:
    # Seen in bench/peers.py's server log: "Cannot CHECKPOINT: there are other write transactions active", logged
    # with a traceback by the background loop. The checkpoint is an optimization: it waits for the next one.
    store = SeriesStore(tmp_path / "series.duckdb", RETENTION)
    try:
        other = store._con.cursor()
        other.execute("BEGIN TRANSACTION")
        other.execute("CREATE TABLE scratch (x INTEGER)")
        assert store.checkpoint() is False
        other.execute("ROLLBACK")
        other.close()
        assert store.checkpoint() is True
    finally:
        store.close()
