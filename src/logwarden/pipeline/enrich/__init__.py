"""Enrichment: geoip (MaxMind .mmdb), user_agent (ua-parser) and lookup tables (CSV or SQL)."""

from __future__ import annotations

from logwarden.pipeline.base import ProcessorConfig
from logwarden.pipeline.enrich import geoip, lookup, user_agent

CONFIGS: tuple[type[ProcessorConfig], ...] = (*geoip.CONFIGS, *user_agent.CONFIGS, *lookup.CONFIGS)
