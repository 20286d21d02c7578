"""DingTalk (钉钉) custom robot: a markdown message with the alerts and their sample lines, optionally signed.

Signing (the robot's "加签" security setting): each request's URL gets `timestamp` (milliseconds) and
`sign` = base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), URL-encoded. Mentions: `at.atMobiles` /
`at.atUserIds` are highlighted only when `@mobile` / `@userid` also appear in the text, so they are appended to
it; `at.isAtAll` is set for firing notifications whose severity is in `at_all_severities`.
Answers: `errcode` 0 delivered; 130101 (sending too fast: DingTalk then throttles the robot for minutes) and -1
(system busy) retriable; any other errcode (bad token, signature, keyword, IP) rejected.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from logwarden.alerting.model import Notification
from logwarden.alerting.notifiers.base import DeliveryResult, NotifierConfig, RateLimit, SecretHttpUrl
from logwarden.alerting.notifiers.chat_webhook import ChatRobotNotifier, hmac_sha256_b64, render_or_default, wakes
from logwarden.alerting.notifiers.render import TITLE_ZH, TemplateSource, fit_utf8

MAX_TEXT_BYTES = 18_000  # DingTalk refuses messages of about 20 KB and more
RETRIABLE_ERRCODES: dict[int, tuple[str, float | None]] = {
    130101: ("sending too fast, the robot is throttled", 60.0),
    -1: ("system busy", None),
}

DEFAULT_TITLE = TITLE_ZH

# DingTalk's markdown: paragraphs need blank lines; no code spans, no escapes (log text is shown as is).
DEFAULT_TEXT = (
    "### {% if status == 'firing' %}🔴{% else %}✅{% endif %} " + TITLE_ZH + "\n\n\n"
    """{% for a in alerts %}
{% if a.status == 'firing' %}<font color=#D93026>告警</font>{% else %}<font color=#1E8E3E>已恢复</font>{% endif %} **{{ a.name }}**{% if a.severity %} · {{ a.severity }}{% endif %}


{{ a.summary }}

{% if a.value is not none %}
- 当前值 **{{ a.value | number }}**{% if a.threshold is not none %}(阈值 {{ a.threshold | number }}){% endif %}{% if a.window %},窗口 {{ a.window }}{% endif %}

{% endif %}
- 标签 {% for k, v in a.labels | dictsort if k != 'alertname' %}{{ k }}={{ v }}{% if not loop.last %} {% endif %}{% endfor %}

- 开始于 {{ a.starts_at | time }}
{% if a.ends_at %}
- 恢复于 {{ a.ends_at | time }}
{% endif %}
{% if a.acked %}
- 已确认 {{ a.acked.by }}{% if a.acked.comment %}({{ a.acked.comment }}){% endif %}

{% endif %}
{% for field, values in a.top_values | dictsort %}
- {{ field }} 排行 {% for v in values[:5] %}{{ v[0] }} ({{ v[1] }}){% if not loop.last %}, {% endif %}{% endfor %}

{% endfor %}

{% if a.evidence %}
**日志样例**

{% for line in a.evidence[:5] %}
> {{ line.ts | time }} {{ line.level }} {{ line.service }}: {{ line.message | clip(200) }}

{% endfor %}
{% endif %}
{% if a.url %}
[查看日志]({{ a.url }})

{% endif %}

{% endfor %}
{% if truncated_alerts %}
…另有 {{ truncated_alerts }} 条告警未列出
{% endif %}"""  # noqa: E501
)


def sign(secret: str, timestamp_ms: int) -> str:
    """The robot's signature of `timestamp_ms` (base64, before URL encoding)."""
    return hmac_sha256_b64(secret, f"{timestamp_ms}\n{secret}")


class DingTalkConfig(NotifierConfig):
    """A DingTalk (钉钉) custom group robot: markdown messages with the alerts, their sample lines and a link to
    the search; signed when the robot has a secret; `@` people by mobile or user id, everyone for critical."""

    url: SecretHttpUrl
    """The robot's webhook URL with its token: `https://oapi.dingtalk.com/robot/send?access_token=…`."""
    secret: SecretStr | None = None
    """The robot's signing secret (`SEC…`, security setting "加签"); unset for robots secured by keyword or IP."""
    title: TemplateSource | None = None
    """Jinja2 template of the message title (shown in the chat list and the notification banner); default
    `[告警:2] error-burst service=api` / `[已恢复] …`."""
    text: TemplateSource | None = None
    """Jinja2 template of the markdown text (default: a Chinese summary with value, labels, top values, sample
    lines and the search link). A robot secured by keyword needs the keyword in it (or in the alert names)."""
    at_mobiles: list[str] = Field(default_factory=list)
    """Mobile numbers to `@` when the notification fires (added to the text as `@138…`, which DingTalk requires)."""
    at_user_ids: list[str] = Field(default_factory=list)
    """DingTalk user ids to `@` when the notification fires (added to the text as `@userid`)."""
    at_all_severities: list[str] = Field(default_factory=lambda: ["critical"])
    """Severities that `@` everyone (`isAtAll`) when firing; `[]` never does."""
    mention_resolved: bool = False
    """Also `@` the mobiles and user ids on resolved notifications (default: only firing ones wake people)."""


class DingTalkNotifier(ChatRobotNotifier):
    """Sends notifications through a DingTalk custom robot."""

    kind: ClassVar[str] = "dingtalk"
    config_model: ClassVar[type[NotifierConfig]] = DingTalkConfig
    default_rate_limit: ClassVar[RateLimit | None] = RateLimit(count=20, per=timedelta(minutes=1))
    vendor: ClassVar[str] = "DingTalk robot"
    retriable_codes = RETRIABLE_ERRCODES
    config: DingTalkConfig

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The robot message for `notification`."""
        cfg = self.config
        title = render_or_default(cfg.title, DEFAULT_TITLE, notification)
        text = render_or_default(cfg.text, DEFAULT_TEXT, notification).rstrip()
        wake = wakes(notification, cfg)
        mobiles = list(cfg.at_mobiles) if wake.people else []
        users = list(cfg.at_user_ids) if wake.people else []
        text = fit_utf8(text, MAX_TEXT_BYTES, " ".join(f"@{m}" for m in (*mobiles, *users)))
        at: dict[str, Any] = {"isAtAll": wake.everyone}
        if mobiles:
            at["atMobiles"] = mobiles
        if users:
            at["atUserIds"] = users
        return {"msgtype": "markdown", "markdown": {"title": " ".join(title.split()), "text": text}, "at": at}

    def signed_url(self) -> str:
        """The webhook URL, with `timestamp` and `sign` when the robot has a secret (fresh for each attempt:
        DingTalk refuses signatures older than an hour)."""
        url = self.config.url.get_secret_value()
        if self.config.secret is None:
            return url
        timestamp = int(self._clock() * 1000)
        signature = sign(self.config.secret.get_secret_value(), timestamp)
        return str(httpx.URL(url).copy_merge_params({"timestamp": str(timestamp), "sign": signature}))

    def send(self, notification: Notification) -> DeliveryResult:
        return self.post_message(self.signed_url(), self.payload(notification))
