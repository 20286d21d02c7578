"""Forwarding to a Prometheus Alertmanager: `POST {url}/api/v2/alerts` with one entry per alert, so
Alertmanager's own routing, silences and receivers take over (for a team that already runs one).

Each entry has the alert's labels (names made valid for Alertmanager: `[a-zA-Z_][a-zA-Z0-9_]*`), its
annotations plus `evidence` (the first sample lines) and `value`, `startsAt`, `endsAt` and `generatorURL` (the
search that shows the alert's lines).

`endsAt` — the choice and why. Alertmanager keeps an alert firing until its `endsAt`; an alert posted without
one gets `now + resolve_timeout` (default 5m) and resolves then unless re-posted, which is how Prometheus works:
it re-sends every alert each minute. logwarden re-sends a firing group only every `repeat_interval` (default
4h), so a missing `endsAt` would make Alertmanager resolve the alert (and notify "resolved") while it still
fires here. So a firing alert is sent with `endsAt` = the send time + `firing_ends_after` (default 24h: above
the default `repeat_interval`, so each re-send extends it before it lapses), and a resolved one with its real
resolution time, which resolves it in Alertmanager at once. The bound matters only when logwarden stops for
good: the alert then lingers in Alertmanager until that `endsAt`. An acknowledged alert is not re-sent, so it
lapses there after `firing_ends_after`. `firing_ends_after: null` leaves `endsAt` out (Alertmanager's
`resolve_timeout` applies): right only with a `repeat_interval` shorter than that timeout.

For an Alertmanager cluster, list one integration per peer (`alertmanager: [{url: …am-0…}, {url: …am-1…}]`),
as Prometheus sends to every peer: each gets its own queue entry and retries, and the peers deduplicate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import Field

from logwarden.alerting.model import AlertMessage, Notification
from logwarden.alerting.notifiers import render
from logwarden.alerting.notifiers.base import (
    DeliveryResult,
    HttpAuthConfig,
    Notifier,
    NotifierConfig,
    SecretHttpUrl,
    go_time,
)
from logwarden.alerting.notifiers.render import evidence_line
from logwarden.model.units import Duration

API_PATH = "/api/v2/alerts"
EVIDENCE_CHARS = 500  # of each sample line in the `evidence` annotation
_INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_]")


class AlertmanagerConfig(HttpAuthConfig):
    """Forwarding to a Prometheus Alertmanager (API v2): its routing, silences and receivers take over; firing
    alerts carry an `endsAt` ahead of time and resolved ones resolve there at once."""

    url: SecretHttpUrl
    """Alertmanager's base URL, with its route prefix if it has one (`http://alertmanager:9093`)."""
    firing_ends_after: Duration | None = Field(timedelta(hours=24), gt=timedelta(0))
    """`endsAt` of a firing alert: the send time plus this. Keep it above your routes' `repeat_interval` (each
    re-send extends it); `null` leaves `endsAt` out, and Alertmanager resolves the alert after its
    `resolve_timeout` (5m by default) unless it is re-sent by then."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels added to every forwarded alert (`{source: logwarden}`); an alert's own label of the name wins."""
    evidence_lines: int = Field(2, ge=0, le=10)
    """Sample lines put in the `evidence` annotation (0: none)."""


def label_name(name: str) -> str:
    """`name` as a valid Alertmanager label name: invalid characters become `_`, a leading digit gets `_`."""
    cleaned = _INVALID_NAME_CHARS.sub("_", name) or "_"
    return "_" + cleaned if cleaned[0].isdigit() else cleaned


def _names_fixed(values: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in sorted(values.items()):
        out.setdefault(label_name(name), str(value))  # two names that clean up alike: the first in order wins
    return out


def evidence_annotation(alert: AlertMessage, lines: int) -> str:
    """The first `lines` sample lines, one per line: `ts level service: message`."""
    return "\n".join(evidence_line(e, EVIDENCE_CHARS) for e in list(alert.evidence)[:lines])


def value_annotation(alert: AlertMessage) -> str:
    """`101 (threshold 100) over 1m`, or empty when the alert has no value."""
    if alert.value is None:
        return ""
    text = render.fmt_number(alert.value)
    if alert.threshold is not None:
        text += f" (threshold {render.fmt_number(alert.threshold)})"
    return text + (f" over {alert.window}" if alert.window else "")


def postable_alert(
    config: AlertmanagerConfig, alert: AlertMessage, notification: Notification, now: datetime
) -> dict[str, Any]:
    """One entry of the `POST /api/v2/alerts` body."""
    annotations = dict(alert.annotations)
    if config.evidence_lines and (evidence := evidence_annotation(alert, config.evidence_lines)):
        annotations.setdefault("evidence", evidence)
    if value := value_annotation(alert):
        annotations.setdefault("value", value)
    entry: dict[str, Any] = {
        "labels": _names_fixed({**config.labels, **alert.labels}),
        "annotations": _names_fixed(annotations),
        "startsAt": go_time(alert.starts_at),
    }
    if alert.status == "resolved":
        ends = alert.ends_at or now
        entry["endsAt"] = go_time(max(ends, alert.starts_at))  # Alertmanager refuses an end before the start
    elif config.firing_ends_after is not None:
        entry["endsAt"] = go_time(now + config.firing_ends_after)
    url = notification.link(str(alert.search.get("url", "")))
    if url:
        entry["generatorURL"] = url
    return entry


def alertmanager_payload(config: AlertmanagerConfig, notification: Notification, now: datetime) -> list[Any]:
    """The `POST /api/v2/alerts` body: every alert of the notification."""
    return [postable_alert(config, a, notification, now) for a in notification.alerts]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AlertmanagerNotifier(Notifier):
    """Posts the alerts to Alertmanager's API v2; 200 delivered, 400 (an invalid alert) rejected."""

    kind: ClassVar[str] = "alertmanager"
    config_model: ClassVar[type[NotifierConfig]] = AlertmanagerConfig
    config: AlertmanagerConfig

    def __init__(
        self, config: NotifierConfig, *, http: httpx.Client | None = None, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        """`clock`: the time `endsAt` of firing alerts is counted from (tests pass a fixed one)."""
        super().__init__(config, http=http)
        self.clock = clock

    @property
    def endpoint(self) -> str:
        url = httpx.URL(self.config.url.get_secret_value())
        return str(url.copy_with(path=url.path.rstrip("/") + API_PATH))  # a query string stays behind the path

    def send(self, notification: Notification) -> DeliveryResult:
        body = alertmanager_payload(self.config, notification, self.clock())
        return self.deliver_json(self.endpoint, body, headers=self.config.request_headers())
