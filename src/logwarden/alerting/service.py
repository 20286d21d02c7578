"""Alerting in the server: the receivers' notifiers, the notification queue and its delivery workers, silences,
inhibition and the router, started after the metadata database and woken by the rules engine's commits."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine

from logwarden.alerting.config import AlertingConfig, integrations
from logwarden.alerting.model import Notification
from logwarden.alerting.notifiers import NOTIFIERS
from logwarden.alerting.notifiers.base import DeliveryResult, Notifier
from logwarden.alerting.notify.delivery import DeliveryService, IntegrationKey
from logwarden.alerting.notify.outbound import OutboundPolicy, guarded_client, set_policy
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


def send_sample(
    config: AlertingConfig,
    receiver: str,
    sample: Notification,
    http: httpx.Client | None = None,
    answer_chars: int | None = None,
) -> list[dict[str, Any]]:
    """Send `sample` now through every integration of `receiver` (no queue, no retry) and say what each channel
    answered: integration, target, outcome, status, answer (cut at `answer_chars`). A notifier that raises is a
    retriable outcome with the error, not a crash of the caller (the test button, `logwarden notify test`)."""
    results: list[dict[str, Any]] = []
    notifiers = {k: v for k, v in build_notifiers(config, http).items() if k[0] == receiver}
    for (_, integration), notifier in notifiers.items():
        try:
            result = notifier.send(sample)
        except Exception as exc:  # a notifier bug is the answer
            result = DeliveryResult.retriable(f"{type(exc).__name__}: {exc}")
        finally:
            notifier.close()
        answer = str(result.answer)
        results.append(
            {
                "integration": integration,
                "target": notifier.describe(),
                "outcome": str(result.outcome),
                "status": result.status,
                "answer": answer if answer_chars is None else answer[:answer_chars],
            }
        )
    return results


@dataclass
class AlertingService:
    """The running alerting components (the router and delivery exist once some tenant routes: the config file's
    `alerting.route` is set, or a tenant has its own alerting config)."""

    config: AlertingConfig
    queue: NotificationQueue
    silencer: Any = None
    inhibitor: Any = None
    router: AlertRouter | None = None
    delivery: DeliveryService | None = None
    notifiers: dict[IntegrationKey, Notifier] = field(default_factory=dict)
    http: httpx.Client | None = None
    engine: Engine | None = None
    external_url: str = ""
    # Tenants with their own alerting config (alerting/tenant_config.py): effective config, integrations, version.
    tenant_configs: dict[str, AlertingConfig] = field(default_factory=dict)
    tenant_notifiers: dict[str, dict[IntegrationKey, Notifier]] = field(default_factory=dict)
    tenant_versions: dict[str, int] = field(default_factory=dict)
    tenant_http: httpx.Client | None = None  # tenants' receivers send through it: the outbound guard
    started: bool = False
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def wake(self, *_: Any) -> None:
        """The rules engine committed a transition."""
        if self.router is not None:
            self.router.wake()

    def start(self) -> None:
        self.started = True
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
        if self.tenant_http is not None:
            self.tenant_http.close()

    # --- per tenant -------------------------------------------------------------------------------------------

    def effective(self, tenant: str) -> tuple[AlertingConfig, bool]:
        """The alerting config `tenant`'s alerts go by, and whether it is the config file's (the fallback)."""
        own = self.tenant_configs.get(tenant)
        return (own, False) if own is not None else (self.config, True)

    def tenant_client(self) -> httpx.Client:
        """The HTTP client of tenants' own receivers: every connection checked by the outbound guard
        (alerting/notify/outbound.py) with the operator's `alerting.tenant_configs.allow_hosts`."""
        with self._lock:
            if self.tenant_http is None:
                self.tenant_http = guarded_client(OutboundPolicy.from_settings(self.config.tenant_configs.allow_hosts))
            return self.tenant_http

    def notifiers_for(self, tenant: str) -> dict[IntegrationKey, Notifier]:
        """The integrations `tenant`'s notifications go through."""
        return self.tenant_notifiers.get(tenant, self.notifiers)

    def set_tenant(self, tenant: str, config: AlertingConfig | None, version: int = 0) -> None:
        """Apply `tenant`'s own alerting config (None: back to the config file's) without a restart: its alerts
        move into the new tree's groups; other tenants are untouched. A notification already queued for one of
        its old integrations that no longer exists is rejected, visibly, as on a file reload."""
        with self._lock:
            if config is not None and config.route is not None:
                self._ensure_routing()
            old = self.tenant_notifiers.pop(tenant, None)
            if config is None:
                self.tenant_configs.pop(tenant, None)
                self.tenant_versions.pop(tenant, None)
            else:
                self.tenant_configs[tenant] = config
                self.tenant_versions[tenant] = version
                self.tenant_notifiers[tenant] = build_notifiers(config, self.tenant_client())
            if self.delivery is not None:
                self.delivery.tenant_notifiers = dict(self.tenant_notifiers)  # one assignment, as on reload
            if self.router is not None:
                self.router.set_tenant(tenant, config)
            if old is not None:  # they share the tenant client: closing releases only what they opened
                for notifier in old.values():
                    notifier.close()
        log.info("alerting: tenant %s %s", tenant, "uses the config file's" if config is None else "has its own")

    def sync_tenants(self) -> None:
        """Pick up tenant configs changed in the database by another server (or at start): compare versions."""
        if self.engine is None:
            return
        from logwarden.alerting.tenant_config import TenantConfigStore

        store = TenantConfigStore(self.engine)
        versions = store.versions()
        with self._lock:
            known = dict(self.tenant_versions)
        for tenant in known.keys() - versions.keys():
            self.set_tenant(tenant, None)
        changed = [t for t, v in versions.items() if known.get(t) != v]
        if not changed:
            return
        stored = store.all(self.config)
        for tenant in changed:
            found = stored.get(tenant)
            if found is None:
                log.warning("alerting: tenant %s's config does not load; it uses the config file's", tenant)
                if tenant in known:
                    self.set_tenant(tenant, None)
                continue
            self.set_tenant(tenant, found.config, found.version)

    def _ensure_routing(self) -> None:
        """Start the router and delivery workers if no tenant routed before (the file has no `route`)."""
        if self.router is not None or self.engine is None:
            return
        self.http = httpx.Client(follow_redirects=False)
        self.notifiers = build_notifiers(self.config, self.http)
        self.delivery = DeliveryService(self.queue, self.notifiers, self.config.delivery)
        delivery = self.delivery
        self.router = AlertRouter(
            self.engine,
            self.config,
            external_url=self.external_url,
            muters=[self.silencer] if self.silencer is not None else [],
            inhibitor=self.inhibitor,
            on_queued=lambda _n: delivery.wake(),
            tenants=self.tenant_configs,
            on_poll=self.sync_tenants,
        )
        if self.started:
            self.delivery.start()
            self.router.start()

    # --- the config file ------------------------------------------------------------------------------------

    def reload(self, new: AlertingConfig) -> str:
        """Apply a changed `alerting:` section without a restart: routes, receivers, inhibition rules, time
        intervals and delivery timings. The router keeps the alerts it holds (their groups start again with
        `group_wait`; the notification log keeps them from re-sending) and the queue keeps what it holds (a
        notification for an integration that no longer exists is rejected, visibly). Routing turns on or off
        with `route`; `delivery.workers` takes effect at the next restart. Returns applied, unchanged or
        restart (only a service built without a database). Tenants with their own config keep their routes
        and receivers (the file's server-wide settings apply to them too)."""
        if new == self.config:
            return "unchanged"
        from logwarden.alerting.mute.inhibit import Inhibitor
        from logwarden.alerting.tenant_config import TENANT_KEYS

        with self._lock:
            if self.router is None or self.delivery is None:
                if self.engine is None and new.route is not None:
                    log.warning("alerting: turning routing on takes effect at the next restart")
                    return "restart"
                # Nothing routed yet: the new section applies as the start would have applied it.
                if self.tenant_http is not None:
                    set_policy(self.tenant_http, OutboundPolicy.from_settings(new.tenant_configs.allow_hosts))
                self.config = new
                self.inhibitor = Inhibitor(new.inhibit_rules) if new.inhibit_rules else None
                if new.route is not None:
                    self._ensure_routing()
                log.info("alerting reloaded: %d receivers", len(new.receivers))
                return "applied"
            notifiers = build_notifiers(new, self.http)
            inhibitor = Inhibitor(new.inhibit_rules) if new.inhibit_rules else None
            self.delivery.notifiers = notifiers  # one assignment: a worker sees the old set or the new one
            workers = self.delivery.config.workers  # the pool's size is fixed at start
            if new.delivery.workers != workers:
                log.warning("alerting: delivery.workers takes effect at the next restart")
            self.delivery.config = new.delivery.model_copy(update={"workers": workers})
            self.router.reconfigure(new, inhibitor)
            old, self.notifiers = self.notifiers, notifiers
            if self.tenant_http is not None and new.tenant_configs != self.config.tenant_configs:
                set_policy(self.tenant_http, OutboundPolicy.from_settings(new.tenant_configs.allow_hosts))
            self.inhibitor, self.config = inhibitor, new
            for tenant, own in list(self.tenant_configs.items()):  # the server-wide settings are the file's
                updated = new.model_copy(update={k: getattr(own, k) for k in TENANT_KEYS})
                if updated != own:
                    self.tenant_configs[tenant] = updated
                    self.router.set_tenant(tenant, updated)
        if self.http is None:  # the notifiers made their own clients
            for notifier in old.values():
                notifier.close()
        log.info("alerting reloaded: %d receivers, %d integrations", len(new.receivers), len(notifiers))
        return "applied"

    def muted_by(self, labels: dict[str, str], now: datetime | None = None) -> list[str]:
        """What mutes an alert with `labels` now (silence ids, inhibiting alerts of its tenant), for the API."""
        now = now or datetime.now(UTC)
        if self.router is not None:
            return self.router.core.muted_by(labels, now)
        out: list[str] = []
        for muter in (self.silencer, self.inhibitor):
            if muter is not None:
                out += muter.muted_by(labels, now)
        return out


