"""Alert state for one rule: inactive → pending (`for`) → firing → resolved, per group, with hysteresis.

A rule evaluates to a value per group at each watermark. `AlertTracker.update` takes those values and returns the
transitions (what the router will be told), keeping for each group:

- **pending** from the first evaluation where the value breaches (`value > threshold`) until it has breached for
  `for`; a pending alert whose condition stops is dropped silently (never fired, nothing to resolve);
- **firing** from then on while the condition holds — with `resolve_below`, while `value > resolve_below`, so a
  value hovering around the threshold does not flap — and for `keep_firing_for` after it stops;
- **resolved** once it no longer holds (the transition carries the last value; the alert is then forgotten).

A group absent from an evaluation has the value 0 (nothing matched in its window). Times are event times (the
watermark), so replaying a stream after a crash produces the same transitions at the same times. Fingerprints
are stable across restarts and processes: a hash of the rule name and the sorted labels.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson


class AlertStatus(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


def fingerprint(rule: str, labels: dict[str, str]) -> str:
    """A stable id of one alert: rule name and labels, order-independent."""
    text = orjson.dumps([rule, sorted(labels.items())])
    return hashlib.sha256(text).hexdigest()[:16]


@dataclass(slots=True)
class Alert:
    """One group's alert of one rule."""

    rule: str
    fingerprint: str
    labels: dict[str, str]
    status: AlertStatus
    value: float
    active_at: datetime  # when the condition first held (pending began)
    fired_at: datetime | None = None
    last_active: datetime | None = None  # last evaluation at which the condition held
    resolved_at: datetime | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "fingerprint": self.fingerprint,
            "labels": self.labels,
            "status": str(self.status),
            "value": self.value,
            "active_at": self.active_at.isoformat(),
            "fired_at": self.fired_at.isoformat() if self.fired_at else None,
            "last_active": self.last_active.isoformat() if self.last_active else None,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "evidence": self.evidence,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alert:
        def when(key: str) -> datetime | None:
            value = data.get(key)
            return datetime.fromisoformat(value) if value else None

        active_at = when("active_at")
        assert active_at is not None
        return cls(
            rule=data["rule"],
            fingerprint=data["fingerprint"],
            labels=dict(data["labels"]),
            status=AlertStatus(data["status"]),
            value=float(data["value"]),
            active_at=active_at,
            fired_at=when("fired_at"),
            last_active=when("last_active"),
            resolved_at=when("resolved_at"),
            evidence=list(data.get("evidence", [])),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert that started firing or resolved at `at` (pending is internal: nobody is notified)."""

    alert: Alert
    status: AlertStatus
    at: datetime


@dataclass(slots=True)
class AlertTracker:
    """The alerts of one rule, keyed by fingerprint."""

    rule: str
    threshold: float
    for_: timedelta = timedelta(0)
    keep_firing_for: timedelta = timedelta(0)
    resolve_below: float | None = None
    alerts: dict[str, Alert] = field(default_factory=dict)

    def _holds(self, alert: Alert | None, value: float) -> bool:
        if alert is not None and alert.status is AlertStatus.FIRING and self.resolve_below is not None:
            return value > self.resolve_below
        return value > self.threshold

    def update(
        self,
        at: datetime,
        values: dict[str, tuple[dict[str, str], float]],
        evidence: dict[str, list[dict[str, Any]]] | None = None,
    ) -> list[Transition]:
        """Evaluate at event time `at`: `values` maps a group's fingerprint to (labels, value)."""
        out: list[Transition] = []
        evidence = evidence or {}
        for fp in set(values) | set(self.alerts):
            labels, value = values.get(fp, (None, 0.0))
            alert = self.alerts.get(fp)
            if self._holds(alert, value):
                if alert is None:
                    assert labels is not None
                    alert = self.alerts[fp] = Alert(self.rule, fp, labels, AlertStatus.PENDING, value, at)
                alert.value = value
                alert.last_active = at
                if fp in evidence:
                    alert.evidence = evidence[fp]
                if alert.status is AlertStatus.PENDING and at - alert.active_at >= self.for_:
                    alert.status = AlertStatus.FIRING
                    alert.fired_at = at
                    out.append(Transition(alert, AlertStatus.FIRING, at))
            elif alert is not None:
                alert.value = value
                if alert.status is AlertStatus.PENDING:
                    del self.alerts[fp]  # never fired: nothing to resolve
                elif alert.last_active is None or at - alert.last_active >= self.keep_firing_for:
                    alert.status = AlertStatus.RESOLVED
                    alert.resolved_at = at
                    del self.alerts[fp]
                    out.append(Transition(alert, AlertStatus.RESOLVED, at))
        out.sort(key=lambda t: (t.status, sorted(t.alert.labels.items())))
        return out

    def firing(self) -> list[Alert]:
        return [a for a in self.alerts.values() if a.status is AlertStatus.FIRING]

    def snapshot(self) -> list[dict[str, Any]]:
        return [a.to_json() for a in self.alerts.values()]

    def restore(self, alerts: list[dict[str, Any]]) -> None:
        self.alerts = {a["fingerprint"]: Alert.from_json(a) for a in alerts}
