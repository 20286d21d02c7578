"""The Kafka source's counters and consumer lag in /metrics."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.ingest.kafka.source import KafkaSourceStats
from logwarden.telemetry.metrics import Metrics
from tests.conftest import free_port, make_config


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }


def test_stats_and_lag_are_exported_at_scrape_time() -> None:
    metrics = Metrics()
    stats = KafkaSourceStats()
    metrics.watch_kafka(stats)
    stats.batches, stats.messages, stats.commits, stats.commit_failures = 3, 120, 3, 1
    stats.lag = {("logs", 0): 7, ("logs", 1): 0}
    got = samples(metrics.render().decode())
    assert got[("logwarden_kafka_messages_total", ())] == 120
    assert got[("logwarden_kafka_batches_total", ())] == 3
    assert got[("logwarden_kafka_commits_total", ())] == 3
    assert got[("logwarden_kafka_commit_failures_total", ())] == 1
    assert got[("logwarden_kafka_store_retries_total", ())] == 0
    assert got[("logwarden_kafka_consumer_lag", (("partition", "0"), ("topic", "logs")))] == 7
    assert got[("logwarden_kafka_consumer_lag", (("partition", "1"), ("topic", "logs")))] == 0
    stats.lag = {}  # partitions revoked: their series go
    assert not any(name == "logwarden_kafka_consumer_lag" for name, _ in samples(metrics.render().decode()))


def test_a_server_with_a_kafka_source_exports_its_counters(tmp_path: Path) -> None:
    # No broker is needed to start the source (librdkafka connects in the background), so nothing is consumed.
    config = make_config(
        tmp_path, kafka={"enabled": True, "topics": ["logs"], "bootstrap_servers": f"127.0.0.1:{free_port()}"}
    )
    with TestClient(create_app(config, run_maintenance=False)) as client:
        got = samples(client.get("/metrics").text)
    assert got[("logwarden_kafka_messages_total", ())] == 0
    assert got[("logwarden_kafka_commits_total", ())] == 0
