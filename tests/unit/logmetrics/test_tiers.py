"""Tiers: roll-up correctness (percentiles survive), idempotent roll-ups, late lines, per-tier retention, tier
selection, and queries that reach past what is rolled up."""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import pytest

from logwarden.config.logmetrics import MetricDefinition
from logwarden.logmetrics.query import RangeQuery, choose_tier, query_range
from logwarden.logmetrics.store import TIERS
from logwarden.logmetrics.subscriber import LogMetricsSubscriber
from tests.unit.logmetrics.conftest import RETENTION, Opener
from tests.unit.logmetrics.helpers import T0, Clock, line, stored

START = int(T0.timestamp())
LATENCY = MetricDefinition(name="latency", type="histogram", field="ms", labels=["service"])
HOUR = 3600


def load_two_hours(sub: LogMetricsSubscriber, seed: int = 3) -> list[float]:
    """A line every 3 s for two hours, values lognormal; the values."""
    rng = random.Random(seed)
    values = []
    for seq in range(1, 25):  # 24 batches of 5 minutes
        batch = []
        for i in range(100):
            v = round(rng.lognormvariate(4, 1), 2)
            values.append(v)
            batch.append(line((seq - 1) * 300 + i * 3, "api" if i % 3 else "web", ms=v))
        sub.handle(stored(seq, batch))
    sub.flush()
    return values


def per_tier(sub: LogMetricsSubscriber) -> dict[int, tuple[float, float, float, float]]:
    rows = sub.store.reader().execute("SELECT tier, sum(n), sum(total), min(lo), max(hi) FROM series_points GROUP BY 1")
    return {int(t): (n, round(total, 6), lo, hi) for t, n, total, lo, hi in rows.fetchall()}


