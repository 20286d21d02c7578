"""Alertmanager forwarding against a local capture server: the exact `POST /api/v2/alerts` body firing (endsAt
ahead by `firing_ends_after` from an injected clock) and resolved (its real end), label names made valid,
evidence and value annotations, auth, and outcomes. The real Alertmanager: tests/integration/
test_alertmanager_forward.py."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import ValidationError

from logwarden.alerting.notifiers import NOTIFIERS
from logwarden.alerting.notifiers.alertmanager import (
    AlertmanagerConfig,
    AlertmanagerNotifier,
    alertmanager_payload,
    label_name,
)
from logwarden.alerting.notifiers.base import DeliveryResult, Notifier, Outcome
from tests.unit.alerting.capture import Answer, CaptureServer
from tests.unit.alerting.notifier_cases import NOW, SEARCH, check_outcomes, firing, resolved, second_alert

SENT_AT = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)  # the injected clock: when the notifier sends


@pytest.fixture
def capture_default() -> Answer:
    return Answer(200, b"")


def notifier(url: str, http: httpx.Client, **settings: object) -> AlertmanagerNotifier:
    config = AlertmanagerConfig.model_validate({"url": url, **settings})
    return AlertmanagerNotifier(config, http=http, clock=lambda: SENT_AT)


LABELS = {"alertname": "logwarden-test", "service": "checkout", "severity": "warning", "tenant": "default"}
ANNOTATIONS = {
    "summary": "This is a test notification from logwarden",
    "description": "Nothing is wrong.",
    "evidence": "2026-03-01 11:59:55 UTC ERROR checkout: payment gateway timeout after 30s",
    "value": "101 (threshold 100) over 1m",
}


def test_firing_alert_is_posted_with_ends_at_ahead(server: CaptureServer, http: httpx.Client) -> None:
    result = notifier(server.url + "/am/", http).send(firing())
    assert result == DeliveryResult(Outcome.DELIVERED, 200, "")
    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == "/am/api/v2/alerts"  # a route prefix is kept
    assert request.headers["content-type"] == "application/json"
    assert request.json() == [
        {
            "labels": LABELS,
            "annotations": ANNOTATIONS,
            "startsAt": "2026-03-01T11:59:00Z",
            "endsAt": "2026-03-02T12:00:30Z",  # the send time + 24h
            "generatorURL": SEARCH,
        }
    ]


def test_resolved_alert_is_posted_with_its_end(server: CaptureServer, http: httpx.Client) -> None:
    notifier(server.url, http).send(resolved())
    assert server.requests[0].json() == [
        {
            "labels": LABELS,
            "annotations": ANNOTATIONS,
            "startsAt": "2026-03-01T11:59:00Z",
            "endsAt": "2026-03-01T12:05:00Z",
            "generatorURL": SEARCH,
        }
    ]


def test_no_ends_at_when_asked_and_extra_labels(server: CaptureServer, http: httpx.Client) -> None:
    notifier(server.url, http, firing_ends_after=None, labels={"source": "logwarden", "service": "x"}).send(firing())
    (alert,) = server.requests[0].json()
    assert "endsAt" not in alert
    assert alert["labels"] == {**LABELS, "source": "logwarden"}  # the alert's own service wins


def test_label_names_are_made_valid_and_evidence_bounded() -> None:
    lines = [
        {"ts": "2026-03-01T11:58:00+00:00", "level": "ERROR", "service": "a", "message": f"m{i}"} for i in range(4)
    ]
    alert = second_alert(
        labels={"alertname": "x", "service.name": "api", "k8s-pod": "p1", "1st": "y"},
        annotations={"runbook.url": "https://r", "evidence": "mine"},
        evidence=lines,
    )
    n = dataclasses.replace(firing(), alerts=[alert, second_alert("resolved", ends_at=None, fingerprint="r")])
    config = AlertmanagerConfig(url="http://am:9093", evidence_lines=3)
    first, second = alertmanager_payload(config, n, SENT_AT)
    assert first["labels"] == {"alertname": "x", "service_name": "api", "k8s_pod": "p1", "_1st": "y"}
    assert first["annotations"] == {"runbook_url": "https://r", "evidence": "mine", "value": "7.5"}  # user's kept
    assert second["endsAt"] == "2026-03-01T12:00:30Z"  # resolved without an end time: the send time
    (third,) = alertmanager_payload(AlertmanagerConfig(url="http://am", evidence_lines=3), dataclasses.replace(
        n, alerts=[second_alert(evidence=lines)]), SENT_AT)  # fmt: skip
    assert third["annotations"]["evidence"].splitlines() == [
        "2026-03-01 11:58:00 UTC ERROR a: m0",
        "2026-03-01 11:58:00 UTC ERROR a: m1",
        "2026-03-01 11:58:00 UTC ERROR a: m2",
    ]
    assert [label_name(n) for n in ("ok_1", "a.b-c", "9", "")] == ["ok_1", "a_b_c", "_9", "_"]


def test_resolved_before_its_start_is_clamped() -> None:
    alert = dataclasses.replace(resolved().alerts[0], ends_at=datetime(2026, 3, 1, 11, 0, tzinfo=UTC))
    (entry,) = alertmanager_payload(
        AlertmanagerConfig(url="http://am"), dataclasses.replace(firing(), alerts=[alert]), NOW
    )
    assert entry["endsAt"] == entry["startsAt"]  # Alertmanager refuses endsAt < startsAt


def test_relative_link_without_external_url(server: CaptureServer, http: httpx.Client) -> None:
    notifier(server.url, http).send(dataclasses.replace(firing(), external_url=""))
    assert server.requests[0].json()[0]["generatorURL"] == "/?q=level%3Aerror"


def test_basic_auth(server: CaptureServer, http: httpx.Client) -> None:
    notifier(server.url, http, basic_auth={"username": "am", "password": "pw"}).send(firing())
    assert server.requests[0].headers["authorization"] == "Basic " + base64.b64encode(b"am:pw").decode()


def test_outcomes(server: CaptureServer, http: httpx.Client) -> None:
    def make(base: str, timeout: str) -> Notifier:
        return notifier(base, http, timeout=timeout)

    check_outcomes(make, server, Answer(200, b""), path="/api/v2/alerts")


def test_describe_and_config(http: httpx.Client) -> None:
    n = notifier("https://am:s3cret@alertmanager.example.com:9093/?token=t0k", http, bearer_token="b3arer")
    assert n.describe() == "https://alertmanager.example.com:9093/"
    assert n.endpoint == "https://am:s3cret@alertmanager.example.com:9093/api/v2/alerts?token=t0k"
    for secret in ("s3cret", "t0k", "b3arer"):
        assert secret not in repr(n.config)
    assert NOTIFIERS["alertmanager"] is AlertmanagerNotifier
    with pytest.raises(ValidationError, match="firing_ends_after"):
        AlertmanagerConfig.model_validate({"url": "http://am", "firing_ends_after": "0s"})
    with pytest.raises(ValidationError, match="url"):
        AlertmanagerConfig.model_validate({"url": "am:9093"})
    assert AlertmanagerConfig.model_validate({"url": "http://am", "firing_ends_after": "6h"}).firing_ends_after
