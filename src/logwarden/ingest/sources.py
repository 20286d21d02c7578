"""Build the background sources a config lists, through a registry of one builder per source type.

Each source package contributes a `SourceKind` (its config model and its builder); `SOURCE_KINDS` lists
them, as `pipeline.registry` lists processor types. The shapes live in `config.sources` (config never
imports ingest); a new source type adds its model there and its kind here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from logwarden.config.model import Config
from logwarden.config.sources import SourceSpec
from logwarden.ingest.base import BackgroundSource
from logwarden.ingest.kafka import sources as kafka_sources
from logwarden.ingest.syslog import sources as syslog_sources

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceKind:
    """One type of source: the config model of its `sources:` entries and how one entry becomes sources."""

    config: type[Any]
    build: Callable[[Any, Config], list[BackgroundSource]]


SOURCE_KINDS: tuple[SourceKind, ...] = (
    SourceKind(syslog_sources.CONFIG, syslog_sources.build),
    SourceKind(kafka_sources.CONFIG, kafka_sources.build),
)

_BUILDERS: dict[type[Any], Callable[[Any, Config], list[BackgroundSource]]] = {k.config: k.build for k in SOURCE_KINDS}


def build_sources(config: Config) -> list[BackgroundSource]:
    """Every source `config` asks for (the deprecated sections first), not yet started.

    Logs the config's deprecation notices: this runs once, at start.
    """
    for notice in config.deprecations:
        log.warning("%s", notice)
    sources: list[BackgroundSource] = []
    for entry in config.all_sources():
        sources.extend(build_entry(entry, config))
    return sources


def build_entry(entry: SourceSpec, config: Config) -> list[BackgroundSource]:
    """The sources of one `sources:` entry (a syslog entry opens one per listener)."""
    return _BUILDERS[type(entry)](entry, config)