def open_alerting(config: AlertingConfig, engine: Engine, *, external_url: str) -> AlertingService:
    """Build (not start) the alerting components on the metadata database `engine`, with the tenants' own
    alerting configs stored there."""
    from logwarden.alerting.mute.inhibit import Inhibitor
    from logwarden.alerting.mute.silence import Silencer, SilenceStore
    from logwarden.alerting.tenant_config import TenantConfigStore

    queue = NotificationQueue(engine)
    silencer = Silencer(SilenceStore(engine))
    inhibitor = Inhibitor(config.inhibit_rules) if config.inhibit_rules else None
    service = AlertingService(
        config, queue, silencer=silencer, inhibitor=inhibitor, engine=engine, external_url=external_url
    )
    for tenant, stored in TenantConfigStore(engine).all(config).items():
        service.tenant_configs[tenant] = stored.config
        service.tenant_versions[tenant] = stored.version
    if config.route is None and not any(c.route is not None for c in service.tenant_configs.values()):
        return service
    service._ensure_routing()
    for tenant, own in service.tenant_configs.items():
        service.tenant_notifiers[tenant] = build_notifiers(own, service.tenant_client())
    assert service.delivery is not None
    service.delivery.tenant_notifiers = dict(service.tenant_notifiers)
    log.info(
        "alerting: %d receivers, %d integrations, %d inhibition rules; %d tenants with their own config",
        len(config.receivers),
        len(service.notifiers),
        len(config.inhibit_rules),
        len(service.tenant_configs),
    )
    return service
