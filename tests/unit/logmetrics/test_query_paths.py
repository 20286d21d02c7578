"""Percentiles are the same whichever way the query counts the bins: the dense numpy array or the sorted runs
(taken when the array would be too large), and as `sketch.quantile` reads one distribution."""

from __future__ import annotations

import random

import pytest

from logwarden.config.logmetrics import MetricDefinition
from logwarden.logmetrics import query
from logwarden.logmetrics.query import RangeQuery, query_range
from logwarden.logmetrics.sketch import quantile
from tests.unit.logmetrics.conftest import Opener
from tests.unit.logmetrics.helpers import T0, Clock, line, stored

LATENCY = MetricDefinition(name="latency", type="histogram", field="ms", labels=["service", "route"])
START = int(T0.timestamp())


@pytest.mark.parametrize("fn", ["p50", "p95", "p99"])
@pytest.mark.parametrize("step", [10, 60, 600])
def test_dense_and_sorted_counting_agree(
    open_subscriber: Opener, clock: Clock, monkeypatch: pytest.MonkeyPatch, fn: str, step: int
) -> None:
    rng = random.Random(3)
    sub = open_subscriber([LATENCY])
    records = [
        line(
            i * 0.5,
            rng.choice(["api", "web"]),
            route=rng.choice("abc"),
            ms=rng.choice([0, -1, rng.lognormvariate(3, 2)]),
        )
        for i in range(2400)
    ]
    sub.handle(stored(1, records))
    sub.flush()
    q = RangeQuery("latency", fn, START, START + 1200, step, ("service",))
    dense = query_range(sub.store, LATENCY, "default", q, clock.now)
    monkeypatch.setattr(query, "LOOPED_BINS", 0)  # running counts by numpy's cumulative sum
    summed = query_range(sub.store, LATENCY, "default", q, clock.now)
    monkeypatch.setattr(query, "DENSE_CELLS", 0)
    runs = query_range(sub.store, LATENCY, "default", q, clock.now)
    assert [s["labels"] for s in dense["series"]] == [{"service": "api"}, {"service": "web"}]
    for a, b, c in zip(dense["series"], summed["series"], runs["series"], strict=True):
        assert a["values"].tolist() == b["values"].tolist() == c["values"].tolist()
    # Each step of each service: the sketch's own quantile of that service's bins in the step.
    rows = (
        sub.store.reader()
        .execute("SELECT json_extract_string(labels, '$.service'), ts, bin, n FROM series_bins WHERE tier = 0")
        .fetchall()
    )
    for found in dense["series"]:
        for at, value in found["values"].tolist():
            mine = [
                (b, n) for service, ts, b, n in rows if service == found["labels"]["service"] and at <= ts < at + step
            ]
            assert value == pytest.approx(quantile(mine, query.QUANTILES[fn]))
    # One step over everything: the sketch's own quantile of the bins of that service.
    whole = query_range(sub.store, LATENCY, "default", RangeQuery("latency", fn, START, START + 1200, 1200), clock.now)
    bins = sub.store.reader().execute("SELECT bin, sum(n) FROM series_bins WHERE tier = 0 GROUP BY 1").fetchall()
    assert whole["series"][0]["values"][0][1] == pytest.approx(quantile(bins, query.QUANTILES[fn]))
