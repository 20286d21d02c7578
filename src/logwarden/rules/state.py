"""Alert state for one rule: inactive → pending (`for`) → firing → resolved, per group, with hysteresis.

A rule evaluates to a value per group at each watermark. `AlertTracker.update` takes those values and returns the
transitions (what the router will be told), keeping for each group:

- **pending** from the first evaluation where the value breaches (`value > threshold`, or `value < threshold` for
  rules that watch for too little, `above=False`) until it has breached for `for`; a pending alert whose
  condition stops is dropped silently (never fired, nothing to resolve);
- **firing** from then on while the condition holds — with a recovery level (`recover`, a rule's
  `resolve_below`), while the value is still beyond it, so a value hovering around the threshold does not
  flap — and for `keep_firing_for` after it stops;
- **resolved** once it no longer holds (the transition carries the last value; the alert is then forgotten).

**Flap detection** (`flap_window`, `flap_changes`): an alert that started firing `flap_changes` times within
`flap_window` is *flapping*: it stays firing (marked `flapping`) until its condition has stayed clear for a
whole `flap_window`, so people get one alert, not a notification storm.

A group absent from an evaluation has the value 0 (nothing matched in its window). Times are event times (the
watermark), so replaying a stream after a crash produces the same transitions at the same times. Fingerprints
are stable across restarts and processes: a hash of the rule name and the sorted labels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson

EVIDENCE_REFRESH = timedelta(seconds=30)  # a firing alert's evidence is re-picked at most this often


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
    flapping: bool = False
    evidence_at: datetime | None = None  # when `evidence` was last picked (event time)
    top_values: dict[str, list[list[Any]]] = field(default_factory=dict)  # field → [[value, lines], ...]

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
            "flapping": self.flapping,
            "evidence_at": self.evidence_at.isoformat() if self.evidence_at else None,
            "top_values": self.top_values,
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
            flapping=bool(data.get("flapping", False)),
            evidence_at=when("evidence_at"),
            top_values=dict(data.get("top_values") or {}),
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
    recover: float | None = None
    above: bool = True
    flap_window: timedelta | None = None
    flap_changes: int = 0
    alerts: dict[str, Alert] = field(default_factory=dict)
    _fires: dict[str, list[datetime]] = field(default_factory=dict)  # recent starts of firing, for flapping

    def forget(self, fp: str, at: datetime) -> Transition | None:
        """Drop the alert `fp` of a group the rule no longer tracks; a firing one resolves at `at` (its
        transition). A missing group would otherwise read as 0, which keeps some alerts firing for ever."""
        alert = self.alerts.pop(fp, None)
        if alert is None or alert.status is not AlertStatus.FIRING:
            return None
        alert.status = AlertStatus.RESOLVED
        alert.resolved_at = at
        return Transition(alert, AlertStatus.RESOLVED, at)

    def _beyond(self, value: float, level: float) -> bool:
        return value > level if self.above else value < level

    def _holds(self, alert: Alert | None, value: float) -> bool:
        if alert is not None and alert.status is AlertStatus.FIRING and self.recover is not None:
            return self._beyond(value, self.recover)
        return self._beyond(value, self.threshold)

    def could_hold(self, value: float) -> bool:
        """Whether `value` breaches, or keeps a firing alert firing (for picking evidence)."""
        if self.recover is None:
            return self._beyond(value, self.threshold)
        return self._beyond(value, self.recover) or self._beyond(value, self.threshold)

    def _flapping(self, fp: str, at: datetime) -> bool:
        if self.flap_window is None or self.flap_changes <= 0:
            return False
        recent = [t for t in self._fires.get(fp, []) if at - t < self.flap_window]
        return len(recent) >= self.flap_changes

    def _fired(self, fp: str, at: datetime) -> None:
        if self.flap_window is None or self.flap_changes <= 0:
            return
        window = self.flap_window
        recent = [t for t in self._fires.get(fp, []) if at - t < window][-self.flap_changes :]
        self._fires[fp] = [*recent, at]

    def update(
        self,
        at: datetime,
        values: dict[str, tuple[dict[str, str], float]],
        evidence: Mapping[str, list[dict[str, Any]]] | Callable[[str], list[dict[str, Any]] | None] | None = None,
    ) -> list[Transition]:
        """Evaluate at event time `at`: `values` maps a group's fingerprint to (labels, value).

        `evidence` gives a group's evidence lines by fingerprint: a mapping, or a function asked only when an
        alert starts (pending or firing) or its evidence is older than `EVIDENCE_REFRESH` (None: keep what it
        has)."""
        out: list[Transition] = []
        if evidence is None:
            evidence = {}
        pick = evidence if callable(evidence) else evidence.get
        for fp in set(values) | set(self.alerts):
            labels, value = values.get(fp, (None, 0.0))
            alert = self.alerts.get(fp)
            if self._holds(alert, value):
                if alert is None:
                    assert labels is not None
                    alert = self.alerts[fp] = Alert(self.rule, fp, labels, AlertStatus.PENDING, value, at)
                alert.value = value
                alert.last_active = at
                starts = alert.status is AlertStatus.PENDING and at - alert.active_at >= self.for_
                if starts or alert.evidence_at is None or at - alert.evidence_at >= EVIDENCE_REFRESH:
                    lines = pick(fp)
                    if lines is not None:
                        alert.evidence = lines
                        alert.evidence_at = at
                if starts:
                    alert.status = AlertStatus.FIRING
                    alert.fired_at = at
                    self._fired(fp, at)
                    alert.flapping = self._flapping(fp, at)
                    out.append(Transition(alert, AlertStatus.FIRING, at))
            elif alert is not None:
                alert.value = value
                if alert.status is AlertStatus.PENDING:
                    del self.alerts[fp]  # never fired: nothing to resolve
                    continue
                clear_for = at - alert.last_active if alert.last_active is not None else None
                if self.flap_window is not None and (alert.flapping or self._flapping(fp, at)):
                    alert.flapping = True
                    if clear_for is not None and clear_for < self.flap_window:
                        continue  # held firing while it flaps
                elif clear_for is not None and clear_for < self.keep_firing_for:
                    continue
                alert.status = AlertStatus.RESOLVED
                alert.resolved_at = at
                del self.alerts[fp]
                out.append(Transition(alert, AlertStatus.RESOLVED, at))
        if self._fires and self.flap_window is not None:
            window = self.flap_window
            self._fires = {
                fp: kept for fp, times in self._fires.items() if (kept := [t for t in times if at - t < window])
            }
        out.sort(key=lambda t: (t.status, sorted(t.alert.labels.items())))
        return out

    def firing(self) -> list[Alert]:
        return [a for a in self.alerts.values() if a.status is AlertStatus.FIRING]

    def snapshot(self) -> dict[str, Any]:
        return {
            "alerts": [a.to_json() for a in self.alerts.values()],
            "fires": {fp: [t.isoformat() for t in times] for fp, times in self._fires.items()},
        }

    def restore(self, state: dict[str, Any] | list[dict[str, Any]]) -> None:
        alerts = state if isinstance(state, list) else state.get("alerts", [])
        fires = {} if isinstance(state, list) else state.get("fires", {})
        self.alerts = {a["fingerprint"]: Alert.from_json(a) for a in alerts}
        self._fires = {fp: [datetime.fromisoformat(t) for t in times] for fp, times in fires.items()}
