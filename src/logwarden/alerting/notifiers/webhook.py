"""Generic webhook: Alertmanager's webhook payload (version 4), byte-compatible with receivers written for
Alertmanager, plus a `logwarden` object per alert with the evidence (value, threshold, sample lines, top values,
the search).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from logwarden.alerting.model import AlertMessage, Notification
from logwarden.alerting.notifiers.base import (
    DeliveryResult,
    HttpAuthConfig,
    Notifier,
    NotifierConfig,
    SecretHttpUrl,
    go_time,
)


class WebhookConfig(HttpAuthConfig):
    """Generic webhook: POSTs Alertmanager's webhook JSON (version 4) to `url`, so receivers written for
    Alertmanager work unchanged; each alert also carries a `logwarden` object with its evidence."""

    url: SecretHttpUrl
    """Where to POST (a secret: webhook URLs often carry a token). Only scheme, host and path are ever shown."""
    max_alerts: int = Field(0, ge=0)
    """Alerts in one payload at most, the rest counted in `truncatedAlerts`; 0 = all (Alertmanager's meaning)."""


def alert_payload(alert: AlertMessage, notification: Notification) -> dict[str, Any]:
    """One alert as Alertmanager's webhook writes it, plus the `logwarden` evidence object."""
    search = {key: notification.link(str(value)) for key, value in alert.search.items()}
    return {
        "status": alert.status,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": go_time(alert.starts_at),
        "endsAt": go_time(alert.ends_at if alert.status == "resolved" else None),
        "generatorURL": search.get("url", ""),
        "fingerprint": alert.fingerprint,
        "logwarden": {
            "value": alert.value,
            "threshold": alert.threshold,
            "window": alert.window,
            "evidence": [dict(line) for line in alert.evidence],
            "top_values": dict(alert.top_values),
            "search": search,
        },
    }


def webhook_payload(notification: Notification, max_alerts: int = 0) -> dict[str, Any]:
    """Alertmanager's webhook message (version 4) for `notification`."""
    alerts = list(notification.alerts)
    dropped = 0
    if max_alerts and len(alerts) > max_alerts:
        alerts, dropped = alerts[:max_alerts], len(alerts) - max_alerts
    return {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": notification.truncated_alerts + dropped,
        "status": notification.status,
        "receiver": notification.receiver,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": notification.common_labels,
        "commonAnnotations": notification.common_annotations,
        "externalURL": notification.external_url,
        "alerts": [alert_payload(a, notification) for a in alerts],
    }


class WebhookNotifier(Notifier):
    """POSTs the webhook JSON; the answer's HTTP status decides the outcome (`classify_http`)."""

    kind: ClassVar[str] = "webhook"
    config_model: ClassVar[type[NotifierConfig]] = WebhookConfig
    config: WebhookConfig

    def send(self, notification: Notification) -> DeliveryResult:
        payload = webhook_payload(notification, self.config.max_alerts)
        return self.deliver_json(self.config.url.get_secret_value(), payload, headers=self.config.request_headers())
