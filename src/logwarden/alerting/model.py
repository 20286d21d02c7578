"""What notifications carry: alerts as the router hands them to notifiers (Alertmanager's template data plus
logwarden's evidence: value, threshold, sample lines, top values and the search that reproduces the alert)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Status = Literal["firing", "resolved"]


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One alert in a notification. `labels` carry `alertname` (the rule), `severity` when the rule has one,
    and the group labels; `evidence` holds sample lines (`log_id`, `ts`, `service`, `host`, `level`,
    `message`); `search` the console link (`url`) and the API request (`api`) that show the alert's lines."""

    fingerprint: str
    status: Status
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    ends_at: datetime | None = None
    value: float | None = None
    threshold: float | None = None
    window: str | None = None
    evidence: Sequence[Mapping[str, Any]] = ()
    top_values: Mapping[str, Any] = field(default_factory=dict)
    search: Mapping[str, str] = field(default_factory=dict)
    acked: Mapping[str, Any] | None = None  # {by, at, comment} while acknowledged

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @classmethod
    def from_logged(cls, body: Mapping[str, Any]) -> AlertMessage:
        """An alert from its body in the alert log or the current alerts (RulesEngine._body)."""
        labels = {str(k): str(v) for k, v in (body.get("labels") or {}).items()}
        labels.setdefault("alertname", str(body.get("rule", "")))
        severity = body.get("severity")
        if severity and "severity" not in labels:
            labels["severity"] = str(severity)
        status: Status = "resolved" if body.get("status") == "resolved" else "firing"
        starts = _when(body.get("fired_at")) or _when(body.get("active_at")) or datetime(1970, 1, 1, tzinfo=UTC)
        value = body.get("value")
        threshold = body.get("threshold")
        return cls(
            fingerprint=str(body.get("fingerprint", "")),
            status=status,
            labels=labels,
            annotations={str(k): str(v) for k, v in (body.get("annotations") or {}).items()},
            starts_at=starts,
            ends_at=_when(body.get("resolved_at")) if status == "resolved" else None,
            value=float(value) if isinstance(value, int | float) else None,
            threshold=float(threshold) if isinstance(threshold, int | float) else None,
            window=body.get("window"),
            evidence=list(body.get("evidence") or ()),
            top_values=dict(body.get("top_values") or {}),
            search=dict(body.get("search") or {}),
            acked=body.get("acked"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "status": self.status,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "value": self.value,
            "threshold": self.threshold,
            "window": self.window,
            "evidence": [dict(e) for e in self.evidence],
            "top_values": dict(self.top_values),
            "search": dict(self.search),
            "acked": dict(self.acked) if self.acked else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlertMessage:
        status: Status = "resolved" if data.get("status") == "resolved" else "firing"
        return cls(
            fingerprint=str(data["fingerprint"]),
            status=status,
            labels=dict(data.get("labels") or {}),
            annotations=dict(data.get("annotations") or {}),
            starts_at=_when(data.get("starts_at")) or datetime(1970, 1, 1, tzinfo=UTC),
            ends_at=_when(data.get("ends_at")),
            value=data.get("value"),
            threshold=data.get("threshold"),
            window=data.get("window"),
            evidence=list(data.get("evidence") or ()),
            top_values=dict(data.get("top_values") or {}),
            search=dict(data.get("search") or {}),
            acked=data.get("acked"),
        )


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification of one aggregation group to one receiver: Alertmanager's webhook/template data.

    `group_key` identifies the aggregation group (route + group labels) and is stable across restarts;
    `external_url` is the server's public base URL (links in messages are made absolute with it)."""

    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    alerts: Sequence[AlertMessage]
    external_url: str = ""
    truncated_alerts: int = 0

    @property
    def status(self) -> Status:
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

    @property
    def firing(self) -> list[AlertMessage]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def resolved(self) -> list[AlertMessage]:
        return [a for a in self.alerts if a.status == "resolved"]

    @property
    def common_labels(self) -> dict[str, str]:
        return _common([a.labels for a in self.alerts])

    @property
    def common_annotations(self) -> dict[str, str]:
        return _common([a.annotations for a in self.alerts])

    @property
    def severity(self) -> str:
        """The highest severity among the firing alerts (else among all): critical > error > warning > info."""
        alerts = self.firing or list(self.alerts)
        return max((a.severity for a in alerts), key=severity_rank, default="")

    @property
    def group_id(self) -> str:
        """A short stable hash of the group key (PagerDuty dedup keys, email threading)."""
        return hashlib.sha256(self.group_key.encode()).hexdigest()[:32]

    def link(self, relative: str) -> str:
        """`relative` (like `/?q=…`) made absolute with `external_url` (unchanged when that is unset)."""
        if not relative or "://" in relative or not self.external_url:
            return relative
        return self.external_url.rstrip("/") + relative

    def to_json(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver,
            "group_key": self.group_key,
            "group_labels": dict(self.group_labels),
            "alerts": [a.to_json() for a in self.alerts],
            "external_url": self.external_url,
            "truncated_alerts": self.truncated_alerts,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notification:
        return cls(
            receiver=str(data["receiver"]),
            group_key=str(data["group_key"]),
            group_labels=dict(data.get("group_labels") or {}),
            alerts=[AlertMessage.from_json(a) for a in data.get("alerts") or ()],
            external_url=str(data.get("external_url") or ""),
            truncated_alerts=int(data.get("truncated_alerts") or 0),
        )


_SEVERITY_ORDER = {"critical": 5, "fatal": 5, "page": 5, "error": 4, "high": 4, "warning": 3, "warn": 3}
_SEVERITY_ORDER |= {"medium": 3, "info": 2, "low": 2, "none": 1}


def severity_rank(severity: str) -> int:
    return _SEVERITY_ORDER.get(severity.lower(), 0)


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = dict(maps[0])
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def sample_notification(receiver: str, *, now: datetime | None = None, external_url: str = "") -> Notification:
    """A made-up firing notification (`logwarden notify test`, and tests): one alert with evidence."""
    now = now or datetime.now(UTC)
    alert = AlertMessage(
        fingerprint="0123456789abcdef0123456789abcdef",
        status="firing",
        labels={"alertname": "logwarden-test", "service": "checkout", "severity": "warning", "tenant": "default"},
        annotations={"summary": "This is a test notification from logwarden", "description": "Nothing is wrong."},
        starts_at=now - timedelta(minutes=1),
        value=101.0,
        threshold=100.0,
        window="1m",
        evidence=[
            {
                "log_id": "test-1",
                "ts": (now - timedelta(seconds=5)).isoformat(),
                "service": "checkout",
                "host": "web-1",
                "level": "ERROR",
                "message": "payment gateway timeout after 30s",
            }
        ],
        top_values={"host": [["web-1", 61], ["web-2", 40]]},
        search={"url": "/?q=level%3Aerror", "api": "/api/v1/search?q=level%3Aerror"},
    )
    return Notification(
        receiver=receiver,
        group_key='{}:{alertname="logwarden-test"}',
        group_labels={"alertname": "logwarden-test"},
        alerts=[alert],
        external_url=external_url,
    )
