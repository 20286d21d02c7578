"""The router's whole decision, without I/O: alerts in, notifications out, on a clock the caller passes.

`RouterCore` chains Alertmanager's pipeline for every due aggregation group (dispatch → mute → dedup):
1. the group's alerts muted by a silence (`muters`) or an inhibition rule (`inhibitor`, fed the firing alerts held)
   are left out; when none is left, nothing is sent (and the notification log is not touched, so a silence that
   ends brings the alert back as new);
2. the route's `active_time_intervals` / `mute_time_intervals` mute the whole flush;
3. per integration of the route's receiver (`webhook[0]`, `slack[0]`, `slack[1]`, …) the notification log decides
   (`notify/dedup.py`); when it says so, the log entry is updated and an `Outgoing` is emitted, carrying the
   `Notification` (firing alerts first; resolved ones left out for `send_resolved: false`, and no notification at
   all when nothing else is left; at most `max_alerts_per_notification` alerts, the rest counted);
4. the group drops the resolved alerts it just handled.

The I/O layer (router thread, persisted queue) calls `put` for each routed alert and `step` when `next_due` comes,
queues every Outgoing's notification and stores its log entry in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from logwarden.alerting.config import AlertingConfig, integrations
from logwarden.alerting.dispatch.group import Dispatcher, Flush, GroupView
from logwarden.alerting.dispatch.route import TENANT_LABEL, RouteNode
from logwarden.alerting.model import AlertMessage, Notification
from logwarden.alerting.mute.base import Muter
from logwarden.alerting.notifiers.base import NotifierConfig
from logwarden.alerting.notify.dedup import NflogEntry, Reason, update_reason

NflogKey = tuple[str, str]  # (group key, "<receiver>/<integration>")
TimeMuterFactory = Callable[[Sequence[str], Sequence[str]], Muter]  # (active, mute) interval names → Muter


class InhibitingMuter(Muter, Protocol):
    """A Muter that needs the firing alerts (the inhibition rules' sources) before it decides."""

    def set_firing(self, alerts: Iterable[AlertMessage]) -> None: ...


@dataclass(frozen=True)
class Outgoing:
    """One decision to notify one integration: what to queue (`notification`, None when there is nothing to send,
    e.g. only resolved alerts for `send_resolved: false`) and the notification-log entry to store with it."""

    receiver: str
    integration: str  # `<kind>[<index among the receiver's integrations of that kind>]`
    kind: str
    config: NotifierConfig
    tenant: str
    nflog_key: NflogKey
    nflog_entry: NflogEntry
    notification: Notification | None
    reason: Reason
    at: datetime


class RouterCore:
    """Routing tree, aggregation groups, muting and the notification log for one `AlertingConfig`.

    `nflog` is the notification log (the I/O layer passes it loaded from the database; entries are replaced in it
    as decisions are made)."""

    def __init__(
        self,
        config: AlertingConfig,
        *,
        muters: Sequence[Muter] = (),
        inhibitor: InhibitingMuter | None = None,
        time_muter_factory: TimeMuterFactory | None = None,
        external_url: str = "",
        nflog: MutableMapping[NflogKey, NflogEntry] | None = None,
    ) -> None:
        self.config = config
        self.root = RouteNode.from_config(config.route) if config.route is not None else None
        self.dispatcher = Dispatcher(self.root) if self.root is not None else None
        self.muters = tuple(muters)
        self.inhibitor = inhibitor
        self.external_url = external_url
        self.nflog: MutableMapping[NflogKey, NflogEntry] = nflog if nflog is not None else {}
        self._time_muter_factory = time_muter_factory or self._default_time_muter
        self._time_muters: dict[tuple[tuple[str, ...], tuple[str, ...]], Muter] = {}
        self._receivers: dict[str, BaseModel] = {r.name: r for r in config.receivers}  # type: ignore[attr-defined]
        self._unrouted_dropped: list[str] = []

    def _default_time_muter(self, active: Sequence[str], mute: Sequence[str]) -> Muter:
        from logwarden.alerting.mute.time import TimeIntervalMuter

        return TimeIntervalMuter({t.name: t for t in self.config.time_intervals}, active, mute)

    def put(self, alert: AlertMessage, now: datetime) -> None:
        """Take a new or changed alert (firing or resolved) into its groups."""
        if self.dispatcher is None:
            # No routing tree: nothing is held or sent; a resolved alert is done with at once.
            if alert.status == "resolved":
                self._unrouted_dropped.append(alert.fingerprint)
            return
        self.dispatcher.put(alert, now)

    def next_due(self) -> datetime | None:
        """When `step` next has work (None: not until an alert is put)."""
        return self.dispatcher.next_due() if self.dispatcher is not None else None

    def step(self, now: datetime) -> list[Outgoing]:
        """Flush every group due at `now` and return the notifications to queue."""
        if self.dispatcher is None:
            return []
        flushes = self.dispatcher.due(now)
        if not flushes:
            return []
        if self.inhibitor is not None:
            self.inhibitor.set_firing(self.dispatcher.firing())
        out: list[Outgoing] = []
        for flush in flushes:
            out += self._decide(flush, now)
            self.dispatcher.notified(flush)
        return out

    def _decide(self, flush: Flush, now: datetime) -> list[Outgoing]:
        alerts = [a for a in flush.alerts if not self._muted(a.labels, now)]
        if not alerts or self._time_muted(flush.route, flush.group_labels, now):
            return []
        route = flush.route
        firing = frozenset(a.fingerprint for a in alerts if a.status == "firing")
        resolved = frozenset(a.fingerprint for a in alerts if a.status == "resolved")
        acked = frozenset(a.fingerprint for a in alerts if a.status == "firing" and a.acked)
        ordered = sorted(alerts, key=lambda a: a.status != "firing")  # stable: firing first, flush order kept
        tenant = flush.group_labels.get(TENANT_LABEL, "")
        counts: dict[str, int] = {}
        out: list[Outgoing] = []
        for kind, config in self._integrations(route.receiver):
            name = f"{kind}[{counts.get(kind, 0)}]"
            counts[kind] = counts.get(kind, 0) + 1
            key = (flush.group_key, f"{route.receiver}/{name}")
            reason = update_reason(
                self.nflog.get(key),
                firing,
                resolved,
                send_resolved=config.send_resolved,
                repeat_interval=route.repeat_interval,
                now=now,
                acked=acked,
            )
            if reason is None:
                continue
            entry = NflogEntry(firing, resolved, now)
            self.nflog[key] = entry
            notification = self._notification(flush, ordered, send_resolved=config.send_resolved)
            out.append(Outgoing(route.receiver, name, kind, config, tenant, key, entry, notification, reason, now))
        return out

    def _integrations(self, receiver: str) -> list[tuple[str, NotifierConfig]]:
        model = self._receivers.get(receiver)
        return integrations(model) if model is not None else []

    def _notification(
        self, flush: Flush, alerts: Sequence[AlertMessage], *, send_resolved: bool
    ) -> Notification | None:
        if not send_resolved:
            alerts = [a for a in alerts if a.status == "firing"]
        if not alerts:
            return None
        cap = self.config.max_alerts_per_notification
        return Notification(
            receiver=flush.route.receiver,
            group_key=flush.group_key,
            group_labels=dict(flush.group_labels),
            alerts=tuple(alerts[:cap]),
            external_url=self.external_url,
            truncated_alerts=max(0, len(alerts) - cap),
        )

    def _muted(self, labels: Mapping[str, str], now: datetime) -> bool:
        if any(m.mutes(labels, now) for m in self.muters):
            return True
        return self.inhibitor is not None and self.inhibitor.mutes(labels, now)

    def _time_muted(self, route: RouteNode, labels: Mapping[str, str], now: datetime) -> bool:
        intervals = route.time_intervals
        if not any(intervals):
            return False
        muter = self._time_muters.get(intervals)
        if muter is None:
            muter = self._time_muters[intervals] = self._time_muter_factory(*intervals)
        return muter.mutes(labels, now)

    def muted_by(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        """What mutes an alert with `labels` at `now`: silence ids, then inhibiting alerts' fingerprints (the
        inhibitor as last fed by `step`). Time intervals mute routes, not alerts, and are not listed."""
        found = [who for m in self.muters for who in m.muted_by(labels, now)]
        if self.inhibitor is not None:
            found += self.inhibitor.muted_by(labels, now)
        return found

    def alerts(self) -> list[AlertMessage]:
        """The alerts held in aggregation groups (firing ones, and resolved ones not yet notified)."""
        return self.dispatcher.alerts() if self.dispatcher is not None else []

    def groups(self) -> list[GroupView]:
        """The aggregation groups (API view)."""
        return self.dispatcher.groups() if self.dispatcher is not None else []

    def evict(self, tenant: str) -> list[AlertMessage]:
        """Take out every alert of `tenant` held here (its alerting configuration changed hands)."""
        return self.dispatcher.evict(tenant) if self.dispatcher is not None else []

    def take_dropped(self) -> list[str]:
        """Fingerprints of resolved alerts no longer held, since the last call (the I/O layer forgets them)."""
        dropped, self._unrouted_dropped = self._unrouted_dropped, []
        if self.dispatcher is not None:
            dropped += self.dispatcher.take_dropped()
        return dropped
