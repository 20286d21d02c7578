"""Generic webhook notifier against a local capture server: Alertmanager's webhook payload byte for byte (plus
the `logwarden` evidence object), firing and resolved, auth headers, max_alerts, and the outcome of every kind
of answer (2xx, 4xx, 5xx, 429 with Retry-After, a timeout, a refused connection)."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from logwarden.alerting.notifiers import NOTIFIERS
from logwarden.alerting.notifiers.base import DeliveryResult, Notifier, Outcome, go_time
from logwarden.alerting.notifiers.webhook import WebhookConfig, WebhookNotifier, webhook_payload
from tests.unit.alerting.capture import Answer, CaptureServer
from tests.unit.alerting.notifier_cases import EXTERNAL, NOW, SEARCH, check_outcomes, firing, resolved, second_alert

# --- payloads ---------------------------------------------------------------------------------------------

FIRING_ALERT = {
    "status": "firing",
    "labels": {"alertname": "logwarden-test", "service": "checkout", "severity": "warning", "tenant": "default"},
    "annotations": {"summary": "This is a test notification from logwarden", "description": "Nothing is wrong."},
    "startsAt": "2026-03-01T11:59:00Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": SEARCH,
    "fingerprint": "0123456789abcdef0123456789abcdef",
    "logwarden": {
        "value": 101.0,
        "threshold": 100.0,
        "window": "1m",
        "evidence": [
            {
                "log_id": "test-1",
                "ts": "2026-03-01T11:59:55+00:00",
                "service": "checkout",
                "host": "web-1",
                "level": "ERROR",
                "message": "payment gateway timeout after 30s",
            }
        ],
        "top_values": {"host": [["web-1", 61], ["web-2", 40]]},
        "search": {"url": SEARCH, "api": "https://logs.example.com/api/v1/search?q=level%3Aerror"},
    },
}


def envelope(status: str, alerts: list[dict[str, Any]], truncated: int = 0) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="logwarden-test"}',
        "truncatedAlerts": truncated,
        "status": status,
        "receiver": "ops",
        "groupLabels": {"alertname": "logwarden-test"},
        "commonLabels": {
            "alertname": "logwarden-test",
            "service": "checkout",
            "severity": "warning",
            "tenant": "default",
        },
        "commonAnnotations": {
            "summary": "This is a test notification from logwarden",
            "description": "Nothing is wrong.",
        },
        "externalURL": EXTERNAL,
        "alerts": alerts,
    }


def test_firing_payload_is_alertmanagers_webhook_with_evidence(server: CaptureServer, http: httpx.Client) -> None:
    notifier = WebhookNotifier(WebhookConfig(url=f"{server.url}/hook?token=s3cret"), http=http)
    result = notifier.send(firing())
    assert result == DeliveryResult(Outcome.DELIVERED, 200, "ok")
    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == "/hook"
    assert request.query == {"token": ["s3cret"]}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("logwarden/")
    assert "authorization" not in request.headers
    assert request.json() == envelope("firing", [FIRING_ALERT])


def test_resolved_payload_has_end_time_and_same_evidence(server: CaptureServer, http: httpx.Client) -> None:
    WebhookNotifier(WebhookConfig(url=f"{server.url}/hook"), http=http).send(resolved())
    expected = {**FIRING_ALERT, "status": "resolved", "endsAt": "2026-03-01T12:05:00Z"}
    assert server.requests[0].json() == envelope("resolved", [expected])


def test_mixed_group_and_max_alerts_truncate_like_alertmanager(server: CaptureServer, http: httpx.Client) -> None:
    n = firing()
    n = dataclasses.replace(n, alerts=[*n.alerts, second_alert("resolved", ends_at=NOW)], truncated_alerts=3)
    WebhookNotifier(WebhookConfig(url=server.url, max_alerts=1), http=http).send(n)
    body = server.requests[0].json()
    assert body["status"] == "firing"  # any alert firing: the group fires
    assert body["truncatedAlerts"] == 4  # 3 cut by the router + 1 by max_alerts
    assert [a["fingerprint"] for a in body["alerts"]] == ["0123456789abcdef0123456789abcdef"]
    assert body["commonLabels"] == {"alertname": "logwarden-test"}
    assert body["commonAnnotations"] == {}

    WebhookNotifier(WebhookConfig(url=server.url), http=http).send(n)
    second = server.requests[1].json()["alerts"][1]
    assert second["status"] == "resolved"
    assert second["endsAt"] == "2026-03-01T12:00:00Z"
    assert second["generatorURL"] == "https://logs.example.com/?q=service%3Aa"  # made absolute


def test_basic_auth_and_extra_headers(server: CaptureServer, http: httpx.Client) -> None:
    config = WebhookConfig.model_validate(
        {"url": server.url, "basic_auth": {"username": "u", "password": "p:w"}, "headers": {"X-Api-Key": "k1"}}
    )
    WebhookNotifier(config, http=http).send(firing())
    headers = server.requests[0].headers
    assert headers["authorization"] == "Basic " + base64.b64encode(b"u:p:w").decode()
    assert headers["x-api-key"] == "k1"


def test_bearer_token(server: CaptureServer, http: httpx.Client) -> None:
    config = WebhookConfig.model_validate({"url": server.url, "bearer_token": "t0k"})
    WebhookNotifier(config, http=http).send(firing())
    assert server.requests[0].headers["authorization"] == "Bearer t0k"


def test_outcomes(server: CaptureServer, http: httpx.Client) -> None:
    def make(base: str, timeout: str) -> Notifier:
        return WebhookNotifier(WebhookConfig.model_validate({"url": base + "/hook", "timeout": timeout}), http=http)

    check_outcomes(make, server, Answer(200), path="/hook")


def test_other_4xx_rejected_408_retried(server: CaptureServer, http: httpx.Client) -> None:
    notifier = WebhookNotifier(WebhookConfig(url=server.url), http=http)
    server.script += [Answer(404, b"no such hook"), Answer(408, b""), Answer(204, b"")]
    results = [notifier.send(firing()) for _ in range(3)]
    assert [r.outcome for r in results] == [Outcome.REJECTED, Outcome.RETRIABLE, Outcome.DELIVERED]


def test_describe_and_repr_keep_secrets(http: httpx.Client) -> None:
    config = WebhookConfig.model_validate(
        {
            "url": "https://user:pw@hooks.example.com/hook/abc?token=s3cret",
            "bearer_token": "b3arer",
            "headers": {"X-Api-Key": "k3y"},
        }
    )
    notifier = WebhookNotifier(config, http=http)
    assert notifier.describe() == "https://hooks.example.com/hook/abc"
    for text in (repr(config), str(config), config.model_dump_json()):
        for secret in ("s3cret", "b3arer", "k3y", "pw@"):
            assert secret not in text


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"url": "hooks.example.com/x"}, "absolute http:// or https:// URL"),
        ({"url": "ftp://example.com/x"}, "absolute http:// or https:// URL"),
        ({"url": "http://x", "max_alerts": -1}, "greater than or equal to 0"),
        ({"url": "http://x", "bearer_token": "t", "basic_auth": {"username": "u", "password": "p"}}, "not both"),
        ({"url": "http://x", "headers": {"Content-Type": "text/plain"}}, "Content-Type"),
        ({"url": "http://x", "retries": 3}, "Extra inputs are not permitted"),
    ],
)
def test_config_mistakes_are_named(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WebhookConfig.model_validate(settings)


def test_registered_and_user_shape_parses() -> None:
    from logwarden.alerting.config import AlertingConfig

    assert NOTIFIERS["webhook"] is WebhookNotifier
    config = AlertingConfig.model_validate(
        {
            "route": {"receiver": "ops", "group_by": ["alertname", "service"], "group_wait": "0s"},
            "receivers": [{"name": "ops", "webhook": {"url": "http://127.0.0.1:9099/hook"}}],
        }
    )
    (receiver,) = config.receivers
    assert receiver.webhook[0].url.get_secret_value() == "http://127.0.0.1:9099/hook"  # type: ignore[attr-defined]


def test_go_time_matches_gos_json() -> None:
    assert go_time(None) == "0001-01-01T00:00:00Z"
    assert go_time(datetime(2026, 3, 1, 12, 0, 0, 120000, tzinfo=UTC)) == "2026-03-01T12:00:00.12Z"
    from zoneinfo import ZoneInfo

    assert go_time(datetime(2026, 3, 1, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai"))) == "2026-03-01T12:00:00Z"
    assert webhook_payload(firing())["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"


def test_every_http_channel_parses_in_one_receiver(http: httpx.Client) -> None:
    from logwarden.alerting.config import AlertingConfig, integrations

    config = AlertingConfig.model_validate(
        {
            "route": {"receiver": "all"},
            "receivers": [
                {
                    "name": "all",
                    "webhook_configs": [{"url": "http://127.0.0.1:9099/hook", "max_alerts": 5}],
                    "slack": {"url": "https://hooks.slack.com/services/T/B/x", "channel": "#ops"},
                    "teams": {"url": "https://x.logic.azure.com/workflows/1?sig=s"},
                    "telegram": {"bot_token": "1:a", "chat_id": -100, "rate_limit": "10/1m"},
                    "pagerduty": {"routing_key": "k", "class": "log errors"},
                    "alertmanager": [{"url": "http://am-0:9093"}, {"url": "http://am-1:9093"}],
                }
            ],
        }
    )
    kinds = [kind for kind, _ in integrations(config.receivers[0])]
    assert sorted(kinds) == ["alertmanager", "alertmanager", "pagerduty", "slack", "teams", "telegram", "webhook"]
    built = [NOTIFIERS[kind](settings, http=http) for kind, settings in integrations(config.receivers[0])]
    telegram = next(n for n in built if n.kind == "telegram")
    assert telegram.limiter is not None and telegram.limiter.capacity == 10  # the configured limit wins
