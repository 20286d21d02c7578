"""Notification templates: Jinja2 in the rules' bounded sandbox, with defaults that carry the evidence.

Every channel renders its message from the same context (`context(notification)`):
- `status` (`firing` / `resolved`), `receiver`, `severity` (the highest firing), `group_labels`,
  `common_labels`, `common_annotations`, `external_url`, `truncated_alerts`;
- `alerts`, `firing`, `resolved`: lists of alerts, each with `name`, `status`, `severity`, `labels`,
  `annotations`, `summary` (the `summary` annotation, else `description`, else the name), `value`, `threshold`,
  `window`, `starts_at`, `ends_at` (datetimes), `evidence` (sample lines: `ts`, `service`, `host`, `level`,
  `message`, `log_id`), `top_values` (field → [[value, count], …]), `url` (the console search that shows the
  alert's lines, absolute when `external_url` is set), `acked`.
A user template that fails to render is replaced by the default one (and the failure logged): a notification
is never lost to a template.

Also here, the text helpers channels share: `check_template` / `TemplateSource` (a template setting checked when
the config is read), `evidence_line` and `top_text` (evidence as the default templates show it), `TITLE_ZH` (the
Chinese default title) and `truncate_utf8` / `fit_utf8` (byte limits of the Chinese chat robots).
"""

from __future__ import annotations

import dataclasses
import functools
import html
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from jinja2 import Template, TemplateSyntaxError
from pydantic import AfterValidator

from logwarden.alerting.model import AlertMessage, Notification
from logwarden.model.sandbox import BoundedEnvironment, TemplateBudgetError

log = logging.getLogger(__name__)

MAX_NOTIFICATION_CHARS = 64_000
SAMPLE_LINES = 5  # evidence lines the default templates show per alert
SAMPLE_CHARS = 300  # of each line's message
TRUNCATED_ZH = "\n…(内容过长,已截断)"  # appended where `truncate_utf8` cut a Chinese channel's message


def fmt_time(value: Any) -> str:
    """A datetime (or ISO text) as `2026-03-01 12:00:00 UTC`; anything else as empty text."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    if isinstance(value, str) and value:
        try:
            return fmt_time(datetime.fromisoformat(value))
        except ValueError:
            return value
    return ""


def fmt_number(value: Any) -> str:
    """120 rather than 120.0; four significant digits otherwise."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.4g}"
    return "" if value is None else str(value)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def _md(value: Any) -> str:
    """Text made inert in Markdown (no emphasis, links or tables from log text)."""
    return _MD_SPECIAL.sub(r"\\\1", str(value))


def clip(value: Any, size: int = SAMPLE_CHARS) -> str:
    """One line of at most `size` characters (whitespace runs folded, an ellipsis where cut)."""
    text = " ".join(str(value).split())
    return text if len(text) <= size else text[: size - 1] + "…"


ENV = BoundedEnvironment(max_output=MAX_NOTIFICATION_CHARS)
ENV.trim_blocks = True  # `{% … %}` lines leave no blank lines behind
ENV.lstrip_blocks = True
ENV.filters.update(
    {"time": fmt_time, "number": fmt_number, "md": _md, "clip": clip, "html": lambda v: html.escape(str(v))}
)


@functools.lru_cache(maxsize=1024)
def compile_template(source: str) -> Template:
    """Compiled (and cached); raises jinja2.TemplateSyntaxError, which config validation reports."""
    return ENV.compile_bounded(source)


def check_template(source: str | None) -> str | None:
    """`source` if it compiles as a notification template, else a ValueError with Jinja's message and line."""
    if source is not None:
        try:
            compile_template(source)
        except TemplateSyntaxError as exc:
            raise ValueError(f"template syntax error on line {exc.lineno}: {exc.message}") from None
    return source


def _checked(source: str) -> str:
    check_template(source)
    return source


# A template setting: compiled when the config is read, so a syntax error names the field and line at start.
TemplateSource = Annotated[str, AfterValidator(_checked)]


def evidence_line(line: Mapping[str, Any], size: int = SAMPLE_CHARS) -> str:
    """A sample line as the default templates show it: `ts level service: message` (message on one line, cut)."""
    head = " ".join(str(p) for p in (fmt_time(line.get("ts")), line.get("level"), line.get("service")) if p)
    message = clip(line.get("message", ""), size)
    return f"{head}: {message}" if head else message


