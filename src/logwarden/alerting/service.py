"""Alerting in the server: the receivers' notifiers, the notification queue and its delivery workers, silences,
inhibition and the router, started after the metadata database and woken by the rules engine's commits."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine

from logwarden.alerting.config import AlertingConfig, integrations
from logwarden.alerting.notifiers import NOTIFIERS
from logwarden.alerting.notifiers.base import Notifier
from logwarden.alerting.notify.delivery import DeliveryService, IntegrationKey
from logwarden.alerting.notify.queue import NotificationQueue
from logwarden.alerting.router import AlertRouter

log = logging.getLogger(__name__)


def integration_names(receiver: Any) -> list[tuple[str, str, Any]]:
    """A receiver's integrations as (name, kind, config); names count per kind: `webhook[0]`, `webhook[1]`."""
    seen: Counter[str] = Counter()
    out = []
    for kind, config in integrations(receiver):
        out.append((f"{kind}[{seen[kind]}]", kind, config))
        seen[kind] += 1
    return out


def build_notifiers(config: AlertingConfig, http: httpx.Client | None = None) -> dict[IntegrationKey, Notifier]:
    """Every integration of every receiver, ready to send."""
    out: dict[IntegrationKey, Notifier] = {}
    for receiver in config.receivers:
        for name, kind, settings in integration_names(receiver):
            out[(receiver.name, name)] = NOTIFIERS[kind](settings, http=http)  # type: ignore[attr-defined]
    return out


@dataclass
class AlertingService:
    """The running alerting components (the router and delivery exist only when `alerting.route` is set)."""

    config: AlertingConfig
    queue: NotificationQueue
    silencer: Any = None
    inhibitor: Any = None
    router: AlertRouter | None = None
    delivery: DeliveryService | None = None
    notifiers: dict[IntegrationKey, Notifier] = field(default_factory=dict)
    http: httpx.Client | None = None

    def wake(self, *_: Any) -> None:
        """The rules engine committed a transition."""
        if self.router is not None:
            self.router.wake()

    def start(self) -> None:
        if self.delivery is not None:
            self.delivery.start()
        if self.router is not None:
            self.router.start()

    def stop(self) -> None:
        if self.router is not None:
            self.router.stop()
        if self.delivery is not None:
            self.delivery.stop()
        if self.http is not None:
            self.http.close()

    def reload(self, new: AlertingConfig) -> str:
        """Apply a changed `alerting:` section without a restart: routes, receivers, inhibition rules, time
        intervals and delivery timings. The router keeps the alerts it holds (their groups start again with
        `group_wait`; the notification log keeps them from re-sending) and the queue keeps what it holds (a
        notification for an integration that no longer exists is rejected, visibly). Turning routing on or off
        (`route` set or unset) and `delivery.workers` take effect at the next restart. Returns applied,
        unchanged or restart."""
        if new == self.config:
            return "unchanged"
        if (self.config.route is None) != (new.route is None) or self.router is None or self.delivery is None:
            log.warning("alerting: turning routing on or off takes effect at the next restart")
            return "restart"
        from logwarden.alerting.mute.inhibit import Inhibitor

        notifiers = build_notifiers(new, self.http)
        inhibitor = Inhibitor(new.inhibit_rules) if new.inhibit_rules else None
        self.delivery.notifiers = notifiers  # one assignment: a worker sees the old set or the new one
        workers = self.delivery.config.workers  # the pool's size is fixed at start
        if new.delivery.workers != workers:
            log.warning("alerting: delivery.workers takes effect at the next restart")
        self.delivery.config = new.delivery.model_copy(update={"workers": workers})
        self.router.reconfigure(new, inhibitor)
        old, self.notifiers = self.notifiers, notifiers
        self.inhibitor, self.config = inhibitor, new
        if self.http is None:  # the notifiers made their own clients
            for notifier in old.values():
                notifier.close()
        log.info("alerting reloaded: %d receivers, %d integrations", len(new.receivers), len(notifiers))
        return "applied"

    def muted_by(self, labels: dict[str, str], now: datetime | None = None) -> list[str]:
        """What mutes an alert with `labels` now (silence ids, inhibiting alerts), for the API."""
        now = now or datetime.now(UTC)
        out: list[str] = []
        for muter in (self.silencer, self.inhibitor):
            if muter is not None:
                out += muter.muted_by(labels, now)
        return out


def open_alerting(config: AlertingConfig, engine: Engine, *, external_url: str) -> AlertingService:
    """Build (not start) the alerting components on the metadata database `engine`."""
    from logwarden.alerting.mute.inhibit import Inhibitor
    from logwarden.alerting.mute.silence import Silencer, SilenceStore

    queue = NotificationQueue(engine)
    silencer = Silencer(SilenceStore(engine))
    inhibitor = Inhibitor(config.inhibit_rules) if config.inhibit_rules else None
    service = AlertingService(config, queue, silencer=silencer, inhibitor=inhibitor)
    if config.route is None:
        return service
    service.http = httpx.Client(follow_redirects=False)
    service.notifiers = build_notifiers(config, service.http)
    service.delivery = DeliveryService(queue, service.notifiers, config.delivery)
    delivery = service.delivery
    service.router = AlertRouter(
        engine,
        config,
        external_url=external_url,
        muters=[silencer],
        inhibitor=inhibitor,
        on_queued=lambda _n: delivery.wake(),
    )
    log.info(
        "alerting: %d receivers, %d integrations, %d inhibition rules",
        len(config.receivers),
        len(service.notifiers),
        len(config.inhibit_rules),
    )
    return service
