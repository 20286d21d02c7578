"""Aggregation groups and their timers (Alertmanager's `dispatch/dispatch.go` aggrGroup), passive: no threads and no
clock of their own — the caller passes `now` to every call, so tests drive the real timers with a fake clock.

An alert goes into one group per route it matches (the group of its group labels there). A new group first flushes
at `now + group_wait`, then every `group_interval` after each flush, for as long as it holds alerts. Alertmanager's
catch-up rule: before a group's first flush, an alert whose `starts_at + group_wait` has already passed (it fired a
while ago: a restart, a late delivery) makes the group flush at once. After a flush has been handled, `notified`
drops its resolved alerts, unless they were replaced since (Alertmanager's DeleteIfNotModified: an alert that fired
again during the flush stays), and drops groups left empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from logwarden.alerting.dispatch.route import RouteNode
from logwarden.alerting.model import AlertMessage


@dataclass(frozen=True)
class Flush:
    """One due group's content, handed to the notify stages: the alerts it holds at `at`, firing and resolved."""

    route: RouteNode
    group_key: str
    group_labels: Mapping[str, str]
    alerts: tuple[AlertMessage, ...]
    at: datetime


@dataclass(frozen=True)
class GroupView:
    """An aggregation group as the API lists it."""

    route: str
    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    fingerprints: tuple[str, ...]
    next_flush: datetime
    flushed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "receiver": self.receiver,
            "group_key": self.group_key,
            "group_labels": dict(self.group_labels),
            "alerts": list(self.fingerprints),
            "next_flush": self.next_flush.isoformat(),
            "flushed": self.flushed,
        }


@dataclass(eq=False)
class _Group:
    route: RouteNode
    key: str
    labels: dict[str, str]
    next_flush: datetime
    flushed: bool = False
    alerts: dict[str, AlertMessage] = field(default_factory=dict)

    def ordered(self) -> tuple[AlertMessage, ...]:
        return tuple(sorted(self.alerts.values(), key=lambda a: (a.starts_at, a.fingerprint)))


class Dispatcher:
    """The aggregation groups of a routing tree, keyed by group key."""

    def __init__(self, root: RouteNode) -> None:
        self.root = root
        self._groups: dict[str, _Group] = {}
        self._holders: dict[str, int] = {}  # fingerprint → how many groups hold it
        self._dropped: list[str] = []

    def put(self, alert: AlertMessage, now: datetime) -> list[str]:
        """Insert `alert` (or replace the one with its fingerprint) in its group of every route it matches;
        returns the group keys."""
        keys: list[str] = []
        for node in self.root.match(alert.labels):
            labels = node.group_labels(alert.labels)
            key = node.group_key(labels)
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Group(node, key, labels, now + node.group_wait)
            if alert.fingerprint not in group.alerts:
                self._holders[alert.fingerprint] = self._holders.get(alert.fingerprint, 0) + 1
            group.alerts[alert.fingerprint] = alert
            # Alertmanager's catch-up: an alert that has waited group_wait already is not made to wait again.
            if not group.flushed and alert.starts_at + node.group_wait < now:
                group.next_flush = min(group.next_flush, now)
            keys.append(key)
        return keys

    def due(self, now: datetime) -> list[Flush]:
        """The groups whose flush time has come, oldest first; each is next due `group_interval` from `now`."""
        ready = sorted((g for g in self._groups.values() if g.next_flush <= now), key=lambda g: (g.next_flush, g.key))
        flushes: list[Flush] = []
        for group in ready:
            group.flushed = True
            group.next_flush = now + group.route.group_interval
            flushes.append(Flush(group.route, group.key, dict(group.labels), group.ordered(), now))
        return flushes

    def next_due(self) -> datetime | None:
        """When the next group is due (None without groups)."""
        return min((g.next_flush for g in self._groups.values()), default=None)

    def notified(self, flush: Flush) -> None:
        """`flush` was handled: drop its resolved alerts that were not replaced since, and the group if empty."""
        group = self._groups.get(flush.group_key)
        if group is None:
            return
        for alert in flush.alerts:
            if alert.status == "resolved" and group.alerts.get(alert.fingerprint) == alert:
                del group.alerts[alert.fingerprint]
                self._release(alert.fingerprint)
        if not group.alerts:
            del self._groups[flush.group_key]

    def _release(self, fingerprint: str) -> None:
        left = self._holders[fingerprint] - 1
        if left:
            self._holders[fingerprint] = left
        else:
            del self._holders[fingerprint]
            self._dropped.append(fingerprint)

    def take_dropped(self) -> list[str]:
        """Fingerprints of the resolved alerts no group holds any more, since the last call."""
        dropped, self._dropped = self._dropped, []
        return dropped

    def evict(self, tenant: str) -> list[AlertMessage]:
        """Take every group of `tenant` out (its alerts move to the tenant's own routing tree); returns their
        alerts. Nothing is reported dropped: the alerts are still held, elsewhere."""
        found: dict[str, AlertMessage] = {}
        for key in [k for k, g in self._groups.items() if g.labels.get("tenant", "") == tenant]:
            found.update(self._groups.pop(key).alerts)
        for fingerprint in found:
            self._holders.pop(fingerprint, None)  # a tenant's alerts are only in its own groups (tenant groups)
        return [found[fp] for fp in sorted(found)]

    def holds(self, fingerprint: str) -> bool:
        return fingerprint in self._holders

    def alerts(self) -> list[AlertMessage]:
        """Every alert held (each once, as last put), ordered by fingerprint."""
        found: dict[str, AlertMessage] = {}
        for group in self._groups.values():
            found.update(group.alerts)
        return [found[fp] for fp in sorted(found)]

    def firing(self) -> list[AlertMessage]:
        """The firing alerts held (the inhibition rules' candidate sources)."""
        return [a for a in self.alerts() if a.status == "firing"]

    def groups(self) -> list[GroupView]:
        """Every group, by next flush then key."""
        views = [
            GroupView(
                route=g.route.key,
                receiver=g.route.receiver,
                group_key=g.key,
                group_labels=dict(g.labels),
                fingerprints=tuple(a.fingerprint for a in g.ordered()),
                next_flush=g.next_flush,
                flushed=g.flushed,
            )
            for g in self._groups.values()
        ]
        return sorted(views, key=lambda v: (v.next_flush, v.group_key))
