"""Commits append (a key may have a row per commit); the roll-up to 1 m settles each finished bucket of the 10 s
tier into one row per key, and nothing a reader sees changes."""

from __future__ import annotations

from datetime import timedelta

from logwarden.config.logmetrics import MetricDefinition
from logwarden.logmetrics.query import RangeQuery, query_range
from logwarden.logmetrics.subscriber import LogMetricsSubscriber
from tests.unit.logmetrics.conftest import Opener
from tests.unit.logmetrics.helpers import T0, Clock, line, stored

LATENCY = MetricDefinition(name="latency", type="histogram", field="ms", labels=["service"])
START = int(T0.timestamp())


def raw_rows(sub: LogMetricsSubscriber, table: str) -> tuple[int, int]:
    """(rows, distinct keys) of tier 0 in `table`."""
    keys = "sid, ts" + (", bin" if table == "bins" else "")
    row = (
        sub.store.reader().execute(f"SELECT count(*), count(DISTINCT ({keys})) FROM {table} WHERE tier = 0").fetchone()
    )
    assert row is not None
    return int(row[0]), int(row[1])


def seen(sub: LogMetricsSubscriber, now: int) -> tuple[object, ...]:
    """What readers get: the view's rows and two queries."""
    cur = sub.store.reader()
    view = cur.execute("SELECT * FROM series_points WHERE tier = 0 ORDER BY ALL").fetchall()
    bins = cur.execute("SELECT * FROM series_bins WHERE tier = 0 ORDER BY ALL").fetchall()
    at = T0 + timedelta(seconds=now)
    rate = query_range(sub.store, LATENCY, "default", RangeQuery("latency", "sum", START, START + 60, 10), at)
    p95 = query_range(sub.store, LATENCY, "default", RangeQuery("latency", "p95", START, START + 60, 10), at)
    return view, bins, [s["values"].tolist() for s in rate["series"]], [s["values"].tolist() for s in p95["series"]]


def test_commits_append_and_the_rollup_settles_tier_0_into_one_row_per_key(
    open_subscriber: Opener, clock: Clock
) -> None:
    sub = open_subscriber([LATENCY])
    for seq in range(1, 6):  # five commits into the same six buckets
        sub.handle(stored(seq, [line(i, "api" if i % 2 else "web", ms=10 + (seq + i) % 5) for i in range(60)]))
        sub.flush()
    rows, keys = raw_rows(sub, "points")
    assert rows == 5 * keys  # a row per commit and key
    bin_rows, bin_keys = raw_rows(sub, "bins")
    assert bin_rows > bin_keys
    before = seen(sub, 120)
    clock.now = T0 + timedelta(minutes=5)
    sub.compact()
    assert raw_rows(sub, "points") == (keys, keys)
    assert raw_rows(sub, "bins") == (bin_keys, bin_keys)
    assert seen(sub, 300) == before
    # A late line for a settled bucket appends again; readers still sum it in.
    sub.handle(stored(6, [line(5, "api", ms=1000)]))
    sub.flush()
    rows, keys = raw_rows(sub, "points")
    assert rows == keys + 1
    view = sub.store.reader().execute(
        'SELECT n, hi FROM series_points WHERE tier = 0 AND ts = ? AND labels = \'{"service":"api"}\'', [START]
    )
    assert view.fetchall() == [(26.0, 1000.0)]
    # The next roll-up settles what the late line appended, in every tier.
    sub.compact()
    assert raw_rows(sub, "points") == (keys, keys)
    for tier in range(1, 5):
        row = (
            sub.store.reader()
            .execute("SELECT count(*), count(DISTINCT (sid, ts)) FROM points WHERE tier = ?", [tier])
            .fetchone()
        )
        assert row is not None and row[0] == row[1]
    again = sub.store.reader().execute(
        'SELECT n, hi FROM series_points WHERE tier = 0 AND ts = ? AND labels = \'{"service":"api"}\'', [START]
    )
    assert again.fetchall() == [(26.0, 1000.0)]


def test_late_rows_are_settled_at_close(open_subscriber: Opener, clock: Clock) -> None:
    # A backfill shorter than the roll-up interval: every commit lands below the settled range, in every tier.
    sub = open_subscriber([LATENCY])
    clock.now = T0 + timedelta(minutes=5)
    sub.compact()  # the roll-up has settled up to now
    for seq in range(1, 4):
        sub.handle(stored(seq, [line(i, "api", ms=10 + seq) for i in range(60)]))
        sub.flush()
    tiers = "SELECT tier, count(*), count(DISTINCT (sid, ts)) FROM points GROUP BY tier ORDER BY tier"
    before = sub.store.reader().execute(tiers).fetchall()
    assert any(rows > keys for _, rows, keys in before)  # a row per commit and key
    sub.close()
    reopened = open_subscriber([LATENCY])
    after = reopened.store.reader().execute(tiers).fetchall()
    assert [t for t, _, _ in after] == [t for t, _, _ in before]
    assert all(rows == keys for _, rows, keys in after)
