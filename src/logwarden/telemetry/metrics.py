"""Prometheus metrics of logwarden itself: one registry per server (tests run several).

Each package defines and registers its own metrics on the registry it is given (Alertmanager's
`NewMetrics(r)`): `ingest.metrics`, `ingest.syslog.metrics`, `ingest.kafka.metrics`,
`store.metrics`, `pipeline.metrics`. `Metrics` owns the registry, builds those sets, renders the exposition,
and keeps the attribute names the rest of the code uses (`metrics.ingested_lines`, `observe_commit`, …).
Other components (the batch bus) register theirs on `metrics.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest

from logwarden.ingest.kafka.metrics import KafkaMetrics
from logwarden.ingest.metrics import HttpIngestMetrics, IngestMetrics
from logwarden.ingest.syslog.metrics import SyslogMetrics
from logwarden.pipeline.metrics import PipelineMetrics
from logwarden.store.metrics import StoreMetrics

if TYPE_CHECKING:
    from logwarden.ingest.kafka.source import KafkaSourceStats
    from logwarden.pipeline.runner import PipelineSet, StepStats

# `*_created` series double the exposition size and no dashboard uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """Every metric the server exports, by package; names follow Prometheus conventions."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.ingest = IngestMetrics(self.registry)
        self.http = HttpIngestMetrics(self.registry)
        self.store = StoreMetrics(self.registry)
        self.syslog = SyslogMetrics(self.registry)
        self.kafka = KafkaMetrics(self.registry)
        self.pipeline = PipelineMetrics(self.registry)

        # The names callers used when every metric lived here.
        self.ingested_lines = self.ingest.ingested_lines
        self.ingested_bytes = self.ingest.ingested_bytes
        self.rejected_lines = self.ingest.rejected_lines
        self.duplicate_lines = self.ingest.duplicate_lines
        self.inflight_bytes = self.ingest.inflight_bytes
        self.throttled_requests = self.http.throttled_requests
        self.refused_requests = self.http.refused_requests
        self.commit_seconds = self.store.commit_seconds
        self.commit_rows = self.store.commit_rows
        self.apply_seconds = self.store.apply_seconds
        self.apply_rows = self.store.apply_rows
        self.unapplied_bytes = self.store.unapplied_bytes
        self.quarantined_lines = self.store.quarantined_lines
        self.store_size = self.store.store_size
        self.partitions = self.store.partitions
        self.maintenance_runs = self.store.maintenance_runs
        self.syslog_connections = self.syslog.syslog_connections
        self.syslog_refused_connections = self.syslog.syslog_refused_connections
        self.syslog_oversize_frames = self.syslog.syslog_oversize_frames
        self.syslog_store_waits = self.syslog.syslog_store_waits
        self.syslog_dropped_frames = self.syslog.syslog_dropped_frames
        self.pipeline_lines = self.pipeline.pipeline_lines
        self.pipeline_errors = self.pipeline.pipeline_errors
        self.pipeline_dropped_lines = self.pipeline.pipeline_dropped_lines
        self.pipeline_dead_letter_lines = self.pipeline.pipeline_dead_letter_lines
        self.pipeline_seconds = self.pipeline.pipeline_seconds
        self.pipeline_reloads = self.pipeline.pipeline_reloads

    def watch_pipelines(self, current: Callable[[], PipelineSet]) -> None:
        """Export the counters processors keep themselves (redactions, copies) at scrape time."""
        self.pipeline.watch_pipelines(current)

    def watch_kafka(self, stats: KafkaSourceStats, name: str = "kafka") -> None:
        """Export a Kafka source's counters and consumer lag (kept by the source itself) at scrape time."""
        self.kafka.watch(name, stats)

    def observe_pipeline(self, stats: Iterable[StepStats]) -> None:
        """Count one batch's pass through each pipeline step."""
        self.pipeline.observe_pipeline(stats)

    def observe_commit(self, seconds: float, rows: int) -> None:
        """One group commit to the ingest log."""
        self.store.observe_commit(seconds, rows)

    def observe_apply(self, seconds: float, rows: int) -> None:
        """One transaction into the hot store."""
        self.store.observe_apply(seconds, rows)

    def render(self) -> bytes:
        """The Prometheus text exposition of every registered metric."""
        return generate_latest(self.registry)
