"""PagerDuty Events API v2: a `trigger` event while any alert of the group fires, `resolve` when all resolved,
both with `dedup_key` = the group's id, so one aggregation group is one PagerDuty alert (re-triggers append
to it). The trigger's `custom_details` carry every alert's evidence (value, threshold, sample lines, top
values, the search) and `links` the searches; a resolve event carries no payload (PagerDuty ignores it).

PagerDuty answers 202 when it accepted the event, 400 for an invalid one (bad routing key, bad field),
429 when the integration key sends more than its rate (120 events a minute), 5xx on its own trouble.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from pydantic import ConfigDict, Field, SecretStr, field_validator

from logwarden.alerting.model import Notification, severity_rank
from logwarden.alerting.notifiers import render
from logwarden.alerting.notifiers.base import DeliveryResult, Notifier, NotifierConfig, RateLimit, http_url
from logwarden.alerting.notifiers.render import TemplateSource

SUMMARY_CHARS = 1024  # PagerDuty's limit for payload.summary
MAX_LINKS = 10
MESSAGE_CHARS = 1000  # of each sample line's message in custom_details
# severity rank (alerting/model.py) → PagerDuty's four severities; unknown or empty → `error` as Alertmanager does
_PD_SEVERITY = {5: "critical", 4: "error", 3: "warning", 2: "info", 1: "info"}

DEFAULT_SUMMARY = "{{ title }}{% if firing %}: {{ firing[0].summary }}{% endif %}"
DEFAULT_SOURCE = "{{ common_labels.service or common_labels.host or 'logwarden' }}"


class PagerDutyConfig(NotifierConfig):
    """PagerDuty Events API v2: triggers and resolves one PagerDuty alert per aggregation group."""

    model_config = ConfigDict(populate_by_name=True)  # `class_` in Python, `class` in the config file

    routing_key: SecretStr
    """The integration key of the service's Events API v2 integration (32 characters)."""
    url: str = "https://events.pagerduty.com/v2/enqueue"
    """Events API endpoint (`https://events.eu.pagerduty.com/v2/enqueue` for EU accounts)."""
    summary: TemplateSource = DEFAULT_SUMMARY
    """Template of the alert's summary (cut to 1024 characters)."""
    source: TemplateSource = DEFAULT_SOURCE
    """Template of the affected system (`payload.source`): by default the common `service` or `host` label."""
    component: TemplateSource | None = None
    """Template of `payload.component` (the part of the source that is affected)."""
    group: TemplateSource | None = None
    """Template of `payload.group` (a logical grouping of components)."""
    class_: TemplateSource | None = Field(None, alias="class")
    """Template of `payload.class` (the kind of event: `log errors`)."""
    client: str = "logwarden"
    """Name of the sending system shown in PagerDuty."""
    client_url: str | None = None
    """Link from PagerDuty back to the sender (default: the server's `external_url`)."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("routing_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("empty routing key")
        return value


def pd_severity(severity: str) -> str:
    """A label's severity as one of PagerDuty's: critical, error, warning, info."""
    return _PD_SEVERITY.get(severity_rank(severity), "error")


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def custom_details(notification: Notification) -> dict[str, Any]:
    """The alerts with their evidence, as PagerDuty shows them in the alert's details."""
    alerts = []
    for a in render.context(notification)["alerts"]:
        lines = [
            f"{render.fmt_time(e.get('ts'))} {e.get('level', '')} {e.get('service', '')}: "
            f"{_clip(str(e.get('message', '')), MESSAGE_CHARS)}"
            for e in a["evidence"][: render.SAMPLE_LINES]
        ]
        alerts.append(
            {
                "name": a["name"],
                "status": a["status"],
                "severity": a["severity"],
                "summary": a["summary"],
                "labels": a["labels"],
                "value": a["value"],
                "threshold": a["threshold"],
                "window": a["window"],
                "starts_at": a["starts_at"].isoformat(),
                "ends_at": a["ends_at"].isoformat() if a["ends_at"] else None,
                "evidence": lines,
                "top_values": a["top_values"],
                "search": a["url"],
            }
        )
    return {
        "firing": len(notification.firing),
        "resolved": len(notification.resolved),
        "group_labels": dict(notification.group_labels),
        "alerts": alerts,
        "truncated_alerts": notification.truncated_alerts,
    }


def links(notification: Notification) -> list[dict[str, str]]:
    """The alerts' searches (absolute URLs only; PagerDuty shows them as links)."""
    out: list[dict[str, str]] = []
    for alert in notification.alerts:
        href = notification.link(str(alert.search.get("url", "")))
        if "://" in href and all(link["href"] != href for link in out):
            out.append({"href": href, "text": f"Show the lines: {alert.name}"})
    return out[:MAX_LINKS]


def pagerduty_event(config: PagerDutyConfig, notification: Notification) -> dict[str, Any]:
    """The Events API v2 event for `notification`."""
    event: dict[str, Any] = {
        "routing_key": config.routing_key.get_secret_value(),
        "event_action": "trigger" if notification.status == "firing" else "resolve",
        "dedup_key": notification.group_id,
        "client": config.client,
    }
    client_url = config.client_url or notification.external_url
    if client_url:
        event["client_url"] = client_url
    if event["event_action"] == "resolve":
        return event
    alerts = notification.firing
    payload: dict[str, Any] = {
        "summary": _clip(_render(config.summary, notification, DEFAULT_SUMMARY), SUMMARY_CHARS),
        "source": _render(config.source, notification, DEFAULT_SOURCE) or "logwarden",
        "severity": pd_severity(notification.severity),
        "timestamp": min(a.starts_at for a in alerts).isoformat(),
    }
    for key, template in (("component", config.component), ("group", config.group), ("class", config.class_)):
        if template is not None and (value := _render(template, notification, "")):
            payload[key] = value
    payload["custom_details"] = custom_details(notification)
    event["payload"] = payload
    if found := links(notification):
        event["links"] = found
    return event


def _render(template: str, notification: Notification, default: str) -> str:
    return " ".join(render.render(template, notification, default=default).split())  # one line


class PagerDutyNotifier(Notifier):
    """Sends the event; 202 delivered, 400 rejected, 429 and 5xx retried."""

    kind: ClassVar[str] = "pagerduty"
    config_model: ClassVar[type[NotifierConfig]] = PagerDutyConfig
    default_rate_limit: ClassVar[RateLimit | None] = RateLimit(count=120, per=timedelta(minutes=1))  # per key
    config: PagerDutyConfig

    def send(self, notification: Notification) -> DeliveryResult:
        return self.deliver_json(self.config.url, pagerduty_event(self.config, notification))
