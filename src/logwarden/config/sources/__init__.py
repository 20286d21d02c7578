"""The `sources:` list: every background source's settings, one `type`-tagged model per kind.

`config` owns these shapes and `ingest` builds the sources from them (its registry maps each model to
a builder), so the dependency runs one way only: `ingest` → `config`, never back. A new kind of source
adds its model here (to `SOURCE_CONFIGS`) and its builder to `logwarden.ingest.sources`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from logwarden.config.sources.base import SourceIdentity
from logwarden.config.sources.kafka import KafkaConfig, KafkaSourceConfig
from logwarden.config.sources.syslog import SyslogConfig, SyslogSourceConfig

SOURCE_CONFIGS: tuple[type[SourceIdentity], ...] = (SyslogSourceConfig, KafkaSourceConfig)

if TYPE_CHECKING:
    SourceSpec = SyslogSourceConfig | KafkaSourceConfig
else:
    SourceSpec = Annotated[Union[SOURCE_CONFIGS], Field(discriminator="type")]  # noqa: UP007

# Names the deprecated single-source sections run under (their metrics and logs keep these names).
LEGACY_KAFKA_NAME = "kafka"
LEGACY_SYSLOG_NAME = "syslog"


def named_sources(sources: Iterable[SourceSpec]) -> list[SourceSpec]:
    """`sources` with each unnamed entry named `<type>-<position>`."""
    return [s if s.name else s.model_copy(update={"name": f"{s.type}-{i}"}) for i, s in enumerate(sources)]


def legacy_sources(kafka: KafkaConfig, syslog: SyslogConfig) -> list[SourceSpec]:
    """The deprecated `kafka:` and `syslog:` sections as source entries (when they enable anything)."""
    entries: list[SourceSpec] = []
    if syslog.enabled:
        entries.append(SyslogSourceConfig(**dict(syslog), type="syslog", name=LEGACY_SYSLOG_NAME))
    if kafka.enabled:
        entries.append(KafkaSourceConfig(**dict(kafka), type="kafka", name=LEGACY_KAFKA_NAME))
    return entries


def check_unique_source_names(sources: Iterable[SourceSpec]) -> None:
    """ValueError naming the first source name used twice."""
    seen: set[str] = set()
    for source in sources:
        assert source.name is not None
        if source.name in seen:
            raise ValueError(
                f"two sources are named {source.name!r}: give each entry of sources a unique name (the deprecated "
                f"`{LEGACY_KAFKA_NAME}:` and `{LEGACY_SYSLOG_NAME}:` sections run under those names)"
            )
        seen.add(source.name)


__all__ = [
    "SOURCE_CONFIGS",
    "KafkaConfig",
    "KafkaSourceConfig",
    "SourceSpec",
    "SyslogConfig",
    "SyslogSourceConfig",
    "check_unique_source_names",
    "legacy_sources",
    "named_sources",
]
