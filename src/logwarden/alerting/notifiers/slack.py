"""Slack incoming webhook: a header block with the title, then an attachment coloured by status and severity
holding one block set per alert (what fired and by how much, the sample lines in a code block, the top values,
a button to the search). The top-level `text` is the fallback Slack shows in push notifications.

Slack answers `ok` (HTTP 200) when it posted the message; errors are HTTP 4xx with a short code in the body
(`invalid_payload`, `channel_not_found`, `no_service`), 429 with Retry-After when rate limited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import httpx

from logwarden.alerting.model import Notification
from logwarden.alerting.notifiers import render
from logwarden.alerting.notifiers.base import (
    DeliveryResult,
    Notifier,
    NotifierConfig,
    Outcome,
    RateLimit,
    SecretHttpUrl,
    classify_http,
)
from logwarden.alerting.notifiers.render import TemplateSource, evidence_line, top_text

MAX_ALERT_BLOCKS = 10  # alerts shown as blocks (4 blocks each: Slack takes at most 50 per attachment)
HEADER_CHARS = 150  # Slack's limit for a header block's text
SECTION_CHARS = 3000  # … for a section's text
BUTTON_URL_CHARS = 3000  # … for a button's URL
COLOURS = {"critical": "#d50000", "error": "#e01e5a", "warning": "#daa038", "info": "#439fe0"}
RESOLVED_COLOUR = "#2eb886"
OTHER_COLOUR = "#a0a0a0"


class SlackConfig(NotifierConfig):
    """Slack incoming webhook (`https://hooks.slack.com/services/…`): a Block Kit message per notification, with
    an attachment coloured by status and severity. Also works with Slack-compatible webhooks (Mattermost)."""

    url: SecretHttpUrl
    """The incoming webhook URL (a secret: it carries the token)."""
    channel: str | None = None
    """Channel override (`#ops`); only legacy webhooks honour it, app webhooks post to their own channel."""
    username: str | None = None
    """Sender name override (legacy webhooks and Mattermost)."""
    icon_emoji: str | None = None
    """Sender icon as an emoji (`:rotating_light:`), for legacy webhooks."""
    icon_url: str | None = None
    """Sender icon as an image URL, for legacy webhooks."""
    title: TemplateSource = render.DEFAULT_TITLE
    """Template of the header line (plain text, at most 150 characters shown)."""
    text: TemplateSource | None = None
    """Template replacing the per-alert blocks with one section of Slack `mrkdwn` (unset: the built-in blocks
    with value, threshold, sample lines, top values and a button to the search)."""
    fallback: TemplateSource = render.DEFAULT_TITLE
    """Template of the plain text Slack shows in push notifications and where blocks cannot be shown."""


def escape(text: str) -> str:
    """Text made literal for Slack mrkdwn (`&`, `<`, `>` are its control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    return escape(text).replace("```", "`\u200b`\u200b`")  # a log line must not close the code block


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def colour(notification: Notification) -> str:
    """The attachment's colour: green when resolved, else by the highest firing severity."""
    if notification.status == "resolved":
        return RESOLVED_COLOUR
    return COLOURS.get(notification.severity.lower(), OTHER_COLOUR)


def _number(value: float | None) -> str:
    return render.fmt_number(value)


def alert_blocks(alert: dict[str, Any]) -> list[dict[str, Any]]:
    """The blocks for one alert (its template context): summary with facts, sample lines, labels and top values,
    a button to the search."""
    head = f"*{alert['status'].upper()}* *{escape(alert['name'])}*"
    if alert["severity"]:
        head += f" `{escape(alert['severity'])}`"
    head += f"\n{escape(alert['summary'])}"
    fields = []
    if alert["value"] is not None:
        fields.append(f"*Value*\n{_number(alert['value'])}")
    if alert["threshold"] is not None:
        fields.append(f"*Threshold*\n{_number(alert['threshold'])}")
    if alert["window"]:
        fields.append(f"*Window*\n{escape(str(alert['window']))}")
    fields.append(f"*Since*\n{render.fmt_time(alert['starts_at'])}")
    if alert["ends_at"] is not None:
        fields.append(f"*Resolved*\n{render.fmt_time(alert['ends_at'])}")
    summary: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": _clip(head, SECTION_CHARS)}}
    summary["fields"] = [{"type": "mrkdwn", "text": f} for f in fields]
    blocks: list[dict[str, Any]] = [summary]
    lines = [evidence_line(e) for e in alert["evidence"][: render.SAMPLE_LINES]]
    if lines:
        body = _clip(_code("\n".join(lines)), SECTION_CHARS - 6)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{body}```"}})
    context = ["labels: " + " ".join(f"{k}=`{escape(v)}`" for k, v in sorted(alert["labels"].items()))]
    for name, values in sorted(alert["top_values"].items()):
        context.append(f"top {escape(name)}: {escape(top_text(values))}")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(c, 2000)} for c in context[:10]]})
    url = alert["url"]
    if "://" in url and len(url) <= BUTTON_URL_CHARS:  # Slack refuses relative URLs in buttons
        button = {"type": "button", "text": {"type": "plain_text", "text": "Show the lines"}, "url": url}
        blocks.append({"type": "actions", "elements": [button]})
    return blocks


def slack_payload(config: SlackConfig, notification: Notification) -> dict[str, Any]:
    """The incoming-webhook message for `notification`."""
    ctx = render.context(notification)
    title = render.render(config.title, notification, default=render.DEFAULT_TITLE).strip() or "logwarden"
    fallback = render.render(config.fallback, notification, default=render.DEFAULT_TITLE).strip() or title
    blocks: list[dict[str, Any]]
    if config.text is not None:
        text = render.render(config.text, notification, default=render.DEFAULT_MARKDOWN).strip() or fallback
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SECTION_CHARS)}}]
    else:
        blocks = [b for a in ctx["alerts"][:MAX_ALERT_BLOCKS] for b in alert_blocks(a)]
        more = max(0, len(ctx["alerts"]) - MAX_ALERT_BLOCKS) + notification.truncated_alerts
        if more:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"… and {more} more alerts"}]})
    payload: dict[str, Any] = {
        "text": _clip(fallback, SECTION_CHARS),
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": _clip(title, HEADER_CHARS)}}],
        "attachments": [{"color": colour(notification), "blocks": blocks}],
    }
    for key in ("channel", "username", "icon_emoji", "icon_url"):
        value = getattr(config, key)
        if value:
            payload[key] = value
    return payload


class SlackNotifier(Notifier):
    """Posts the Block Kit message; `ok` is delivered, anything else in a 2xx answer rejected."""

    kind: ClassVar[str] = "slack"
    config_model: ClassVar[type[NotifierConfig]] = SlackConfig
    # Slack: about one message a second per webhook, short bursts allowed
    default_rate_limit: ClassVar[RateLimit | None] = RateLimit(count=1, per=timedelta(seconds=1))
    config: SlackConfig

    def describe(self) -> str:
        """Scheme, host and first path segment: the rest of a Slack webhook's path is its token."""
        url = httpx.URL(self.config.url.get_secret_value())
        first = url.path.strip("/").split("/", 1)[0]
        return f"{url.scheme}://{url.netloc.decode()}/{first}/…" if first else f"{url.scheme}://{url.netloc.decode()}"

    def send(self, notification: Notification) -> DeliveryResult:
        payload = slack_payload(self.config, notification)
        return self.deliver_json(self.config.url.get_secret_value(), payload, classify=classify)


def classify(answer: httpx.Response) -> DeliveryResult:
    """Slack's answer: by the HTTP status, but a 2xx answer other than `ok` rejected (Slack-compatible servers
    that answer 2xx with an error text did not post the message)."""
    result = classify_http(answer)
    if result.outcome is Outcome.DELIVERED and answer.text.strip() != "ok":
        return DeliveryResult.rejected(answer.text or "empty answer (Slack answers `ok`)", answer.status_code)
    return result
