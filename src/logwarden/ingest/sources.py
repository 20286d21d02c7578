"""The background sources a config asks for (each protocol adds itself here)."""

from __future__ import annotations

from logwarden.config.model import Config
from logwarden.ingest.base import BackgroundSource


def build_sources(config: Config) -> list[BackgroundSource]:
    """Background sources enabled by `config`, not yet started."""
    sources: list[BackgroundSource] = []
    if config.kafka.enabled:
        from logwarden.ingest.kafka.source import KafkaSource

        sources.append(KafkaSource(config.kafka, config.ingest))
    if config.syslog.enabled:
        from logwarden.ingest.syslog.sources import syslog_sources

        sources.extend(syslog_sources(config))
    return sources