def top_text(values: Any, count: int = 5) -> str:
    """A field's top values `[[value, lines], …]` as `web-1 (61), web-2 (40)` (other shapes shown as they are)."""
    items = list(values)[:count] if isinstance(values, list | tuple) else [values]
    return ", ".join(f"{v[0]} ({v[1]})" if isinstance(v, list | tuple) and len(v) >= 2 else str(v) for v in items)


def truncate_utf8(text: str, limit: int, marker: str = TRUNCATED_ZH) -> str:
    """`text` cut to at most `limit` UTF-8 bytes on a character boundary, `marker` appended when cut."""
    data = text.encode()
    if len(data) <= limit:
        return text
    room = max(0, limit - len(marker.encode()))
    return data[:room].decode(errors="ignore") + marker


def fit_utf8(text: str, limit: int, tail: str = "") -> str:
    """`text` cut (`truncate_utf8`) so that it and `tail` after a blank line fit in `limit` UTF-8 bytes: the
    robots' mentions (`@138…`, `<@userid>`) must survive a cut, or nobody is woken."""
    if not tail:
        return truncate_utf8(text, limit)
    return truncate_utf8(text, limit - len(tail.encode()) - 2) + f"\n\n{tail}"


def alert_context(alert: AlertMessage, notification: Notification) -> dict[str, Any]:
    annotations = dict(alert.annotations)
    return {
        "name": alert.name,
        "fingerprint": alert.fingerprint,
        "status": alert.status,
        "severity": alert.severity,
        "labels": dict(alert.labels),
        "annotations": annotations,
        "summary": annotations.get("summary") or annotations.get("description") or alert.name,
        "value": alert.value,
        "threshold": alert.threshold,
        "window": alert.window,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "evidence": tuple(dict(e) for e in alert.evidence),
        "top_values": dict(alert.top_values),
        "url": notification.link(str(alert.search.get("url", ""))),
        "acked": dict(alert.acked) if alert.acked else None,
    }


def context(notification: Notification) -> dict[str, Any]:
    alerts = [alert_context(a, notification) for a in notification.alerts]
    return {
        "status": notification.status,
        "receiver": notification.receiver,
        "severity": notification.severity,
        "group_labels": dict(notification.group_labels),
        "common_labels": notification.common_labels,
        "common_annotations": notification.common_annotations,
        "external_url": notification.external_url,
        "truncated_alerts": notification.truncated_alerts,
        "alerts": tuple(alerts),
        "firing": tuple(a for a in alerts if a["status"] == "firing"),
        "resolved": tuple(a for a in alerts if a["status"] == "resolved"),
        "title": render(DEFAULT_TITLE, notification, _ctx=None),
    }


# Alerts a rendering is retried with when the whole group does not fit MAX_NOTIFICATION_CHARS (the rest counted).
_FEWER_ALERTS = (20, 5, 1)


def render(source: str, notification: Notification, *, default: str | None = None, _ctx: Any = ...) -> str:
    """`source` rendered over the notification's context; when the output would pass MAX_NOTIFICATION_CHARS, again
    over fewer alerts (the others counted in `truncated_alerts`); on any other failure `default` (rendered), else
    an error text — a template never loses a notification."""
    ctx = context(notification) if _ctx is ... else (_ctx or _title_context(notification))
    try:
        return ENV.render_bounded(compile_template(source), ctx)
    except TemplateBudgetError as exc:
        if _ctx is ... and "output longer" in str(exc):
            for keep in _FEWER_ALERTS:
                if keep < len(notification.alerts):
                    fewer = dataclasses.replace(
                        notification,
                        alerts=_firing_first(notification.alerts)[:keep],
                        truncated_alerts=notification.truncated_alerts + len(notification.alerts) - keep,
                    )
                    try:
                        return ENV.render_bounded(compile_template(source), context(fewer))
                    except TemplateBudgetError:
                        continue
        failure: Exception = exc
    except Exception as exc:  # a template must never lose a notification
        failure = exc
    log.warning("notification template failed: %s: %s", type(failure).__name__, failure)
    if default is not None and default != source:
        return render(default, notification)
    return f"[template failed: {type(failure).__name__}: {failure}]"


