"""Prometheus metrics of logwarden itself, on a registry per server (tests run several)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

if TYPE_CHECKING:
    from logwarden.ingest.kafka.source import KafkaSourceStats
    from logwarden.pipeline.runner import PipelineSet, StepStats

# `*_created` series double the exposition size and no dashboard uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

_COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Every metric the server exports; names follow Prometheus conventions."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
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
            "ingest.future_grace ahead) went to the dead-letter stream; too_old (older than retention) was refused.",
            ["source", "tenant", "reason"],
            registry=r,
        )
        self.duplicate_lines = Counter(
            "logwarden_duplicate_lines",
            "Re-sent lines dropped because their <stream>@<offset> log id was already stored.",
            ["source", "tenant"],
            registry=r,
        )
        self.throttled_requests = Counter(
            "logwarden_throttled_requests",
            "Requests answered 429 because the in-flight memory budget was full.",
            ["route"],
            registry=r,
        )
        self.refused_requests = Counter(
            "logwarden_refused_requests",
            "Ingest requests refused with a 4xx status, by status.",
            ["route", "status"],
            registry=r,
        )
        self.commit_seconds = Histogram(
            "logwarden_batch_commit_seconds",
            "Duration of one group commit (write + fdatasync) to the ingest log; requests are acknowledged after it.",
            buckets=_COMMIT_BUCKETS,
            registry=r,
        )
        self.commit_rows = Histogram(
            "logwarden_batch_commit_rows",
            "Rows written by one group commit.",
            buckets=(10, 100, 1000, 10_000, 50_000, 100_000, 500_000),
            registry=r,
        )
        self.apply_seconds = Histogram(
            "logwarden_store_apply_seconds",
            "Duration of one transaction moving acknowledged batches into the DuckDB hot store.",
            buckets=_COMMIT_BUCKETS,
            registry=r,
        )
        self.apply_rows = Histogram(
            "logwarden_store_apply_rows",
            "Rows moved into the hot store by one transaction.",
            buckets=(100, 1000, 10_000, 100_000, 250_000, 500_000, 1_000_000),
            registry=r,
        )
        self.unapplied_bytes = Gauge(
            "logwarden_store_unapplied_bytes",
            "Bytes of acknowledged batches (durable in the ingest log) not yet written to DuckDB.",
            registry=r,
        )
        self.quarantined_lines = Gauge(
            "logwarden_quarantined_lines",
            "Acknowledged lines the hot store could not take, set aside in <data_dir>/quarantine (each one is "
            "also a source:dead_letter line saying why).",
            registry=r,
        )
        self.inflight_bytes = Gauge(
            "logwarden_inflight_bytes", "Bytes of requests being decoded or waiting for commit.", registry=r
        )
        self.store_size = Gauge(
            "logwarden_store_size_bytes", "Bytes on disk of the hot store and the local archive.", registry=r
        )
        self.partitions = Gauge(
            "logwarden_store_partitions", "Day partitions, by tier (hot or archive).", ["tier"], registry=r
        )
        self.maintenance_runs = Counter(
            "logwarden_maintenance_runs", "Retention/archive passes, by outcome.", ["outcome"], registry=r
        )
        self.syslog_connections = Gauge(
            "logwarden_syslog_connections", "Open syslog connections, by listener (tcp, tls).", ["listener"], registry=r
        )
        self.syslog_refused_connections = Counter(
            "logwarden_syslog_refused_connections",
            "Syslog connections closed at once because syslog.max_connections were open, by listener.",
            ["listener"],
            registry=r,
        )
        self.syslog_oversize_frames = Counter(
            "logwarden_syslog_oversize_frames",
            "Syslog frames longer than syslog.max_frame_bytes (stored truncated as dead letters), by listener.",
            ["listener"],
            registry=r,
        )
        self.syslog_store_waits = Counter(
            "logwarden_syslog_store_waits",
            "Times a syslog TCP/TLS connection stopped reading because the store pushed back, by listener.",
            ["listener"],
            registry=r,
        )
        self.syslog_dropped_frames = Counter(
            "logwarden_syslog_dropped_frames",
            "Syslog frames lost: UDP batches the store refused (busy or failing), or frames left when shutdown "
            "timed out; by listener and reason.",
            ["listener", "reason"],
            registry=r,
        )

        step = ["pipeline", "processor"]
        self.pipeline_lines = Counter(
            "logwarden_pipeline_lines", "Lines a pipeline processor received.", step, registry=r
        )
        self.pipeline_errors = Counter(
            "logwarden_pipeline_errors",
            "Lines a pipeline processor failed on (tagged with pipeline_error, dead-lettered or dropped per on_error).",
            step,
            registry=r,
        )
        self.pipeline_dropped_lines = Counter(
            "logwarden_pipeline_dropped_lines",
            "Lines a pipeline processor removed: dropped on purpose (drop, sample, dedup), folded into another "
            "line (multiline), or dropped on error.",
            step,
            registry=r,
        )
        self.pipeline_dead_letter_lines = Counter(
            "logwarden_pipeline_dead_letter_lines",
            "Lines a pipeline processor failed on and sent to the dead-letter stream.",
            step,
            registry=r,
        )
        self.pipeline_seconds = Counter(
            "logwarden_pipeline_seconds", "Time spent in a pipeline processor.", step, registry=r
        )
        self.pipeline_reloads = Counter(
            "logwarden_pipeline_reloads",
            "Pipeline config reloads, by outcome (applied, unchanged, refused).",
            ["outcome"],
            registry=r,
        )

    def watch_pipelines(self, current: Callable[[], PipelineSet]) -> None:
        """Export the counters processors keep themselves (redactions, copies) at scrape time."""
        self.registry.register(_ProcessorCounters(current))

    def watch_kafka(self, stats: KafkaSourceStats) -> None:
        """Export the Kafka source's counters and consumer lag (kept by the source itself) at scrape time."""
        self.registry.register(_KafkaCounters(stats))

    def observe_pipeline(self, stats: Iterable[StepStats]) -> None:
        for s in stats:
            labels = (s.pipeline, s.step)
            self.pipeline_lines.labels(*labels).inc(s.lines_in)
            self.pipeline_seconds.labels(*labels).inc(s.seconds)
            if s.errors:
                self.pipeline_errors.labels(*labels).inc(s.errors)
            if s.dropped:
                self.pipeline_dropped_lines.labels(*labels).inc(s.dropped)
            if s.dead_lettered:
                self.pipeline_dead_letter_lines.labels(*labels).inc(s.dead_lettered)

    def observe_commit(self, seconds: float, rows: int) -> None:
        self.commit_seconds.observe(seconds)
        self.commit_rows.observe(rows)

    def observe_apply(self, seconds: float, rows: int) -> None:
        self.apply_seconds.observe(seconds)
        self.apply_rows.observe(rows)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ProcessorCounters:
    """Collector over the running pipeline set; counters restart from 0 when a reload replaces it."""

    def __init__(self, current: Callable[[], PipelineSet]) -> None:
        self._current = current

    def collect(self) -> Iterator[CounterMetricFamily]:
        from logwarden.pipeline.copy import Copy

        redactions = CounterMetricFamily(
            "logwarden_pipeline_redactions",
            "Values redacted, by pipeline, processor and detector (since the pipelines were last loaded).",
            labels=["pipeline", "processor", "detector"],
        )
        copies = CounterMetricFamily(
            "logwarden_pipeline_copies",
            "Copies of lines for a second sink, by outcome: sent, failed (after retries) or dropped (queue full).",
            labels=["pipeline", "processor", "outcome"],
        )
        for pipeline in self._current().pipelines:
            for step in pipeline.steps:
                processor = step.processor
                counts = getattr(processor, "redactions", None)
                if isinstance(counts, dict):
                    for detector, n in sorted(counts.items()):
                        redactions.add_metric([pipeline.name, step.id, str(detector)], n)
                if isinstance(processor, Copy):
                    for outcome in ("sent", "failed", "dropped"):
                        copies.add_metric([pipeline.name, step.id, outcome], getattr(processor, outcome))
        yield redactions
        yield copies


class _KafkaCounters:
    """Collector over one Kafka source's stats."""

    _COUNTERS = (
        ("batches", "Batches the Kafka source consumed and stored."),
        ("messages", "Messages the Kafka source consumed and stored."),
        ("commits", "Synchronous offset commits the Kafka source made (after storing a batch)."),
        ("commit_failures", "Offset commits (or partitions of one) that failed; retried with the next batch."),
        ("store_retries", "Times the Kafka source held a batch (partitions paused) because the store refused it."),
        ("bisections", "Times a Kafka batch was split to isolate a message the decoder could not take."),
    )

    def __init__(self, stats: KafkaSourceStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        for name, help_text in self._COUNTERS:
            yield CounterMetricFamily(f"logwarden_kafka_{name}", help_text, value=getattr(self._stats, name))
        lag = GaugeMetricFamily(
            "logwarden_kafka_consumer_lag",
            "Messages in a partition after the offset last committed (or fetched, before the first commit), "
            "by topic and partition, from the high watermarks of the consumer's latest fetches.",
            labels=["topic", "partition"],
        )
        for (topic, partition), n in sorted(self._stats.lag.items()):
            lag.add_metric([topic, str(partition)], n)
        yield lag
