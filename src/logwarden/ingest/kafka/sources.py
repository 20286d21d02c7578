"""The Kafka source type: one `type: kafka` entry → one consumer (confluent-kafka is imported only when it starts)."""

from __future__ import annotations

from logwarden.config.model import Config
from logwarden.config.sources.kafka import KafkaSourceConfig
from logwarden.ingest.base import BackgroundSource
from logwarden.ingest.kafka.source import KafkaSource, KafkaSourceError, check_consumer_settings

CONFIG = KafkaSourceConfig


def build(entry: KafkaSourceConfig, config: Config) -> list[BackgroundSource]:
    """The consumer of `entry` (none when the entry is disabled), not yet started."""
    if not entry.enabled:
        return []
    return [KafkaSource(entry, config.ingest, name=entry.name or entry.type)]


def check_kafka_sources(config: Config) -> None:
    """KafkaSourceError naming the source when librdkafka refuses one consumer's settings (cheap: no broker)."""
    for entry in config.all_sources():
        if isinstance(entry, KafkaSourceConfig) and entry.enabled:
            try:
                check_consumer_settings(entry)
            except KafkaSourceError as exc:
                raise KafkaSourceError(f"source {entry.name!r}: {exc}") from None
