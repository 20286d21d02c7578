"""Metrics of the ingest path: lines and bytes stored, rejected, deduplicated; HTTP requests throttled and refused."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class IngestMetrics:
    """Registered on the registry passed in (one per server; tests run several)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.ingested_lines = Counter(
            "logwarden_ingested_lines",
            "Lines stored, by source and tenant.",
            ["source", "tenant"],
            registry=r,
        )
        self.ingested_bytes = Counter(
            "logwarden_ingested_bytes",
            "Raw (decompressed) bytes received, by source and tenant.",
            ["source", "tenant"],
            registry=r,
        )
        self.rejected_lines = Counter(
            "logwarden_rejected_lines",
            "Lines not stored as sent, by reason: invalid (undecodable) and future (stamped more than "
            "ingest.future_grace ahead), too_many_fields (limits.max_fields_per_record) and attr_key_limit "
            "(limits.max_attr_keys_per_tenant) went to the dead-letter stream; too_old (older than retention) "
            "was refused.",
            ["source", "tenant", "reason"],
            registry=r,
        )
        self.rejected_attr_keys = Counter(
            "logwarden_rejected_attr_keys",
            "Attribute keys refused because their tenant had used limits.max_attr_keys_per_tenant distinct keys.",
            ["tenant"],
            registry=r,
        )
        self.duplicate_lines = Counter(
            "logwarden_duplicate_lines",
            "Re-sent lines dropped because their <stream>@<offset> log id was already stored.",
            ["source", "tenant"],
            registry=r,
        )
        self.inflight_bytes = Gauge(
            "logwarden_inflight_bytes", "Bytes of requests being decoded or waiting for commit.", registry=r
        )


class HttpIngestMetrics:
    """The HTTP ingest endpoints' metrics, registered on the registry passed in (here, not in `ingest.http`, so
    that building metrics does not load the endpoints)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.throttled_requests = Counter(
            "logwarden_throttled_requests",
            "Requests answered 429 because the in-flight memory budget was full.",
            ["route"],
            registry=registry,
        )
        self.refused_requests = Counter(
            "logwarden_refused_requests",
            "Ingest requests refused with a 4xx status, by status.",
            ["route", "status"],
            registry=registry,
        )
