"""One routing tree per tenant: `TenantRouterCore` sends each alert to the `RouterCore` of its tenant's own alerting
configuration, or to the shared one of the config file's `alerting:` section (the fallback) for tenants without
one — Mimir's multi-tenant Alertmanager, in one router thread.

Every core shares the one notification log (its keys hold the group key, which holds the tenant, so tenants never
share an entry). When a tenant's configuration is set, changed or removed, its alerts move into the new core's
groups, which start with `group_wait` (the notification log, kept, stops them re-sending what was sent); the other
tenants' groups are not touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from datetime import datetime

from logwarden.alerting.config import AlertingConfig
from logwarden.alerting.dispatch.core import InhibitingMuter, NflogKey, Outgoing, RouterCore
from logwarden.alerting.dispatch.group import GroupView
from logwarden.alerting.dispatch.route import TENANT_LABEL
from logwarden.alerting.model import AlertMessage
from logwarden.alerting.mute.base import Muter
from logwarden.alerting.notify.dedup import NflogEntry

InhibitorFactory = Callable[[AlertingConfig], InhibitingMuter | None]


def default_inhibitor(config: AlertingConfig) -> InhibitingMuter | None:
    """An `Inhibitor` for `config`'s inhibition rules (None without rules)."""
    from logwarden.alerting.mute.inhibit import Inhibitor

    return Inhibitor(config.inhibit_rules) if config.inhibit_rules else None


class TenantRouterCore:
    """The routing decisions of every tenant: the fallback core (the config file) and one core per tenant with its
    own configuration. Same interface as `RouterCore` (put, step, next_due, alerts, groups, take_dropped)."""

    def __init__(
        self,
        fallback: AlertingConfig,
        tenants: Mapping[str, AlertingConfig] = {},
        *,
        muters: Sequence[Muter] = (),
        inhibitor: InhibitingMuter | None = None,
        inhibitor_factory: InhibitorFactory = default_inhibitor,
        external_url: str = "",
        nflog: MutableMapping[NflogKey, NflogEntry] | None = None,
    ) -> None:
        self.muters = tuple(muters)
        self.external_url = external_url
        self.nflog: MutableMapping[NflogKey, NflogEntry] = nflog if nflog is not None else {}
        self._inhibitor_factory = inhibitor_factory
        self._dropped: list[str] = []  # dropped by cores since replaced, still to report
        self.fallback = self._core(fallback, inhibitor)
        self.tenants: dict[str, RouterCore] = {
            tenant: self._core(config, inhibitor_factory(config)) for tenant, config in tenants.items()
        }

    def _core(self, config: AlertingConfig, inhibitor: InhibitingMuter | None) -> RouterCore:
        return RouterCore(
            config, muters=self.muters, inhibitor=inhibitor, external_url=self.external_url, nflog=self.nflog
        )

    @property
    def config(self) -> AlertingConfig:
        """The fallback configuration (the config file's section)."""
        return self.fallback.config

    def core_for(self, tenant: str) -> RouterCore:
        """The core that routes `tenant`'s alerts."""
        return self.tenants.get(tenant, self.fallback)

    def _cores(self) -> list[RouterCore]:
        return [self.fallback, *self.tenants.values()]

    # --- reconfiguring -----------------------------------------------------------------------------------

    def set_fallback(self, config: AlertingConfig, inhibitor: InhibitingMuter | None, now: datetime) -> None:
        """Route the tenants without their own configuration by `config` from now on."""
        held = self.fallback.alerts()
        core = self._core(config, inhibitor)
        for alert in held:
            core.put(alert, now)
        self._dropped += self.fallback.take_dropped()
        self.fallback = core

    def set_tenant(self, tenant: str, config: AlertingConfig | None, now: datetime) -> None:
        """Route `tenant`'s alerts by `config` from now on (None: by the fallback again)."""
        old = self.core_for(tenant)
        held = old.evict(tenant)
        if old is not self.fallback:
            self._dropped += old.take_dropped()
        if config is None:
            self.tenants.pop(tenant, None)
            core = self.fallback
        else:
            core = self.tenants[tenant] = self._core(config, self._inhibitor_factory(config))
        for alert in held:
            core.put(alert, now)

    # --- RouterCore's interface ----------------------------------------------------------------------------

    def put(self, alert: AlertMessage, now: datetime) -> None:
        """Take a new or changed alert into its tenant's groups."""
        self.core_for(alert.labels.get(TENANT_LABEL, "")).put(alert, now)

    def next_due(self) -> datetime | None:
        """When `step` next has work."""
        return min((d for d in (c.next_due() for c in self._cores()) if d is not None), default=None)

    def step(self, now: datetime) -> list[Outgoing]:
        """Flush every tenant's due groups."""
        out: list[Outgoing] = []
        for core in self._cores():
            out += core.step(now)
        return out

    def alerts(self) -> list[AlertMessage]:
        """Every alert held, in every tenant's groups."""
        return sorted((a for c in self._cores() for a in c.alerts()), key=lambda a: a.fingerprint)

    def groups(self) -> list[GroupView]:
        """Every aggregation group, by next flush then key."""
        return sorted((g for c in self._cores() for g in c.groups()), key=lambda v: (v.next_flush, v.group_key))

    def take_dropped(self) -> list[str]:
        """Fingerprints of resolved alerts no longer held, since the last call."""
        dropped, self._dropped = self._dropped, []
        return dropped + [fp for c in self._cores() for fp in c.take_dropped()]

    def muted_by(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        """What mutes an alert with `labels` (by its tenant's inhibition rules)."""
        return self.core_for(labels.get(TENANT_LABEL, "")).muted_by(labels, now)

    def inhibitors(self) -> Iterable[InhibitingMuter]:
        """Every core's inhibitor."""
        return [c.inhibitor for c in self._cores() if c.inhibitor is not None]