def _firing_first(alerts: Any) -> list[AlertMessage]:
    return sorted(alerts, key=lambda a: a.status != "firing")


def _title_context(notification: Notification) -> Mapping[str, Any]:
    return {
        "status": notification.status,
        "firing": tuple(notification.firing),
        "resolved": tuple(notification.resolved),
        "group_labels": dict(notification.group_labels),
        "common_labels": notification.common_labels,
        "severity": notification.severity,
        "alerts": tuple(notification.alerts),
    }


# `[FIRING:2] error-burst service=api` / `[RESOLVED] error-burst service=api`
DEFAULT_TITLE = (
    "[{{ status | upper }}{% if status == 'firing' %}:{{ firing | length }}{% endif %}] "
    "{{ group_labels.alertname or common_labels.alertname or (alerts[0].name if alerts else '') }}"
    "{% for k, v in group_labels | dictsort %}{% if k != 'alertname' %} {{ k }}={{ v }}{% endif %}{% endfor %}"
)

# `[告警:2] error-burst service=api` / `[已恢复] error-burst service=api`: the Chinese channels' default title
TITLE_ZH = (
    "{% if status == 'firing' %}[告警:{{ firing | length }}]{% else %}[已恢复]{% endif %} "
    "{{ group_labels.alertname or common_labels.alertname or (alerts[0].name if alerts else '') }}"
    "{% for k, v in group_labels | dictsort %}{% if k != 'alertname' %} {{ k }}={{ v }}{% endif %}{% endfor %}"
)

DEFAULT_TEXT = """{{ title }}
{% for a in alerts %}

{{ a.status | upper }} {{ a.name }}{% if a.severity %} ({{ a.severity }}){% endif %}: {{ a.summary }}
{% if a.value is not none %}
  value {{ a.value | number }}{% if a.threshold is not none %} (threshold {{ a.threshold | number }}){% endif %}{% if a.window %} over {{ a.window }}{% endif %}

{% endif %}
  labels: {% for k, v in a.labels | dictsort %}{{ k }}={{ v }}{% if not loop.last %} {% endif %}{% endfor %}

  since {{ a.starts_at | time }}{% if a.ends_at %}, resolved {{ a.ends_at | time }}{% endif %}

{% for line in a.evidence[:5] %}
  > {{ line.ts | time }} {{ line.level }} {{ line.service }}: {{ line.message | clip }}
{% endfor %}
{% for field, values in a.top_values | dictsort %}
  top {{ field }}: {% for v in values[:5] %}{{ v[0] }} ({{ v[1] }}){% if not loop.last %}, {% endif %}{% endfor %}

{% endfor %}
{% if a.url %}
  search: {{ a.url }}
{% endif %}
{% endfor %}
{% if truncated_alerts %}
… and {{ truncated_alerts }} more alerts
{% endif %}"""  # noqa: E501

DEFAULT_MARKDOWN = """### {{ title | md }}
{% for a in alerts %}

**{{ a.status | upper }}** **{{ a.name | md }}**{% if a.severity %} `{{ a.severity }}`{% endif %}: {{ a.summary | md }}

{% if a.value is not none %}
- value **{{ a.value | number }}**{% if a.threshold is not none %} (threshold {{ a.threshold | number }}){% endif %}{% if a.window %} over {{ a.window }}{% endif %}

{% endif %}
- labels: {% for k, v in a.labels | dictsort %}{{ k }}=`{{ v }}`{% if not loop.last %} {% endif %}{% endfor %}

- since {{ a.starts_at | time }}{% if a.ends_at %}, resolved {{ a.ends_at | time }}{% endif %}

{% for field, values in a.top_values | dictsort %}
- top {{ field | md }}: {% for v in values[:5] %}{{ v[0] | md }} ({{ v[1] }}){% if not loop.last %}, {% endif %}{% endfor %}

{% endfor %}
{% if a.evidence %}

{% endif %}
{% for line in a.evidence[:5] %}
> {{ line.ts | time }} {{ line.level }} {{ line.service | md }}: {{ line.message | clip | md }}

{% endfor %}
{% if a.url %}
[Show the lines]({{ a.url }})
{% endif %}
{% endfor %}
{% if truncated_alerts %}

… and {{ truncated_alerts }} more alerts
{% endif %}"""  # noqa: E501
