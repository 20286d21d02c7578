"""Metrics split by package keep every name, type, label and help text dashboards use."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from logwarden.ingest.kafka.source import KafkaSourceStats
from logwarden.telemetry.metrics import Metrics
from tests.unit.telemetry.families import describe

# Written from the single-module Metrics before the split (same registry setup as `_full` below).
GOLDEN = Path(__file__).with_name("metric_families.txt")
# Families added since, each named here on purpose.
NEW = {"logwarden_kafka_source_consumer_lag", "logwarden_kafka_source_messages", "logwarden_rejected_attr_keys"}


KEPT = (
    "ingested_lines",
    "ingested_bytes",
    "rejected_lines",
    "duplicate_lines",
    "throttled_requests",
    "refused_requests",
    "inflight_bytes",
    "unapplied_bytes",
    "quarantined_lines",
    "store_size",
    "partitions",
    "maintenance_runs",
    "syslog_connections",
    "syslog_refused_connections",
    "syslog_oversize_frames",
    "syslog_store_waits",
    "syslog_dropped_frames",
    "pipeline_reloads",
    "observe_commit",
    "observe_apply",
    "observe_pipeline",
    "watch_pipelines",
    "watch_kafka",
    "render",
    "registry",
)


def _full(*kafka: tuple[str, KafkaSourceStats]) -> Metrics:
    metrics = Metrics()
    no_pipelines: Any = SimpleNamespace(pipelines=())
    metrics.watch_pipelines(lambda: no_pipelines)
    for name, stats in kafka or (("kafka", KafkaSourceStats()),):
        metrics.watch_kafka(stats, name)
    return metrics


def test_every_family_keeps_its_name_type_labels_and_help() -> None:
    before = GOLDEN.read_text().splitlines()
    now = describe(_full().registry)
    missing = sorted(set(before) - set(now))
    assert missing == []
    # Anything else is a deliberately new family (the bus registers its own, logwarden_bus_*).
    added = {line.split()[0] for line in set(now) - set(before)}
    assert {n for n in added if not n.startswith("logwarden_bus_")} == NEW


def test_attributes_other_code_uses_are_kept() -> None:
    metrics = Metrics()
    for name in KEPT:
        assert hasattr(metrics, name), name


def _samples(metrics: Metrics) -> dict[str, float]:
    out = {}
    for line in metrics.render().decode().splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def test_two_kafka_sources_sum_into_the_old_series_and_show_apart_in_the_new() -> None:
    a = KafkaSourceStats(batches=2, messages=10, lag={("logs", 0): 5, ("logs", 1): 1})
    b = KafkaSourceStats(batches=1, messages=4, lag={("logs", 0): 7, ("audit", 0): 2})
    samples = _samples(_full(("edge", a), ("core", b)))
    assert samples["logwarden_kafka_batches_total"] == 3
    assert samples["logwarden_kafka_messages_total"] == 14
    assert samples['logwarden_kafka_consumer_lag{partition="0",topic="logs"}'] == 7  # the largest
    assert samples['logwarden_kafka_consumer_lag{partition="0",topic="audit"}'] == 2
    assert samples['logwarden_kafka_source_consumer_lag{partition="0",source="edge",topic="logs"}'] == 5
    assert samples['logwarden_kafka_source_messages_total{source="core"}'] == 4


def test_no_kafka_source_no_kafka_metrics() -> None:
    assert not any("kafka" in key for key in _samples(Metrics()))


def test_store_callbacks_observe_into_the_store_histograms() -> None:
    metrics = Metrics()
    metrics.observe_commit(0.002, 10)
    metrics.observe_apply(0.3, 1000)
    samples = _samples(metrics)
    assert samples["logwarden_batch_commit_rows_count"] == 1
    assert samples['logwarden_batch_commit_seconds_bucket{le="0.0025"}'] == 1
    assert samples["logwarden_store_apply_rows_sum"] == 1000
