"""Telegram bot: `sendMessage` of the Bot API with `parse_mode: HTML`, to a chat, channel or forum topic.

Every value from an alert is HTML-escaped in the default template (user templates use the `html` filter); a
user template whose output is not the HTML subset Telegram accepts (its tags, balanced, `<`/`&` escaped) is
replaced by the default rather than losing the notification. Messages over Telegram's 4096 characters are cut
between characters (never inside a tag or an entity), the open tags closed, and `…` appended.

Answers are JSON: `{"ok": true, …}` delivered; `{"ok": false, "error_code": 400, "description": …}` rejected
(chat not found, bot blocked, bad token: 401/403/404); 429 carries `parameters.retry_after` (seconds), honoured.
"""

from __future__ import annotations

import dataclasses
import html
import json
import logging
import re
from datetime import timedelta
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr, field_validator

from logwarden.alerting.model import Notification, severity_rank
from logwarden.alerting.notifiers import render
from logwarden.alerting.notifiers.base import (
    DeliveryResult,
    Notifier,
    NotifierConfig,
    Outcome,
    RateLimit,
    classify_http,
    http_url,
    redact_url,
)
from logwarden.alerting.notifiers.render import TemplateSource

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4096  # Telegram's limit, counted in UTF-16 code units after entity parsing
MAX_ALERTS = 5  # alerts rendered into one message
CRITICAL_RANK = severity_rank("critical")
# The tags Telegram's HTML parse mode knows (https://core.telegram.org/bots/api#html-style)
ALLOWED_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji", "code", "pre"}
    | {"blockquote"}
)
_TOKEN = re.compile(r"(<[^<>]*>)")
_TAG = re.compile(r"^<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>$")
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")
_CHAR = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);|.", re.DOTALL)

DEFAULT_MESSAGE = """<b>{{ title | html }}</b>
{% for a in alerts %}

<b>{{ a.status | upper }}</b> <b>{{ a.name | html }}</b>{% if a.severity %} ({{ a.severity | html }}){% endif %}: \
{{ a.summary | html }}
{% if a.value is not none %}
value <b>{{ a.value | number }}</b>{% if a.threshold is not none %} (threshold {{ a.threshold | number }}){% endif %}\
{% if a.window %} over {{ a.window | html }}{% endif %}

{% endif %}
labels: {% for k, v in a.labels | dictsort %}{{ k | html }}=<code>{{ v | html }}</code>\
{% if not loop.last %} {% endif %}{% endfor %}

since {{ a.starts_at | time | html }}{% if a.ends_at %}, resolved {{ a.ends_at | time | html }}{% endif %}

{% for field, values in a.top_values | dictsort %}
top {{ field | html }}: {% for v in values[:5] %}{{ v[0] | html }} ({{ v[1] }}){% if not loop.last %}, {% endif %}\
{% endfor %}

{% endfor %}
{% if a.evidence %}
<pre>{% for line in a.evidence[:5] %}{{ line.ts | time | html }} {{ line.level | html }} {{ line.service | html }}: \
{{ line.message | clip | html }}{% if not loop.last %}{{ '\\n' }}{% endif %}{% endfor %}</pre>
{% endif %}
{% if '://' in a.url %}
<a href="{{ a.url | html }}">Show the lines</a>
{% elif a.url %}
search: {{ a.url | html }}
{% endif %}
{% endfor %}
{% if truncated_alerts %}

… and {{ truncated_alerts }} more alerts
{% endif %}"""


