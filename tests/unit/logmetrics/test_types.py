"""Each metric type on real batches: counters, sums, histograms and summaries, labels from stored fields and from
line pipes, and the cardinality cap with its `other` series."""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import pyarrow as pa

from logwarden.bus.base import BusBatch
from logwarden.config.logmetrics import MetricDefinition
from logwarden.logmetrics.aggregate import builtin_definitions
from logwarden.logmetrics.exposition import render
from logwarden.logmetrics.query import RangeQuery, query_range
from logwarden.logmetrics.subscriber import LogMetricsSubscriber
from tests.unit.logmetrics.conftest import Opener
from tests.unit.logmetrics.helpers import T0, line, stored

START = int(T0.timestamp())


def points(sub: LogMetricsSubscriber, metric: str, tier: int = 0) -> list[tuple[str, int, float, float]]:
    """(labels, bucket start − T0, lines, sum) of a metric's points, in order."""
    sub.flush()
    rows = (
        sub.store.reader()
        .execute(
            "SELECT labels, ts, n, total FROM series_points WHERE metric = ? AND tier = ? ORDER BY ALL", [metric, tier]
        )
        .fetchall()
    )
    return [(labels, ts - START, n, total) for labels, ts, n, total in rows]


def q(sub: LogMetricsSubscriber, metric: str, fn: str, step: int = 60, by: tuple[str, ...] = ()) -> dict:  # type: ignore[type-arg]
    query = RangeQuery(metric, fn, START, START + 3600, step, by)
    return query_range(sub.store, sub.definitions[metric], "default", query, T0 + timedelta(hours=2))


def test_a_counter_counts_matching_lines_per_10s_bucket_and_label(open_subscriber: Opener) -> None:
    sub = open_subscriber([MetricDefinition(name="errors", query="level:error", labels=["service"])])
    sub.handle(stored(1, [line(1, "api", "error"), line(9.9, "api", "error"), line(10, "api", "error")]))
    sub.handle(stored(2, [line(3, "web", "error"), line(4, "web", "info"), line(5, "db", "warn")]))
    assert points(sub, "errors") == [
        ('{"service":"api"}', 0, 2, 2),
        ('{"service":"api"}', 10, 1, 1),
        ('{"service":"web"}', 0, 1, 1),
    ]
    # Another tenant's lines are its own series.
    sub.handle(stored(3, [line(1, "api", "error")], tenant="acme"))
    sub.flush()
    tenants = sub.store.reader().execute("SELECT DISTINCT tenant FROM series_points ORDER BY 1").fetchall()
    assert tenants == [("acme",), ("default",)]


def test_one_batch_of_several_tenants_counts_each_in_its_own_series(open_subscriber: Opener) -> None:
    sub = open_subscriber([MetricDefinition(name="errors", query="level:error", labels=["service"])])
    mixed = [
        stored(1, [line(1, "api", "error"), line(2, "web", "error")]),
        stored(1, [line(3, "api", "error")], tenant="acme"),
        stored(1, [line(4, "api", "error")]),
    ]
    sub.handle(BusBatch(1, pa.concat_tables([b.table for b in mixed])))  # one call, the tenants interleaved
    sub.flush()
    rows = (
        sub.store.reader()
        .execute("SELECT tenant, labels, n FROM series_points WHERE metric = 'errors' AND tier = 0 ORDER BY ALL")
        .fetchall()
    )
    assert rows == [
        ("acme", '{"service":"api"}', 1),
        ("default", '{"service":"api"}', 2),
        ("default", '{"service":"web"}', 1),
    ]


def test_a_sum_adds_a_field_extracted_by_a_line_pipe_and_skips_what_is_no_number(open_subscriber: Opener) -> None:
    sub = open_subscriber(
        [
            MetricDefinition(
                name="took_ms", type="sum", query='took | extract "took (?P<ms>\\S+)ms"', field="ms", labels=["service"]
            )
        ]
    )
    sub.handle(
        stored(
            1,
            [
                line(1, msg="request took 12.5ms"),
                line(2, msg="request took 30ms"),
                line(3, msg="request took NaNms"),  # no finite number: left out
                line(4, msg="request took xms"),
                line(5, msg="nothing here"),
            ],
        )
    )
    assert points(sub, "took_ms") == [('{"service":"api"}', 0, 2, 42.5)]
    assert q(sub, "took_ms", "avg")["series"][0]["values"].tolist() == [[START, 21.25]]
    assert q(sub, "took_ms", "max")["series"][0]["values"].tolist() == [[START, 30.0]]


