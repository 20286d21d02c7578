"""Metrics of the ingest pipelines: per processor step, reloads, and the counters processors keep."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily

if TYPE_CHECKING:
    from logwarden.pipeline.runner import PipelineSet, StepStats


class PipelineMetrics:
    """Registered on the registry passed in."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self._registry = registry
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
        self._registry.register(_ProcessorCounters(current))

    def observe_pipeline(self, stats: Iterable[StepStats]) -> None:
        """Count one batch's pass through each step."""
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


class _ProcessorCounters:
    """Collector over the running pipeline set; counters restart from 0 when a reload replaces it."""

    def __init__(self, current: Callable[[], PipelineSet]) -> None:
        self._current = current

    def collect(self) -> Iterator[CounterMetricFamily]:
        from logwarden.pipeline.copy import Copy  # at scrape time: as in the registry, processors load last

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
