"""Slack incoming-webhook notifier against a local capture server: the exact Block Kit message firing and
resolved, escaping of log text, colours, overrides, user templates, the `ok` body check and outcomes."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from logwarden.alerting.notifiers import NOTIFIERS
from logwarden.alerting.notifiers.base import DeliveryResult, Notifier, Outcome
from logwarden.alerting.notifiers.slack import MAX_ALERT_BLOCKS, SlackConfig, SlackNotifier, slack_payload
from tests.unit.alerting.capture import Answer, CaptureServer
from tests.unit.alerting.notifier_cases import SEARCH, check_outcomes, firing, resolved, second_alert


def mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def alert_blocks(status: str, extra_field: list[dict[str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "type": "section",
            "text": mrkdwn(f"*{status}* *logwarden-test* `warning`\nThis is a test notification from logwarden"),
            "fields": [
                mrkdwn("*Value*\n101"),
                mrkdwn("*Threshold*\n100"),
                mrkdwn("*Window*\n1m"),
                mrkdwn("*Since*\n2026-03-01 11:59:00 UTC"),
                *extra_field,
            ],
        },
        {
            "type": "section",
            "text": mrkdwn("```2026-03-01 11:59:55 UTC ERROR checkout: payment gateway timeout after 30s```"),
        },
        {
            "type": "context",
            "elements": [
                mrkdwn("labels: alertname=`logwarden-test` service=`checkout` severity=`warning` tenant=`default`"),
                mrkdwn("top host: web-1 (61), web-2 (40)"),
            ],
        },
        {
            "type": "actions",
            "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Show the lines"}, "url": SEARCH}],
        },
    ]


def test_firing_message(server: CaptureServer, http: httpx.Client) -> None:
    notifier = SlackNotifier(SlackConfig(url=f"{server.url}/services/T0/B0/XyZ"), http=http)
    assert notifier.send(firing()) == DeliveryResult(Outcome.DELIVERED, 200, "ok")
    (request,) = server.requests
    assert request.path == "/services/T0/B0/XyZ"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "text": "[FIRING:1] logwarden-test",
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "[FIRING:1] logwarden-test"}}],
        "attachments": [{"color": "#daa038", "blocks": alert_blocks("FIRING", [])}],
    }


def test_resolved_message_is_green_with_the_same_evidence(server: CaptureServer, http: httpx.Client) -> None:
    SlackNotifier(SlackConfig(url=server.url), http=http).send(resolved())
    assert server.requests[0].json() == {
        "text": "[RESOLVED] logwarden-test",
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "[RESOLVED] logwarden-test"}}],
        "attachments": [
            {"color": "#2eb886", "blocks": alert_blocks("RESOLVED", [mrkdwn("*Resolved*\n2026-03-01 12:05:00 UTC")])}
        ],
    }


def test_log_text_is_escaped_and_relative_links_get_no_button() -> None:
    n = firing()
    n = dataclasses.replace(n, alerts=[second_alert()], external_url="")
    payload = slack_payload(SlackConfig(url="https://hooks.slack.com/x"), n)
    assert payload["attachments"][0]["color"] == "#d50000"  # critical
    blocks = payload["attachments"][0]["blocks"]
    assert blocks[0]["text"]["text"] == "*FIRING* *logwarden-test* `critical`\n5xx &lt;burst&gt; &amp; more"
    assert blocks[0]["fields"] == [mrkdwn("*Value*\n7.5"), mrkdwn("*Since*\n2026-03-01 11:59:00 UTC")]
    code = blocks[1]["text"]["text"]
    assert (
        code == "```2026-03-01 11:58:00 UTC ERROR a&lt;b&gt;&amp;c: x &lt; y &amp; `\u200b`\u200b`z`\u200b`\u200b````"
    )
    assert code.count("```") == 2  # the log line's backticks cannot close the block
    assert blocks[2]["elements"] == [
        mrkdwn("labels: alertname=`logwarden-test` service=`a&lt;b&gt;&amp;c` severity=`critical`")
    ]
    assert [b["type"] for b in blocks] == ["section", "section", "context"]  # no button for "/?q=…"


def test_many_alerts_stay_under_slacks_block_limit() -> None:
    n = firing()
    alerts = [dataclasses.replace(n.alerts[0], fingerprint=str(i)) for i in range(MAX_ALERT_BLOCKS + 5)]
    payload = slack_payload(SlackConfig(url="https://h/x"), dataclasses.replace(n, alerts=alerts, truncated_alerts=2))
    blocks = payload["attachments"][0]["blocks"]
    assert len(blocks) <= 50
    assert blocks[-1] == {"type": "context", "elements": [mrkdwn("… and 7 more alerts")]}


def test_overrides_and_templates(server: CaptureServer, http: httpx.Client) -> None:
    config = SlackConfig.model_validate(
        {
            "url": server.url,
            "channel": "#ops",
            "username": "logwarden",
            "icon_emoji": ":rotating_light:",
            "title": "{{ status }} {{ common_labels.service }}",
            "text": "{% for a in alerts %}*{{ a.name }}* {{ a.evidence[0].message }}{% endfor %}",
            "fallback": "{{ alerts | length }} alert(s)",
        }
    )
    SlackNotifier(config, http=http).send(firing())
    body = server.requests[0].json()
    assert body["channel"] == "#ops"
    assert body["username"] == "logwarden"
    assert body["icon_emoji"] == ":rotating_light:"
    assert "icon_url" not in body
    assert body["text"] == "1 alert(s)"
    assert body["blocks"][0]["text"]["text"] == "firing checkout"
    assert body["attachments"][0]["blocks"] == [
        {"type": "section", "text": mrkdwn("*logwarden-test* payment gateway timeout after 30s")}
    ]


def test_failing_user_template_falls_back_to_the_default() -> None:
    config = SlackConfig(url="https://h/x", title="{{ 1 / 0 }}")
    assert slack_payload(config, firing())["blocks"][0]["text"]["text"] == "[FIRING:1] logwarden-test"


def test_template_syntax_error_fails_at_config() -> None:
    with pytest.raises(ValidationError, match="title"):
        SlackConfig.model_validate({"url": "https://h/x", "title": "{% if %}"})


def test_two_hundred_without_ok_is_rejected(server: CaptureServer, http: httpx.Client) -> None:
    notifier = SlackNotifier(SlackConfig(url=server.url), http=http)
    server.script += [Answer(200, b"invalid_token"), Answer(200, b""), Answer(404, b"no_service")]
    results = [notifier.send(firing()) for _ in range(3)]
    assert results[0] == DeliveryResult(Outcome.REJECTED, 200, "invalid_token")
    assert results[1].outcome is Outcome.REJECTED
    assert results[2] == DeliveryResult(Outcome.REJECTED, 404, "no_service")


def test_outcomes(server: CaptureServer, http: httpx.Client) -> None:
    def make(base: str, timeout: str) -> Notifier:
        return SlackNotifier(SlackConfig.model_validate({"url": base + "/services/x", "timeout": timeout}), http=http)

    check_outcomes(make, server, Answer(200, b"ok"), path="/services/x")


def test_describe_keeps_the_token_out_and_rate_limit_default(http: httpx.Client) -> None:
    notifier = SlackNotifier(SlackConfig(url="https://hooks.slack.com/services/T0/B0/s3cret"), http=http)
    assert "s3cret" not in repr(notifier.config)
    assert notifier.describe() == "https://hooks.slack.com/services/…"
    assert notifier.limiter is not None and notifier.limiter.capacity == 1 and notifier.limiter.rate == 1.0
    assert NOTIFIERS["slack"] is SlackNotifier
