"""Describe every metric family a registry exposes: name, type, label names and help, one line each."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry


def describe(registry: CollectorRegistry) -> list[str]:
    """Sorted `name type [labels] help` lines (label names come from the metric, so no series need exist)."""
    lines = []
    for collector in list(registry._collector_to_names):
        for family in collector.collect():
            labels: Any = getattr(collector, "_labelnames", None) or getattr(family, "_labelnames", None)
            if not labels:
                labels = sorted({k for s in family.samples for k in s.labels if k not in ("le", "quantile")})
            lines.append(f"{family.name} {family.type} {list(labels)} {family.documentation}")
    return sorted(lines)
