"""Microsoft Teams through a Power Automate workflow webhook ("When a Teams webhook request is received", the
successor of the retired Office 365 connectors): one Adaptive Card 1.4 per notification — the title coloured by
status and severity, per alert its summary, a fact set (value, threshold, window, since, labels, top values),
the sample lines in monospace and an `Action.OpenUrl` to the search.

The workflow answers 202 Accepted; a malformed body is a 400 (`TriggerInputSchemaMismatch`), a bad or expired
signature in the URL a 401/403/404.
"""

from __future__ import annotations

from typing import Any, ClassVar

from logwarden.alerting.model import Notification
from logwarden.alerting.notifiers import render
from logwarden.alerting.notifiers.base import DeliveryResult, Notifier, NotifierConfig, SecretHttpUrl
from logwarden.alerting.notifiers.render import TemplateSource, evidence_line, top_text

MAX_ALERT_CARDS = 10  # alerts shown in one card (Teams refuses messages over about 28 KB)
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
# Adaptive Card colour names by status and severity
COLOURS = {"critical": "Attention", "error": "Attention", "warning": "Warning"}


class TeamsConfig(NotifierConfig):
    """Microsoft Teams: a Power Automate workflow webhook URL (`https://…logic.azure.com/workflows/…` or
    `…powerplatform.com/…`) posting an Adaptive Card to a channel or chat."""

    url: SecretHttpUrl
    """The workflow's HTTP POST URL (a secret: its `sig` parameter authorizes the post)."""
    title: TemplateSource = render.DEFAULT_TITLE
    """Template of the card's title line."""
    text: TemplateSource | None = None
    """Template (Markdown as Teams renders it) replacing the per-alert sections of the card (unset: the built-in
    sections with facts, sample lines and a button to the search)."""


def colour(status: str, severity: str) -> str:
    """The Adaptive Card colour for a status and severity: Good when resolved, Attention for critical/error."""
    if status == "resolved":
        return "Good"
    return COLOURS.get(severity.lower(), "Accent")


def _text(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **extra}


def alert_section(alert: dict[str, Any]) -> dict[str, Any]:
    """One alert (its template context) as a card container."""
    head = f"{alert['status'].upper()} {alert['name']}" + (f" ({alert['severity']})" if alert["severity"] else "")
    facts = []
    if alert["value"] is not None:
        facts.append(("Value", render.fmt_number(alert["value"])))
    if alert["threshold"] is not None:
        facts.append(("Threshold", render.fmt_number(alert["threshold"])))
    if alert["window"]:
        facts.append(("Window", str(alert["window"])))
    facts.append(("Since", render.fmt_time(alert["starts_at"])))
    if alert["ends_at"] is not None:
        facts.append(("Resolved", render.fmt_time(alert["ends_at"])))
    facts.append(("Labels", ", ".join(f"{k}={v}" for k, v in sorted(alert["labels"].items()))))
    for name, values in sorted(alert["top_values"].items()):
        facts.append((f"Top {name}", top_text(values)))
    items: list[dict[str, Any]] = [
        _text(head, weight="Bolder", color=colour(alert["status"], alert["severity"])),
        _text(alert["summary"], spacing="Small"),
        {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts]},
    ]
    for line in alert["evidence"][: render.SAMPLE_LINES]:
        items.append(_text(evidence_line(line), fontType="Monospace", size="Small", spacing="None"))
    if "://" in alert["url"]:  # Teams opens only absolute URLs
        action = {"type": "Action.OpenUrl", "title": "Show the lines", "url": alert["url"]}
        items.append({"type": "ActionSet", "actions": [action]})
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def card(config: TeamsConfig, notification: Notification) -> dict[str, Any]:
    """The Adaptive Card for `notification`."""
    ctx = render.context(notification)
    title = render.render(config.title, notification, default=render.DEFAULT_TITLE).strip() or "logwarden"
    body: list[dict[str, Any]] = [
        _text(title, size="Large", weight="Bolder", color=colour(notification.status, notification.severity))
    ]
    if config.text is not None:
        text = render.render(config.text, notification, default=render.DEFAULT_MARKDOWN)
        body.append(_text(text))
    else:
        body.extend(alert_section(a) for a in ctx["alerts"][:MAX_ALERT_CARDS])
        more = max(0, len(ctx["alerts"]) - MAX_ALERT_CARDS) + notification.truncated_alerts
        if more:
            body.append(_text(f"… and {more} more alerts", isSubtle=True))
    return {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }


def teams_payload(config: TeamsConfig, notification: Notification) -> dict[str, Any]:
    """The workflow webhook's message: one attachment holding the card."""
    attachment = {"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card(config, notification)}
    return {"type": "message", "attachments": [attachment]}


class TeamsNotifier(Notifier):
    """Posts the card to the workflow; the HTTP status decides the outcome (202 delivered)."""

    kind: ClassVar[str] = "teams"
    config_model: ClassVar[type[NotifierConfig]] = TeamsConfig
    config: TeamsConfig

    def send(self, notification: Notification) -> DeliveryResult:
        return self.deliver_json(self.config.url.get_secret_value(), teams_payload(self.config, notification))
