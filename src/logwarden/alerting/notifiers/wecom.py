"""WeCom (企业微信) group robot: a markdown message with the alerts and their sample lines.

WeCom's markdown supports headings, bold, links, inline code, quotes and `<font color="info|comment|warning">`;
the default message uses all of them and reads in Chinese. Mentions: WeCom honours `mentioned_list` and
`mentioned_mobile_list` only on `text` messages, so
- user ids (`mention_user_ids`) go into the markdown as `<@userid>` (one message);
- mobiles (`mention_mobiles`) and `@all` (severities in `at_all_severities`) go in a short follow-up `text`
  message carrying the title and the mention lists (then one notification is two robot messages).
Answers: `errcode` 0 delivered; 45009 (rate limit) and -1 (system busy) retriable; any other errcode rejected.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from pydantic import Field

from logwarden.alerting.model import Notification
from logwarden.alerting.notifiers import render
from logwarden.alerting.notifiers.base import DeliveryResult, NotifierConfig, Outcome, RateLimit, SecretHttpUrl
from logwarden.alerting.notifiers.chat_webhook import ChatRobotNotifier, render_or_default, wakes
from logwarden.alerting.notifiers.render import TITLE_ZH, TemplateSource, fit_utf8, truncate_utf8

MAX_MARKDOWN_BYTES = 4096  # WeCom refuses longer markdown content (UTF-8 bytes)
MAX_TEXT_BYTES = 2048  # and longer text content
# errcode → (why, seconds to wait or None): the answers worth retrying
RETRIABLE_ERRCODES: dict[int, tuple[str, float | None]] = {
    45009: ("rate limit reached", 60.0),
    -1: ("system busy", None),
}

DEFAULT_MARKDOWN = (
    "### " + TITLE_ZH + "\n\n\n"
    """{% for a in alerts %}
{% if a.status == 'firing' %}<font color="warning">**告警**</font>{% else %}<font color="info">**已恢复**</font>{% endif %} **{{ a.name }}**{% if a.severity %} · {{ a.severity }}{% endif %}

{{ a.summary }}
{% if a.value is not none %}
> 当前值: **{{ a.value | number }}**{% if a.threshold is not none %} (阈值 {{ a.threshold | number }}){% endif %}{% if a.window %},窗口 {{ a.window }}{% endif %}

{% endif %}
> 标签: <font color="comment">{% for k, v in a.labels | dictsort if k != 'alertname' %}{{ k }}={{ v }}{% if not loop.last %} {% endif %}{% endfor %}</font>
> 开始于: {{ a.starts_at | time }}
{% if a.ends_at %}
> 恢复于: {{ a.ends_at | time }}
{% endif %}
{% if a.acked %}
> 已确认: {{ a.acked.by }}{% if a.acked.comment %} ({{ a.acked.comment }}){% endif %}

{% endif %}
{% for field, values in a.top_values | dictsort %}
> {{ field }} 排行: {% for v in values[:5] %}{{ v[0] }} ({{ v[1] }}){% if not loop.last %}, {% endif %}{% endfor %}

{% endfor %}
{% if a.evidence %}
日志样例:
{% for line in a.evidence[:5] %}
> `{{ line.ts | time }} {{ line.level }} {{ line.service }}: {{ line.message | clip(200) | replace('`', "'") }}`
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


class WeComConfig(NotifierConfig):
    """A WeCom (企业微信) group robot: markdown messages with the alerts, their sample lines and a link to the
    search; `<@userid>` mentions in the message, mobile and `@all` mentions in a follow-up text message."""

    url: SecretHttpUrl
    """The robot's webhook URL with its key: `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`."""
    text: TemplateSource | None = None
    """Jinja2 template of the markdown content (default: a Chinese summary with value, labels, top values,
    sample lines and the search link). Cut to 4096 bytes, WeCom's limit."""
    mention_user_ids: list[str] = Field(default_factory=list)
    """WeCom user ids to mention (`<@userid>` in the markdown) when the notification fires."""
    mention_mobiles: list[str] = Field(default_factory=list)
    """Mobile numbers to mention when the notification fires (sent as a follow-up text message)."""
    at_all_severities: list[str] = Field(default_factory=lambda: ["critical"])
    """Severities that mention everyone (`@all`, in the follow-up text message) when firing; `[]` never does."""
    mention_resolved: bool = False
    """Also mention on resolved notifications (default: mentions only wake people for firing ones)."""


class WeComNotifier(ChatRobotNotifier):
    """Sends notifications through a WeCom group robot."""

    kind: ClassVar[str] = "wecom"
    config_model: ClassVar[type[NotifierConfig]] = WeComConfig
    default_rate_limit: ClassVar[RateLimit | None] = RateLimit(count=20, per=timedelta(minutes=1))
    vendor: ClassVar[str] = "WeCom robot"
    retriable_codes = RETRIABLE_ERRCODES
    config: WeComConfig

    def payloads(self, notification: Notification) -> list[dict[str, Any]]:
        """The robot messages for `notification`: the markdown one, then the mention one when there is one."""
        cfg = self.config
        wake = wakes(notification, cfg)
        content = render_or_default(cfg.text, DEFAULT_MARKDOWN, notification).rstrip()
        users = " ".join(f"<@{u}>" for u in cfg.mention_user_ids) if wake.people else ""
        content = fit_utf8(content, MAX_MARKDOWN_BYTES, users)
        messages: list[dict[str, Any]] = [{"msgtype": "markdown", "markdown": {"content": content}}]
        mobiles = list(cfg.mention_mobiles) if wake.people else []
        if wake.everyone or mobiles:
            title = render.render(TITLE_ZH, notification)
            text: dict[str, Any] = {"content": truncate_utf8(title, MAX_TEXT_BYTES)}
            if wake.everyone:
                text["mentioned_list"] = ["@all"]
            if mobiles:
                text["mentioned_mobile_list"] = mobiles
            messages.append({"msgtype": "text", "text": text})
        return messages

    def send(self, notification: Notification) -> DeliveryResult:
        first, *rest = self.payloads(notification)
        result = self._post(first)
        if result.outcome != Outcome.DELIVERED or not rest:
            return result
        # The markdown message is in: a failed mention must not make the queue send it twice.
        mention = self._post(rest[0])
        if mention.outcome == Outcome.DELIVERED:
            return result
        return DeliveryResult.delivered(result.status, f"{result.answer}; mention message failed: {mention.answer}")

    def _post(self, payload: dict[str, Any]) -> DeliveryResult:
        return self.post_message(self.config.url.get_secret_value(), payload)