def bins_per_tier(sub: LogMetricsSubscriber) -> dict[int, list[tuple[int, int]]]:
    rows = (
        sub.store.reader().execute("SELECT tier, bin, sum(n) FROM series_bins GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
    )
    out: dict[int, list[tuple[int, int]]] = {}
    for t, b, n in rows:
        out.setdefault(int(t), []).append((int(b), int(n)))
    return out


def test_rollup_keeps_counts_sums_extremes_and_every_bin_so_percentiles_survive(
    open_subscriber: Opener, clock: Clock
) -> None:
    sub = open_subscriber([LATENCY])
    values = load_two_hours(sub)
    clock.now = T0 + timedelta(hours=3)
    assert sub.compact()["tiers_advanced"] == 4  # 1m, 5m, 1h; the 1 d tier records where it starts (no day done)
    tiers = per_tier(sub)
    assert set(tiers) == {0, 1, 2, 3}
    assert len(set(tiers.values())) == 1  # the same lines, sum, min and max in every tier
    bins = bins_per_tier(sub)
    assert bins[0] == bins[1] == bins[2] == bins[3]
    # A whole-range p95 from the 1 h tier is the p95 of every value, within the sketch's accuracy.
    got = query_range(
        sub.store, LATENCY, "default", RangeQuery("latency", "p95", START, START + 2 * HOUR, 2 * HOUR), clock.now
    )
    assert got["tier"] == "1h"
    (series,) = got["series"]
    (_, p95) = series["values"][0]
    want = float(np.percentile(values, 95, method="lower"))
    assert abs(p95 - want) / want <= 0.02


def test_a_rollup_done_again_gives_the_same_rows(open_subscriber: Opener, clock: Clock) -> None:
    sub = open_subscriber([LATENCY])
    load_two_hours(sub)
    clock.now = T0 + timedelta(hours=3)
    sub.compact()
    read = "SELECT * FROM {} WHERE tier > 0 ORDER BY ALL"
    before = [sub.store.reader().execute(read.format(t)).fetchall() for t in ("points", "bins")]
    assert sub.compact()["tiers_advanced"] == 0  # nothing new to roll up
    # As after a crash that lost the record of how far the roll-ups got: they run again over the same range.
    sub.store.reader().execute("UPDATE rollup SET done_until = ?", [START - HOUR])
    assert sub.compact()["tiers_advanced"] == 3
    after = [sub.store.reader().execute(read.format(t)).fetchall() for t in ("points", "bins")]
    assert after == before


def test_a_late_line_for_a_rolled_up_bucket_reaches_every_tier(open_subscriber: Opener, clock: Clock) -> None:
    sub = open_subscriber([LATENCY])
    load_two_hours(sub)
    clock.now = T0 + timedelta(hours=3)
    sub.compact()
    sub.handle(
        stored(99, [line(125, "api", ms=1.5), line(3 * HOUR - 30, "api", ms=2)])
    )  # one late, one not rolled up yet
    sub.flush()
    tiers = per_tier(sub)
    assert tiers[0][0] == 2402
    assert tiers[1][0] == tiers[2][0] == tiers[3][0] == 2401  # the line after the roll-ups' reach waits for them
    clock.now = T0 + timedelta(hours=4)
    sub.compact()
    assert len(set(per_tier(sub).values())) == 1
    assert bins_per_tier(sub)[0] == bins_per_tier(sub)[3]


def test_each_tier_keeps_its_own_retention(open_subscriber: Opener, clock: Clock) -> None:
    sub = open_subscriber([LATENCY])
    load_two_hours(sub)
    clock.now = T0 + timedelta(hours=3)
    sub.compact()
    clock.now = T0 + timedelta(days=16)
    sub.compact()
    assert set(per_tier(sub)) == {1, 2, 3, 4}
    assert set(bins_per_tier(sub)) == {1, 2, 3, 4}
    clock.now = T0 + timedelta(days=91)
    sub.compact()
    assert set(per_tier(sub)) == {2, 3, 4}
    clock.now = T0 + timedelta(days=731)
    sub.compact()
    assert per_tier(sub) == {}


@pytest.mark.parametrize(
    ("step", "age", "tier"),
    [
        (10, 0, "10s"),
        (30, 0, "10s"),
        (60, 0, "1m"),
        (90, 0, "10s"),  # 1 m does not divide 90 s
        (600, 0, "5m"),
        (3600, 0, "1h"),
        (3 * 3600, 0, "1h"),
        (86400, 0, "1d"),
        (10, 20, "1m"),  # 10 s points are gone after 15 days: the finest tier that still has the start
        (60, 100, "5m"),
        (60, 800, "1d"),  # older than every tier: the coarsest
    ],
)
def test_the_coarsest_tier_that_fits_the_step_and_holds_the_start(step: int, age: int, tier: str) -> None:
    now = START + 1000 * 86400
    retention = [int(r.total_seconds()) for r in RETENTION]
    assert TIERS[choose_tier(step, now - age * 86400 - 1, now, retention)].name == tier


def test_a_query_reads_what_is_not_rolled_up_yet_from_the_finer_tiers(open_subscriber: Opener, clock: Clock) -> None:
    sub = open_subscriber([LATENCY])
    load_two_hours(sub)
    clock.now = T0 + timedelta(hours=1, minutes=30)  # the first hour is rolled up to 1 h, the second is not
    sub.compact()
    assert sub.store.done_until()[3] == START + HOUR
    got = query_range(
        sub.store,
        LATENCY,
        "default",
        RangeQuery("latency", "sum", START, START + 2 * HOUR, HOUR, ("service",)),
        clock.now,
    )
    assert got["tier"] == "1h"
    totals = {s["labels"]["service"]: [v for _, v in s["values"]] for s in got["series"]}
    rows = sub.store.reader().execute(
        "SELECT json_extract_string(labels, '$.service'), ts >= ?, sum(total) FROM series_points WHERE tier = 0 "
        "GROUP BY 1, 2",
        [START + HOUR],
    )
    want: dict[str, list[float]] = {"api": [0, 0], "web": [0, 0]}
    for service, second, total in rows.fetchall():
        want[service][int(second)] = total
    assert {k: [round(v, 6) for v in vs] for k, vs in totals.items()} == {
        k: [round(v, 6) for v in vs] for k, vs in want.items()
    }


def test_series_past_the_finest_tier_stop_counting_against_the_cap(open_subscriber: Opener, clock: Clock) -> None:
    capped = MetricDefinition(name="hosts", labels=["host"], max_series=1)
    sub = open_subscriber([capped], forget_interval=timedelta(0))
    sub.handle(stored(1, [line(1, host="a"), line(2, host="b")]))
    sub.flush()
    clock.now = T0 + timedelta(days=16)  # host a's 10 s points are gone
    sub.compact()
    late = int((clock.now - T0).total_seconds())
    sub.handle(stored(2, [line(late, host="c")]))
    sub.flush()
    rows = sub.store.reader().execute("SELECT labels FROM series_points WHERE tier = 0 ORDER BY ALL").fetchall()
    assert rows == [('{"host":"c"}',)]
