"""Feishu / Lark custom bot (飞书自定义机器人): an interactive card per notification, optionally signed.

The card: a header coloured by status and severity (red critical/error, orange warning, blue info, green
resolved) with the title; a markdown element with the alerts (value, labels, top values, sample lines in a code
block); buttons opening the searches that show the alerts' lines. Lark (international) is the same API at
`https://open.larksuite.com/open-apis/bot/v2/hook/…`: only the URL differs.
Signing (security setting "签名校验"): the body gets `timestamp` (seconds, as a string) and
`sign` = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")).
Answers: `code` (or the older `StatusCode`) 0 delivered; 11232 (frequency limited) retriable; any other code
(bad signature, keyword, IP, malformed card) rejected.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from logwarden.alerting.model import AlertMessage, Notification, severity_rank
from logwarden.alerting.notifiers.base import DeliveryResult, NotifierConfig, RateLimit, SecretHttpUrl, redact_url
from logwarden.alerting.notifiers.chat_webhook import ChatRobotNotifier, hmac_sha256_b64, render_or_default, wakes
from logwarden.alerting.notifiers.render import TITLE_ZH, TemplateSource, fit_utf8

MAX_MARKDOWN_BYTES = 16_000  # Feishu refuses request bodies over 20 KB; the rest is for the card around it
MAX_BUTTONS = 3
# code → (why, seconds to wait or None): the answers worth retrying
RETRIABLE_CODES: dict[int, tuple[str, float | None]] = {11232: ("frequency limited", None)}

DEFAULT_TITLE = TITLE_ZH

# Card markdown: `\n` breaks lines, `<font color='…'>`, HTML entities for `<>&`; sample lines sit inert in a code block.
DEFAULT_TEXT = """{% for a in alerts %}
{% if a.status == 'firing' %}<font color='red'>**告警**</font>{% else %}<font color='green'>**已恢复**</font>{% endif %} **{{ a.name | html }}**{% if a.severity %} · {{ a.severity | html }}{% endif %}

{{ a.summary | html }}
{% if a.value is not none %}
当前值 **{{ a.value | number }}**{% if a.threshold is not none %}(阈值 {{ a.threshold | number }}){% endif %}{% if a.window %},窗口 {{ a.window }}{% endif %}

{% endif %}
<font color='grey'>标签 {% for k, v in a.labels | dictsort if k != 'alertname' %}{{ k | html }}={{ v | html }}{% if not loop.last %} {% endif %}{% endfor %}</font>
<font color='grey'>开始于 {{ a.starts_at | time }}{% if a.ends_at %},恢复于 {{ a.ends_at | time }}{% endif %}</font>
{% if a.acked %}
已确认 {{ a.acked.by | html }}{% if a.acked.comment %}({{ a.acked.comment | html }}){% endif %}

{% endif %}
{% for field, values in a.top_values | dictsort %}
{{ field | html }} 排行 {% for v in values[:5] %}{{ v[0] | html }} ({{ v[1] | html }}){% if not loop.last %}, {% endif %}{% endfor %}

{% endfor %}
{% if a.evidence %}
**日志样例**
```
{% for line in a.evidence[:5] %}
{{ line.ts | time }} {{ line.level }} {{ line.service }}: {{ line.message | clip(200) | replace('```', "'''") }}
{% endfor %}
```
{% endif %}
{% if a.url and alerts | length > 3 %}
[查看日志]({{ a.url }})
{% endif %}
{% if not loop.last %}

{% endif %}
{% endfor %}
{% if truncated_alerts %}

…另有 {{ truncated_alerts }} 条告警未列出
{% endif %}"""  # noqa: E501


def sign(secret: str, timestamp: int) -> str:
    """The bot's signature for `timestamp` (seconds): HMAC-SHA256 keyed with `"{timestamp}\\n{secret}"` over
    nothing, base64."""
    return hmac_sha256_b64(f"{timestamp}\n{secret}", "")


def header_colour(notification: Notification) -> str:
    """The card header's template colour: green when resolved, else by the highest firing severity."""
    if notification.status == "resolved":
        return "green"
    rank = severity_rank(notification.severity)
    return "orange" if rank == 3 else "blue" if 0 < rank < 3 else "red"


class FeishuConfig(NotifierConfig):
    """A Feishu / Lark custom bot (飞书 / Lark 自定义机器人): interactive cards with the alerts, their sample
    lines and buttons to the searches; signed when the bot has a secret; `@` people, everyone for critical."""

    url: SecretHttpUrl
    """The bot's webhook URL: `https://open.feishu.cn/open-apis/bot/v2/hook/…` (Lark:
    `https://open.larksuite.com/open-apis/bot/v2/hook/…`)."""
    secret: SecretStr | None = None
    """The bot's signing secret (security setting "签名校验"); unset for bots secured by keyword or IP."""
    title: TemplateSource | None = None
    """Jinja2 template of the card's header (plain text); default `[告警:2] error-burst service=api` /
    `[已恢复] …`."""
    text: TemplateSource | None = None
    """Jinja2 template of the card's markdown (default: a Chinese summary per alert with value, labels, top
    values and sample lines). A bot secured by keyword needs the keyword in the title or text."""
    at_user_ids: list[str] = Field(default_factory=list)
    """Open ids (`ou_…`) or user ids to `@` in the card when the notification fires."""
    at_all_severities: list[str] = Field(default_factory=lambda: ["critical"])
    """Severities that `@` everyone when firing; `[]` never does."""
    mention_resolved: bool = False
    """Also `@` the `at_user_ids` on resolved notifications (default: only firing ones wake people)."""


