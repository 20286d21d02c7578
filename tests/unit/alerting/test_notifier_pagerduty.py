"""PagerDuty Events API v2 notifier against a local capture server: the exact trigger (with the evidence in
custom_details) and resolve events keyed on the group, severity mapping, templates, and outcomes (202
delivered, 400 rejected, 429/5xx retried)."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from pydantic import ValidationError

from logwarden.alerting.notifiers import NOTIFIERS
from logwarden.alerting.notifiers.base import DeliveryResult, Notifier, Outcome
from logwarden.alerting.notifiers.pagerduty import PagerDutyConfig, PagerDutyNotifier, pagerduty_event, pd_severity
from tests.unit.alerting.capture import Answer, CaptureServer
from tests.unit.alerting.notifier_cases import EXTERNAL, SEARCH, check_outcomes, firing, resolved, second_alert

KEY = "R0UT1NGKEY0123456789abcdefabcdef"
ACCEPTED = Answer(202, {"status": "success", "message": "Event processed", "dedup_key": "x"})


@pytest.fixture
def capture_default() -> Answer:
    return ACCEPTED


def config(url: str, **settings: object) -> PagerDutyConfig:
    return PagerDutyConfig.model_validate({"routing_key": KEY, "url": url + "/v2/enqueue", **settings})


def test_trigger_event(server: CaptureServer, http: httpx.Client) -> None:
    n = firing()
    result = PagerDutyNotifier(config(server.url), http=http).send(n)
    assert result.outcome is Outcome.DELIVERED and result.status == 202
    (request,) = server.requests
    assert request.path == "/v2/enqueue"
    assert request.json() == {
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": n.group_id,
        "client": "logwarden",
        "client_url": EXTERNAL,
        "payload": {
            "summary": "[FIRING:1] logwarden-test: This is a test notification from logwarden",
            "source": "checkout",
            "severity": "warning",
            "timestamp": "2026-03-01T11:59:00+00:00",
            "custom_details": {
                "firing": 1,
                "resolved": 0,
                "group_labels": {"alertname": "logwarden-test"},
                "alerts": [
                    {
                        "name": "logwarden-test",
                        "status": "firing",
                        "severity": "warning",
                        "summary": "This is a test notification from logwarden",
                        "labels": {
                            "alertname": "logwarden-test",
                            "service": "checkout",
                            "severity": "warning",
                            "tenant": "default",
                        },
                        "value": 101.0,
                        "threshold": 100.0,
                        "window": "1m",
                        "starts_at": "2026-03-01T11:59:00+00:00",
                        "ends_at": None,
                        "evidence": ["2026-03-01 11:59:55 UTC ERROR checkout: payment gateway timeout after 30s"],
                        "top_values": {"host": [["web-1", 61], ["web-2", 40]]},
                        "search": SEARCH,
                    }
                ],
                "truncated_alerts": 0,
            },
        },
        "links": [{"href": SEARCH, "text": "Show the lines: logwarden-test"}],
    }


def test_resolve_event_has_the_same_dedup_key(server: CaptureServer, http: httpx.Client) -> None:
    notifier = PagerDutyNotifier(config(server.url, client="acme-logs", client_url="https://acme/"), http=http)
    notifier.send(firing())
    notifier.send(resolved())
    trigger, resolve = (r.json() for r in server.requests)
    assert resolve == {
        "routing_key": KEY,
        "event_action": "resolve",
        "dedup_key": trigger["dedup_key"],
        "client": "acme-logs",
        "client_url": "https://acme/",
    }
    assert len(trigger["dedup_key"]) == 32


def test_mixed_group_triggers_with_highest_firing_severity_and_earliest_start() -> None:
    early = dataclasses.replace(firing().alerts[0], starts_at=firing().alerts[0].starts_at.replace(minute=30))
    n = dataclasses.replace(firing(), alerts=[early, second_alert(), second_alert("resolved", fingerprint="r")])
    event = pagerduty_event(config("https://events.pagerduty.com"), n)
    payload = event["payload"]
    assert event["event_action"] == "trigger"
    assert payload["severity"] == "critical"
    assert payload["timestamp"] == "2026-03-01T11:30:00+00:00"
    assert payload["source"] == "logwarden"  # no common service or host
    assert payload["custom_details"]["firing"] == 2
    assert payload["custom_details"]["resolved"] == 1
    assert [a["status"] for a in payload["custom_details"]["alerts"]] == ["firing", "firing", "resolved"]
    assert event["links"] == [
        {"href": SEARCH, "text": "Show the lines: logwarden-test"},
        {"href": "https://logs.example.com/?q=service%3Aa", "text": "Show the lines: logwarden-test"},
    ]  # deduplicated


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("critical", "critical"), ("page", "critical"), ("error", "error"), ("high", "error"), ("warning", "warning"),
     ("warn", "warning"), ("info", "info"), ("low", "info"), ("", "error"), ("whatever", "error")],
)  # fmt: skip
def test_severity_mapping(severity: str, expected: str) -> None:
    assert pd_severity(severity) == expected


def test_templates_and_summary_limit() -> None:
    settings = {
        "summary": "{{ 'x' * 2000 }}",
        "source": "{{ common_labels.tenant }}\n  host",
        "component": "{{ common_labels.service }}",
        "group": "{{ common_labels.nothing }}",
        "class": "log errors",
    }
    payload = pagerduty_event(config("https://e", **settings), firing())["payload"]
    assert len(payload["summary"]) == 1024 and payload["summary"].endswith("…")
    assert payload["source"] == "default host"  # one line
    assert payload["component"] == "checkout"
    assert "group" not in payload  # empty: left out
    assert payload["class"] == "log errors"


def test_outcomes(server: CaptureServer, http: httpx.Client) -> None:
    def make(base: str, timeout: str) -> Notifier:
        return PagerDutyNotifier(config(base, timeout=timeout), http=http)

    check_outcomes(make, server, ACCEPTED, path="/v2/enqueue")


def test_invalid_event_is_rejected_with_pagerdutys_reason(server: CaptureServer, http: httpx.Client) -> None:
    body = {"status": "invalid event", "message": "Event object is invalid", "errors": ["Invalid routing key"]}
    server.script.append(Answer(400, body))
    result = PagerDutyNotifier(config(server.url), http=http).send(firing())
    assert result.outcome is Outcome.REJECTED
    assert "Invalid routing key" in result.answer


def test_routing_key_is_secret(http: httpx.Client) -> None:
    notifier = PagerDutyNotifier(PagerDutyConfig(routing_key=KEY), http=http)
    assert notifier.describe() == "https://events.pagerduty.com/v2/enqueue"
    assert KEY not in repr(notifier.config)
    assert notifier.limiter is not None and notifier.limiter.capacity == 120
    assert NOTIFIERS["pagerduty"] is PagerDutyNotifier


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"routing_key": " "}, "empty routing key"),
        ({"routing_key": KEY, "url": "events.pagerduty.com"}, "url"),
        ({"routing_key": KEY, "summary": "{% for %}"}, "template syntax error"),
        ({}, "routing_key"),
    ],
)
def test_config_mistakes_are_named(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PagerDutyConfig.model_validate(settings)


def test_delivered_result_keeps_the_answer(server: CaptureServer, http: httpx.Client) -> None:
    result = PagerDutyNotifier(config(server.url), http=http).send(firing())
    assert result == DeliveryResult(
        Outcome.DELIVERED, 202, '{"status": "success", "message": "Event processed", "dedup_key": "x"}'
    )
