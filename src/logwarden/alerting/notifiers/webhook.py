"""Generic webhook: Alertmanager's webhook payload (version 4), byte-compatible with receivers written for
Alertmanager, plus a `logwarden` object per alert with the evidence (value, threshold, sample lines, top values,
the search).

Also home of what the HTTP channels share: `http_url` and `check_template` (config-time checks),
`evidence_line` and `top_text` (evidence as the default templates show it),
`HttpAuthConfig` (basic auth, bearer token, extra headers) and `go_time` (timestamps as Go's JSON writes them).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from jinja2 import TemplateSyntaxError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from logwarden import __version__
from logwarden.alerting.model import AlertMessage, Notification
from logwarden.alerting.notifiers import render
from logwarden.alerting.notifiers.base import DeliveryResult, Notifier, NotifierConfig, classify_http

USER_AGENT = f"logwarden/{__version__}"
GO_ZERO_TIME = "0001-01-01T00:00:00Z"  # what Alertmanager writes as `endsAt` while an alert fires


def http_url(value: str, field: str = "url") -> str:
    """`value` if it is an absolute http(s) URL with a host, else a ValueError saying what is wrong."""
    try:
        url = httpx.URL(value)
    except Exception:
        raise ValueError(f"{field}: not a URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{field}: use an absolute http:// or https:// URL")
    return value


def check_template(source: str | None) -> str | None:
    """`source` if it compiles as a notification template, else a ValueError with Jinja's message and line."""
    if source is not None:
        try:
            render.compile_template(source)
        except TemplateSyntaxError as exc:
            raise ValueError(f"template syntax error on line {exc.lineno}: {exc.message}") from None
    return source


def evidence_line(line: Mapping[str, Any], size: int = render.SAMPLE_CHARS) -> str:
    """A sample line as the default templates show it: `ts level service: message` (message on one line, cut)."""
    head = " ".join(str(p) for p in (render.fmt_time(line.get("ts")), line.get("level"), line.get("service")) if p)
    message = render.clip(line.get("message", ""), size)
    return f"{head}: {message}" if head else message


def top_text(values: Any, count: int = 5) -> str:
    """A field's top values `[[value, lines], …]` as `web-1 (61), web-2 (40)` (other shapes shown as they are)."""
    items = list(values)[:count] if isinstance(values, list | tuple) else [values]
    return ", ".join(f"{v[0]} ({v[1]})" if isinstance(v, list | tuple) and len(v) >= 2 else str(v) for v in items)


def go_time(value: datetime | None) -> str:
    """RFC 3339 in UTC as Go's `time.Time` marshals it (fraction without trailing zeros); Go's zero time for None."""
    if value is None:
        return GO_ZERO_TIME
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # naive times in the alert log are UTC
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


class BasicAuth(BaseModel):
    """HTTP basic authentication."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    username: str = Field(min_length=1)
    """User name."""
    password: SecretStr
    """Password."""


class HttpAuthConfig(NotifierConfig):
    """Settings of channels that post to an endpoint the user runs: authentication and extra headers."""

    basic_auth: BasicAuth | None = None
    """HTTP basic authentication: `{username: …, password: …}`."""
    bearer_token: SecretStr | None = None
    """Sent as `Authorization: Bearer <token>` (not together with `basic_auth`)."""
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    """Extra request headers (`{X-Api-Key: …}`); their values are treated as secrets."""

    @model_validator(mode="after")
    def _one_auth(self) -> HttpAuthConfig:
        if self.basic_auth is not None and self.bearer_token is not None:
            raise ValueError("set either basic_auth or bearer_token, not both")
        if any(name.lower() == "content-type" for name in self.headers):
            raise ValueError("headers: Content-Type is set by the channel (application/json)")
        return self

    def request_headers(self) -> dict[str, str]:
        """The headers to send: User-Agent, the extra headers, then Authorization."""
        out = {"User-Agent": USER_AGENT}
        out.update({name: value.get_secret_value() for name, value in self.headers.items()})
        if self.basic_auth is not None:
            pair = f"{self.basic_auth.username}:{self.basic_auth.password.get_secret_value()}"
            out["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        elif self.bearer_token is not None:
            out["Authorization"] = "Bearer " + self.bearer_token.get_secret_value()
        return out


class WebhookConfig(HttpAuthConfig):
    """Generic webhook: POSTs Alertmanager's webhook JSON (version 4) to `url`, so receivers written for
    Alertmanager work unchanged; each alert also carries a `logwarden` object with its evidence."""

    url: SecretStr
    """Where to POST (a secret: webhook URLs often carry a token). Only scheme, host and path are ever shown."""
    max_alerts: int = Field(0, ge=0)
    """Alerts in one payload at most, the rest counted in `truncatedAlerts`; 0 = all (Alertmanager's meaning)."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        http_url(value.get_secret_value())
        return value


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
        answer = self.post_json(self.config.url.get_secret_value(), payload, headers=self.config.request_headers())
        return answer if isinstance(answer, DeliveryResult) else classify_http(answer)
