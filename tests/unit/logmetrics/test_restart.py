"""Exactly once: points are committed with the bus cursor, so a failed batch rewinds and a SIGKILL mid-window
neither loses nor doubles a line once the bus replays what follows the cursor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from logwarden.bus.base import BusBatch, RewindError
from logwarden.config.logmetrics import MetricDefinition
from logwarden.logmetrics.aggregate import builtin_definitions
from logwarden.logmetrics.store import SeriesStore
from logwarden.logmetrics.subscriber import LogMetricsSubscriber
from tests.unit.logmetrics.conftest import RETENTION, Opener
from tests.unit.logmetrics.helpers import line, stored

DEFINITIONS = [
    *builtin_definitions(),
    MetricDefinition(name="latency", type="histogram", field="ms", labels=["service"]),
]


def batch(seq: int) -> BusBatch:
    """Batch `seq`: ten lines in the same 10 s window as its neighbours (an open bucket across batches)."""
    return stored(
        seq, [line(seq * 0.5 + i * 0.01, "api" if i % 2 else "web", "error", ms=seq * 10 + i) for i in range(10)]
    )


def everything(store: SeriesStore) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    cur = store.reader()
    return (
        cur.execute("SELECT * FROM series_points ORDER BY ALL").fetchall(),
        cur.execute("SELECT * FROM series_bins ORDER BY ALL").fetchall(),
    )


def whole_run(path: Path, last: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    sub = LogMetricsSubscriber(SeriesStore(path, RETENTION), DEFINITIONS, compact_interval=None)
    for seq in range(1, last + 1):
        sub.handle(batch(seq))
    sub.flush()
    found = everything(sub.store)
    sub.close()
    return found


def test_a_failing_batch_rewinds_to_the_committed_cursor_and_counts_nothing_twice(
    open_subscriber: Opener, tmp_path: Path
) -> None:
    sub = open_subscriber(DEFINITIONS, commit_interval=timedelta(hours=1))
    sub.handle(batch(1))  # a new subscriber commits its first batch: its cursor
    sub.handle(batch(2))  # waits for the commit
    assert sub.cursor() == 1
    sub.coalesce_rows = 1  # aggregated at once (batches otherwise wait for the commit)
    with pytest.raises(RewindError) as rewound:
        sub.handle(BusBatch(3, batch(3).table.drop_columns(["ts"])))
    assert rewound.value.seq == 1
    del sub.coalesce_rows
    for seq in (2, 3):  # the bus hands everything after the cursor again
        sub.handle(batch(seq))
    sub.flush()
    assert sub.cursor() == 3
    assert everything(sub.store) == whole_run(tmp_path / "whole.duckdb", 3)


def test_a_batch_failing_at_the_commit_off_the_bus_thread_rewinds_at_the_next_batch(
    open_subscriber: Opener, tmp_path: Path
) -> None:
    sub = open_subscriber(DEFINITIONS, commit_interval=timedelta(hours=1))
    sub.handle(batch(1))
    sub.handle(batch(2))
    sub.handle(BusBatch(3, batch(3).table.drop_columns(["ts"])))  # waits: aggregated at the commit
    with pytest.raises(pa.ArrowInvalid):  # no `ts`: nulls where the batches are put together
        sub.flush()  # as the background tick would: nothing after the cursor is committed
    assert sub.cursor() == 1
    sub.flush()  # nothing to commit until the bus hands the batches again
    assert sub.cursor() == 1
    with pytest.raises(RewindError) as rewound:
        sub.handle(batch(4))
    assert rewound.value.seq == 1
    for seq in (2, 3, 4):
        sub.handle(batch(seq))
    sub.flush()
    assert sub.cursor() == 4
    assert everything(sub.store) == whole_run(tmp_path / "whole.duckdb", 4)


CHILD = """
import os, signal, sys
from datetime import timedelta
from pathlib import Path
from logwarden.logmetrics.store import SeriesStore
from logwarden.logmetrics.subscriber import LogMetricsSubscriber
from tests.unit.logmetrics.conftest import RETENTION
from tests.unit.logmetrics.test_restart import DEFINITIONS, batch

sub = LogMetricsSubscriber(
    SeriesStore(Path(sys.argv[1]), RETENTION), DEFINITIONS, commit_interval=timedelta(hours=1), compact_interval=None
)
for seq in range(1, 5):
    sub.handle(batch(seq))
print(sub.cursor(), len(sub._waiting) + len(sub._pending._points), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_sigkill_mid_window_neither_loses_nor_doubles_a_line(tmp_path: Path) -> None:
    path = tmp_path / "series.duckdb"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path.cwd(),
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    cursor, pending = child.stdout.split()
    assert cursor == "1" and int(pending) > 0  # batches 2-4 were handled, not committed, when it died
    sub = LogMetricsSubscriber(SeriesStore(path, RETENTION), DEFINITIONS, compact_interval=None)
    assert sub.cursor() == 1
    for seq in range(2, 7):  # the bus replays after the cursor, then new batches follow
        sub.handle(batch(seq))
    sub.flush()
    found = everything(sub.store)
    sub.close()
    assert found == whole_run(tmp_path / "whole.duckdb", 6)
    lines = sum(n for tier, metric, *_, n, _, _, _ in found[0] if metric == "logs_total" and tier == 0)  # type: ignore[misc]
    assert lines == 60
    assert os.path.exists(path)
