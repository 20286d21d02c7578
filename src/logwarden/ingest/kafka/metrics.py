"""Metrics of the Kafka sources, read at scrape time from the counters each source keeps itself.

The unlabeled `logwarden_kafka_*` counters and `logwarden_kafka_consumer_lag{topic,partition}` predate
named sources: they are the sum over every Kafka source (the lag: the largest, when two sources read the
same partition in different groups). The `logwarden_kafka_source_*` families carry the source name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

if TYPE_CHECKING:
    from logwarden.ingest.kafka.source import KafkaSourceStats

_COUNTERS = (
    ("batches", "Batches the Kafka source consumed and stored."),
    ("messages", "Messages the Kafka source consumed and stored."),
    ("commits", "Synchronous offset commits the Kafka source made (after storing a batch)."),
    ("commit_failures", "Offset commits (or partitions of one) that failed; retried with the next batch."),
    ("store_retries", "Times the Kafka source held a batch (partitions paused) because the store refused it."),
    ("bisections", "Times a Kafka batch was split to isolate a message the decoder could not take."),
)


class KafkaMetrics:
    """One collector over every Kafka source's stats, registered on the registry passed in."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._sources: dict[str, KafkaSourceStats] = {}
        self._registry = registry
        self._registered = False

    def watch(self, name: str, stats: KafkaSourceStats) -> None:
        """Export the stats of the Kafka source named `name` (registered on first use: a server without
        Kafka exports no Kafka metrics)."""
        self._sources[name] = stats
        if not self._registered:
            self._registry.register(self)
            self._registered = True

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        sources = sorted(self._sources.items())
        for attr, help_text in _COUNTERS:
            total = sum(getattr(stats, attr) for _, stats in sources)
            yield CounterMetricFamily(f"logwarden_kafka_{attr}", help_text, value=total)
        lag = GaugeMetricFamily(
            "logwarden_kafka_consumer_lag",
            "Messages in a partition after the offset last committed (or fetched, before the first commit), "
            "by topic and partition, from the high watermarks of the consumer's latest fetches.",
            labels=["topic", "partition"],
        )
        source_lag = GaugeMetricFamily(
            "logwarden_kafka_source_consumer_lag",
            "logwarden_kafka_consumer_lag of each Kafka source, by source name, topic and partition.",
            labels=["source", "topic", "partition"],
        )
        messages = CounterMetricFamily(
            "logwarden_kafka_source_messages",
            "Messages each Kafka source consumed and stored, by source name.",
            labels=["source"],
        )
        largest: dict[tuple[str, int], int] = {}
        for name, stats in sources:
            messages.add_metric([name], stats.messages)
            for (topic, partition), n in sorted(stats.lag.items()):
                source_lag.add_metric([name, topic, str(partition)], n)
                largest[(topic, partition)] = max(n, largest.get((topic, partition), 0))
        for (topic, partition), n in sorted(largest.items()):
            lag.add_metric([topic, str(partition)], n)
        yield lag
        yield source_lag
        yield messages
