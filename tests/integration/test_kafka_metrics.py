"""The Kafka source's counters and consumer lag in /metrics, against a real broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from tests.conftest import make_config
from tests.integration.kafka_broker import KafkaBroker, KafkaHarnessError

pytestmark = pytest.mark.slow
MESSAGES = 1500


@pytest.fixture(scope="module")
def kafka() -> Iterator[KafkaBroker]:
    try:
        broker = KafkaBroker.start()
    except KafkaHarnessError as exc:
        pytest.fail(f"cannot start the Kafka test broker: {exc}", pytrace=False)
    yield broker
    broker.stop()


def kafka_samples(client: TestClient) -> dict[tuple[str, str], float]:
    """(metric name, partition or "") → value, for the logwarden_kafka_* series."""
    return {
        (s.name, s.labels.get("partition", "")): s.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for s in family.samples
        if s.name.startswith("logwarden_kafka_")
    }


def test_lag_and_commit_counters_follow_the_consumption(tmp_path: Path, kafka: KafkaBroker) -> None:
    topic, group = f"metrics-{uuid.uuid4().hex[:8]}", f"group-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(topic, partitions=2)
    kafka.produce(topic, ((orjson.dumps({"msg": f"m {i}"}), {"partition": i % 2}) for i in range(MESSAGES)))
    config = make_config(
        tmp_path,
        kafka={
            "enabled": True,
            "bootstrap_servers": kafka.bootstrap,
            "topics": [topic],
            "group_id": group,
            # One message per batch: one store and one commit each, so the backlog drains over seconds.
            "batch_max_messages": 1,
            "batch_wait": "50ms",
        },
    )
    seen_lag: list[float] = []
    with TestClient(create_app(config, run_maintenance=False)) as client:
        deadline = time.monotonic() + 90
        got = kafka_samples(client)
        while got.get(("logwarden_kafka_messages_total", ""), 0) < MESSAGES and time.monotonic() < deadline:
            seen_lag += [v for (name, _), v in got.items() if name == "logwarden_kafka_consumer_lag"]
            time.sleep(0.1)
            got = kafka_samples(client)
        assert got[("logwarden_kafka_messages_total", "")] == MESSAGES
        assert got[("logwarden_kafka_commits_total", "")] >= MESSAGES // 2
        assert got[("logwarden_kafka_commit_failures_total", "")] == 0
        assert max(seen_lag, default=0) > 0, "the backlog never showed as lag"
        # Caught up: both partitions report no lag once the watermarks are refreshed.
        while time.monotonic() < deadline:
            got = kafka_samples(client)
            lag = {p: v for (name, p), v in got.items() if name == "logwarden_kafka_consumer_lag"}
            if lag == {"0": 0, "1": 0}:
                break
            time.sleep(0.2)
        assert lag == {"0": 0, "1": 0}