class FeishuNotifier(ChatRobotNotifier):
    """Sends notifications through a Feishu / Lark custom bot."""

    kind: ClassVar[str] = "feishu"
    config_model: ClassVar[type[NotifierConfig]] = FeishuConfig
    # 100 a minute and 5 a second per bot: 5 every 3 s keeps under both.
    default_rate_limit: ClassVar[RateLimit | None] = RateLimit(count=5, per=timedelta(seconds=3))
    vendor: ClassVar[str] = "Feishu bot"
    retriable_codes = RETRIABLE_CODES
    code_keys = ("code", "StatusCode")
    message_keys = ("msg", "StatusMessage")
    config: FeishuConfig

    def card(self, notification: Notification) -> dict[str, Any]:
        """The interactive card for `notification` (message card JSON)."""
        cfg = self.config
        title = render_or_default(cfg.title, DEFAULT_TITLE, notification)
        text = render_or_default(cfg.text, DEFAULT_TEXT, notification).strip()
        text = fit_utf8(text, MAX_MARKDOWN_BYTES, self._mentions(notification))
        elements: list[dict[str, Any]] = [{"tag": "markdown", "content": text}]
        buttons = _buttons(notification)
        if buttons:
            elements += [{"tag": "hr"}, {"tag": "action", "actions": buttons}]
        return {
            "config": {"wide_screen_mode": True},
            "header": {
                "template": header_colour(notification),
                "title": {"tag": "plain_text", "content": " ".join(title.split())},
            },
            "elements": elements,
        }

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The request body: the card, and `timestamp` / `sign` when the bot has a secret."""
        body: dict[str, Any] = {}
        if self.config.secret is not None:
            timestamp = int(self._clock())
            body = {"timestamp": str(timestamp), "sign": sign(self.config.secret.get_secret_value(), timestamp)}
        return body | {"msg_type": "interactive", "card": self.card(notification)}

    def send(self, notification: Notification) -> DeliveryResult:
        return self.post_message(self.config.url.get_secret_value(), self.payload(notification))

    def describe(self) -> str:
        """The webhook URL with its token (the last path segment) masked."""
        url = httpx.URL(redact_url(self.config.url.get_secret_value()))
        head, _, token = url.path.rstrip("/").rpartition("/")
        return str(url.copy_with(path=f"{head}/***")) if token else str(url)

    def _mentions(self, notification: Notification) -> str:
        wake = wakes(notification, self.config)
        at = [f"<at id={u}></at>" for u in self.config.at_user_ids] if wake.people else []
        return " ".join(["<at id=all></at>", *at] if wake.everyone else at)


def _buttons(notification: Notification) -> list[dict[str, Any]]:
    """Buttons to the alerts' searches (firing alerts first; distinct links; at most MAX_BUTTONS)."""
    seen: dict[str, AlertMessage] = {}
    for alert in sorted(notification.alerts, key=lambda a: a.status != "firing"):
        url = notification.link(str(alert.search.get("url", "")))
        if url and url not in seen:
            seen[url] = alert
    chosen = list(seen.items())[:MAX_BUTTONS]
    common = notification.common_labels
    buttons = []
    for url, alert in chosen:
        label = "查看日志"
        if len(chosen) > 1:  # tell the buttons apart by what differs between the alerts
            differing = [f"{k}={v}" for k, v in sorted(alert.labels.items()) if common.get(k) != v][:2]
            label += " " + (" ".join(differing) or alert.name)
        kind = "danger" if alert.status == "firing" and header_colour(notification) == "red" else "primary"
        buttons.append({"tag": "button", "text": {"tag": "plain_text", "content": label}, "type": kind, "url": url})
    return buttons