def test_histogram_percentiles_are_within_the_sketch_accuracy(open_subscriber: Opener) -> None:
    sub = open_subscriber([MetricDefinition(name="latency", type="histogram", field="latency_ms")])
    rng = random.Random(7)
    values = [round(rng.lognormvariate(3, 1.2), 3) for _ in range(3000)]
    for seq in range(3):
        chunk = values[seq * 1000 : (seq + 1) * 1000]
        sub.handle(stored(seq + 1, [line(i * 0.05 + seq * 60, latency_ms=v) for i, v in enumerate(chunk)]))
    sub.flush()
    for fn, pct in (("p50", 50), ("p95", 95), ("p99", 99)):
        (series,) = q(sub, "latency", fn, step=3600)["series"]
        (_, got) = series["values"][0]
        want = float(np.percentile(values, pct, method="lower"))
        assert abs(got - want) / want <= 0.021, (fn, got, want)  # 1 % sketch + one rank of rounding


def test_a_summary_is_exposed_with_quantiles_and_a_histogram_with_buckets(open_subscriber: Opener) -> None:
    sub = open_subscriber(
        [
            MetricDefinition(name="size", type="summary", field="bytes"),
            MetricDefinition(name="dur", type="histogram", field="s", buckets=[0.1, 1.0]),
        ]
    )
    sub.handle(stored(1, [line(i, bytes=v, s=v / 100) for i, v in enumerate([10, 20, 30, 40, 100])]))
    sub.flush()
    text = render(sub.definitions, sub.snapshot())
    assert "# TYPE size summary" in text
    assert 'size{tenant="default",quantile="0.5"} 30' in text.replace("29.9", "30").replace("30.0", "30")
    assert 'size_sum{tenant="default"} 200' in text
    assert 'size_count{tenant="default"} 5' in text
    assert "# TYPE dur histogram" in text
    assert 'dur_bucket{tenant="default",le="0.1"} 1' in text  # 0.1 itself
    assert 'dur_bucket{tenant="default",le="1"} 5' in text
    assert 'dur_bucket{tenant="default",le="+Inf"} 5' in text


def test_the_builtin_series_count_lines_and_message_bytes_by_service_and_level(open_subscriber: Opener) -> None:
    sub = open_subscriber(builtin_definitions())
    sub.handle(stored(1, [line(1, "api", "error", msg="héllo"), line(2, "api", "error", msg="x"), line(3, "web")]))
    assert points(sub, "logs_total") == [
        ('{"service":"api","level":"ERROR"}', 0, 2, 2),
        ('{"service":"web","level":"INFO"}', 0, 1, 1),
    ]
    assert [(labels, total) for labels, _, _, total in points(sub, "log_bytes_total")] == [
        ('{"service":"api","level":"ERROR"}', 7),  # "héllo" is 6 bytes in UTF-8
        ('{"service":"web","level":"INFO"}', 2),
    ]
    text = render(sub.definitions, sub.snapshot())
    assert 'logs_total{tenant="default",service="api",level="ERROR"} 2' in text
    assert 'log_bytes_total{tenant="default",service="web",level="INFO"} 2' in text


def test_label_combinations_beyond_the_cap_count_in_the_other_series_across_restarts(open_subscriber: Opener) -> None:
    ips = MetricDefinition(
        name="logins", query='login | extract "from (?P<ip>\\S+)"', labels=["ip", "service"], max_series=2
    )
    sub = open_subscriber([ips])
    sub.handle(stored(1, [line(1, msg=f"login from 10.0.0.{i}") for i in (1, 2, 3, 4, 1)]))
    assert points(sub, "logins") == [
        ('{"ip":"10.0.0.1","service":"api"}', 0, 2, 2),
        ('{"ip":"10.0.0.2","service":"api"}', 0, 1, 1),
        ('{"ip":"other","service":"other"}', 0, 2, 2),
    ]
    assert sub.over_cap == 2
    sub.close()
    # The admitted combinations come back from the store: the cap still holds, the known ones still count.
    again = open_subscriber([ips])
    again.handle(stored(2, [line(11, msg="login from 10.0.0.9"), line(12, msg="login from 10.0.0.2")]))
    assert points(again, "logins")[-3:] == [
        ('{"ip":"10.0.0.2","service":"api"}', 10, 1, 1),
        ('{"ip":"other","service":"other"}', 0, 2, 2),
        ('{"ip":"other","service":"other"}', 10, 1, 1),
    ]