class TelegramConfig(NotifierConfig):
    """Telegram bot: messages through the Bot API's `sendMessage` (HTML) to a chat, group, channel or topic."""

    bot_token: SecretStr
    """The bot's token from @BotFather (`123456:ABC-…`)."""
    chat_id: int | str
    """The chat: a numeric id (`-1001234567890` for groups and channels) or `@channelusername`."""
    message_thread_id: int | None = None
    """A forum topic of the group to post in."""
    quiet_unless_critical: bool = False
    """Send without sound (Telegram's `disable_notification`) unless a critical alert fires."""
    message: TemplateSource = DEFAULT_MESSAGE
    """Template of the message in Telegram's HTML (escape alert values with the `html` filter)."""
    api_url: str = "https://api.telegram.org"
    """Bot API server (a self-hosted `telegram-bot-api`, or a proxy)."""

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value, "api_url")

    @field_validator("bot_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        if not re.fullmatch(r"[0-9]+:[A-Za-z0-9_-]+", value.get_secret_value()):
            raise ValueError("not a bot token (digits, a colon, then letters, digits, _ and -)")
        return value


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def check_html(text: str) -> str | None:
    """What makes `text` unacceptable to Telegram's HTML parse mode, or None when it is fine."""
    stack: list[str] = []
    for token in _TOKEN.split(text):
        if not token:
            continue
        if token.startswith("<"):
            m = _TAG.match(token)
            if m is None or m.group(2).lower() not in ALLOWED_TAGS:
                return f"unsupported tag {token[:40]!r}"
            name = m.group(2).lower()
            if not m.group(1):
                stack.append(name)
            elif not stack or stack.pop() != name:
                return f"unbalanced tag {token!r}"
            continue
        if "<" in token or ">" in token:
            return "a bare < or > (escape it: &lt; &gt;)"
        for amp in re.finditer("&", token):
            if not _ENTITY.match(token, amp.start()):
                return "a bare & (escape it: &amp;)"
    return f"unclosed <{stack[-1]}>" if stack else None


def truncate_html(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` (valid per `check_html`) cut to `limit` visible characters: between characters, never inside a tag
    or entity, with `…` appended and the open tags closed."""
    if utf16_len(_visible(text)) <= limit:
        return text
    budget = limit - 1  # room for the ellipsis
    out: list[str] = []
    stack: list[str] = []
    for token in _TOKEN.split(text):
        if not token:
            continue
        m = _TAG.match(token) if token.startswith("<") else None
        if m is not None:
            name = m.group(2).lower()
            if m.group(1):
                if stack and stack[-1] == name:
                    stack.pop()
            else:
                stack.append(name)
            out.append(token)
            continue
        for char in _CHAR.findall(token):
            size = utf16_len(html.unescape(char))
            if size > budget:
                out.append("…")
                out.extend(f"</{name}>" for name in reversed(stack))
                return "".join(out)
            budget -= size
            out.append(char)
    return "".join(out)  # not reached: the visible text was longer than the budget


def _visible(text: str) -> str:
    return html.unescape("".join(t for t in _TOKEN.split(text) if not t.startswith("<")))


def message_text(config: TelegramConfig, notification: Notification) -> str:
    """The rendered message: the user's template when its output is valid Telegram HTML, else the default.
    Only the first MAX_ALERTS alerts are shown (the rest counted): no more fit in 4096 characters anyway, and a
    long group must not push the rendering past the template size bound."""
    if len(notification.alerts) > MAX_ALERTS:
        extra = len(notification.alerts) - MAX_ALERTS
        shown = [*notification.firing, *notification.resolved][:MAX_ALERTS]  # firing first: the status stays
        notification = dataclasses.replace(
            notification, alerts=shown, truncated_alerts=notification.truncated_alerts + extra
        )
    text = render.render(config.message, notification, default=DEFAULT_MESSAGE).strip()
    problem = check_html(text) if text else "empty message"
    if problem is not None and config.message != DEFAULT_MESSAGE:
        log.warning("telegram message template: %s; using the default template", problem)
        text = render.render(DEFAULT_MESSAGE, notification).strip()
    return truncate_html(text)


def telegram_payload(config: TelegramConfig, notification: Notification) -> dict[str, Any]:
    """The `sendMessage` request body."""
    payload: dict[str, Any] = {
        "chat_id": config.chat_id,
        "text": message_text(config, notification),
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    if config.message_thread_id is not None:
        payload["message_thread_id"] = config.message_thread_id
    if config.quiet_unless_critical:
        critical = notification.status == "firing" and severity_rank(notification.severity) >= CRITICAL_RANK
        payload["disable_notification"] = not critical
    return payload


class TelegramNotifier(Notifier):
    """Calls `sendMessage`; the answer's `ok` decides, 429's `retry_after` is honoured."""

    kind: ClassVar[str] = "telegram"
    config_model: ClassVar[type[NotifierConfig]] = TelegramConfig
    default_rate_limit: ClassVar[RateLimit | None] = RateLimit(count=20, per=timedelta(minutes=1))  # per group
    config: TelegramConfig

    @property
    def endpoint(self) -> str:
        token = self.config.bot_token.get_secret_value()
        return f"{self.config.api_url.rstrip('/')}/bot{token}/sendMessage"

    def describe(self) -> str:
        return f"{redact_url(self.config.api_url.rstrip('/'))}/bot…/sendMessage chat {self.config.chat_id}"

    def send(self, notification: Notification) -> DeliveryResult:
        result = self.deliver_json(self.endpoint, telegram_payload(self.config, notification), classify=classify)
        return _without_token(result, self.config.bot_token.get_secret_value())


def classify(answer: httpx.Response) -> DeliveryResult:
    """The Bot API's answer: `{"ok": true}` in a 2xx answer delivered; 429 retriable after its `retry_after`;
    otherwise by the HTTP status, described by the answer's `error_code` and `description`."""
    result = classify_http(answer)
    try:
        body = json.loads(answer.text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        if result.outcome is Outcome.DELIVERED:
            return DeliveryResult.rejected(f"not a Bot API answer: {answer.text[:200]}", answer.status_code)
        return result
    if result.outcome is Outcome.DELIVERED and body.get("ok") is True:
        return result
    described = f"{body.get('error_code', answer.status_code)}: {body.get('description', answer.text)}"
    found = body.get("parameters")
    parameters: dict[str, Any] = found if isinstance(found, dict) else {}
    retry_after = parameters.get("retry_after")
    if answer.status_code == 429 or body.get("error_code") == 429:
        wait = float(retry_after) if isinstance(retry_after, int | float) else result.retry_after
        return DeliveryResult.retriable(described, answer.status_code, wait)
    if "migrate_to_chat_id" in parameters:  # a group became a supergroup: its id changed
        described += f" (set chat_id to {parameters['migrate_to_chat_id']})"
    if result.outcome is Outcome.RETRIABLE:
        return DeliveryResult.retriable(described, answer.status_code, result.retry_after)
    return DeliveryResult.rejected(described, answer.status_code)


def _without_token(result: DeliveryResult, token: str) -> DeliveryResult:
    """httpx names the URL (with the token) in some errors: the history must not keep it."""
    if token not in result.answer:
        return result
    return DeliveryResult(result.outcome, result.status, result.answer.replace(token, "…"), result.retry_after)
