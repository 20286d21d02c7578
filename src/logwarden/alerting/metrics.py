"""Prometheus metrics of alert routing and delivery, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from logwarden.alerting.service import AlertingService


class AlertingCollector(Collector):
    """Delivery attempts by outcome, the queue by state, notifications queued, silences in force."""

    def __init__(self, service: AlertingService) -> None:
        self._service = service

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        service = self._service
        attempts = CounterMetricFamily(
            "logwarden_notification_attempts",
            "Notification delivery attempts since start by outcome: delivered, retriable (retried later), rejected "
            "(the channel refused it: not retried), expired (given up at the delivery deadline).",
            labels=["tenant", "receiver", "integration", "outcome"],
        )
        latency = CounterMetricFamily(
            "logwarden_notification_delivery_seconds",
            "Time spent in delivered attempts (sum; divide by the delivered attempts for the mean).",
            labels=["tenant", "receiver", "integration"],
        )
        queue = GaugeMetricFamily(
            "logwarden_notifications",
            "Notifications in the persisted queue by state (queued, delivered, rejected, expired; finished ones are "
            "kept for alerting.delivery.history_retention).",
            labels=["tenant", "receiver", "integration", "state"],
        )
        queued = CounterMetricFamily("logwarden_notifications_queued", "Notifications the router queued since start.")
        if service.delivery is not None:
            # By tenant: a receiver name may exist in two tenants' alerting configs.
            for key, n in sorted(service.delivery.tenant_attempts.items()):
                attempts.add_metric(list(key), n)
            for lkey, seconds in sorted(service.delivery.tenant_latency_sum.items()):
                latency.add_metric(list(lkey), seconds)
        try:
            counts = service.queue.tenant_counts()
        except Exception:  # a scrape must not fail because the database is busy
            counts = {}
        for ckey, n in sorted(counts.items()):
            queue.add_metric(list(ckey), n)
        queued.add_metric([], service.router.queued if service.router is not None else 0)
        yield from (attempts, latency, queue, queued)
