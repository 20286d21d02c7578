"""A subscriber over a series store of its own, with a settable clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from logwarden.config.logmetrics import MetricDefinition
from logwarden.logmetrics.store import SeriesStore
from logwarden.logmetrics.subscriber import LogMetricsSubscriber
from tests.unit.logmetrics.helpers import Clock

RETENTION = [timedelta(days=15), timedelta(days=90), timedelta(days=730), timedelta(days=730)]
Opener = Callable[..., LogMetricsSubscriber]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def open_subscriber(tmp_path: Path, clock: Clock) -> Iterator[Opener]:
    """Opens subscribers on `tmp_path/series.duckdb` (the same file each time); closes those left open."""
    opened: list[LogMetricsSubscriber] = []

    def make(definitions: Sequence[MetricDefinition], **kwargs: object) -> LogMetricsSubscriber:
        store = SeriesStore(tmp_path / "series.duckdb", RETENTION)
        sub = LogMetricsSubscriber(store, definitions, clock=clock, compact_interval=None, **kwargs)  # type: ignore[arg-type]
        opened.append(sub)
        return sub

    yield make
    for sub in opened:
        sub.close()
