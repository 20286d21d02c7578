"""The bus's Prometheus metrics, read from its state at scrape time (nothing on the publishing path)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from logwarden.bus.embedded import BatchBus


class BusCollector(Collector):
    """Per-subscriber position, lag, deliveries, errors and drops of one bus."""

    def __init__(self, bus: BatchBus) -> None:
        self._bus = bus

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        labels = ["subscriber", "mode"]
        position = GaugeMetricFamily(
            "logwarden_bus_position",
            "Sequence number of the last batch a subscriber handled (lossless) or was offered (lossy).",
            labels=labels,
        )
        lag = GaugeMetricFamily(
            "logwarden_bus_lag_bytes",
            "Bytes of the ingest log a lossless subscriber has not handled yet.",
            labels=labels,
        )
        batches = CounterMetricFamily(
            "logwarden_bus_batches", "Batches handed to a subscriber since start.", labels=labels
        )
        lines = CounterMetricFamily("logwarden_bus_lines", "Lines handed to a subscriber since start.", labels=labels)
        errors = CounterMetricFamily(
            "logwarden_bus_errors", "Failed attempts of a lossless subscriber at a batch (each retried).", labels=labels
        )
        dropped = CounterMetricFamily(
            "logwarden_bus_dropped_lines",
            "Lines a lossy subscriber dropped because it could not keep up.",
            labels=labels,
        )
        for s in self._bus.status():
            values = [s.name, "lossless" if s.lossless else "lossy"]
            position.add_metric(values, s.position)
            lag.add_metric(values, s.lag_bytes)
            batches.add_metric(values, s.batches)
            lines.add_metric(values, s.lines)
            errors.add_metric(values, s.errors)
            dropped.add_metric(values, s.dropped_lines)
        backpressure = CounterMetricFamily(
            "logwarden_bus_backpressure",
            "Appends refused (429) because a lossless subscriber was more than bus.max_lag_bytes behind.",
        )
        backpressure.add_metric([], self._bus.backpressure_events)
        yield from (position, lag, batches, lines, errors, dropped, backpressure)
