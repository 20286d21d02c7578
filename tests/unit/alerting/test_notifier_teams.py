"""Microsoft Teams workflow-webhook notifier against a local capture server: the exact Adaptive Card message
firing and resolved, colours, links, a user template, outcomes (Power Automate answers 202)."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from logwarden.alerting.notifiers import NOTIFIERS
from logwarden.alerting.notifiers.base import DeliveryResult, Notifier, Outcome
from logwarden.alerting.notifiers.teams import MAX_ALERT_CARDS, TeamsConfig, TeamsNotifier, teams_payload
from tests.unit.alerting.capture import Answer, CaptureServer
from tests.unit.alerting.notifier_cases import SEARCH, check_outcomes, firing, resolved, second_alert

WORKFLOW = "/workflows/abc/triggers/manual/paths/invoke"


@pytest.fixture
def capture_default() -> Answer:
    return Answer(202, b"")


def message(title: str, colour: str, status: str, facts: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "msteams": {"width": "Full"},
                    "body": [
                        {"type": "TextBlock", "text": title, "wrap": True, "size": "Large", "weight": "Bolder",
                         "color": colour},
                        {
                            "type": "Container",
                            "separator": True,
                            "spacing": "Medium",
                            "items": [
                                {"type": "TextBlock", "text": f"{status} logwarden-test (warning)", "wrap": True,
                                 "weight": "Bolder", "color": colour},
                                {"type": "TextBlock", "text": "This is a test notification from logwarden",
                                 "wrap": True, "spacing": "Small"},
                                {"type": "FactSet", "facts": facts},
                                {"type": "TextBlock",
                                 "text": "2026-03-01 11:59:55 UTC ERROR checkout: payment gateway timeout after 30s",
                                 "wrap": True, "fontType": "Monospace", "size": "Small", "spacing": "None"},
                                {"type": "ActionSet",
                                 "actions": [{"type": "Action.OpenUrl", "title": "Show the lines", "url": SEARCH}]},
                            ],
                        },
                    ],
                },
            }
        ],
    }  # fmt: skip


FACTS = [
    {"title": "Value", "value": "101"},
    {"title": "Threshold", "value": "100"},
    {"title": "Window", "value": "1m"},
    {"title": "Since", "value": "2026-03-01 11:59:00 UTC"},
]
LABELS_AND_TOP = [
    {"title": "Labels", "value": "alertname=logwarden-test, service=checkout, severity=warning, tenant=default"},
    {"title": "Top host", "value": "web-1 (61), web-2 (40)"},
]


def test_firing_card(server: CaptureServer, http: httpx.Client) -> None:
    notifier = TeamsNotifier(TeamsConfig(url=f"{server.url}{WORKFLOW}?api-version=1&sig=s3cret"), http=http)
    assert notifier.send(firing()) == DeliveryResult(Outcome.DELIVERED, 202, "")
    (request,) = server.requests
    assert request.path == WORKFLOW
    assert request.query["sig"] == ["s3cret"]
    assert request.headers["content-type"] == "application/json"
    assert request.json() == message("[FIRING:1] logwarden-test", "Warning", "FIRING", FACTS + LABELS_AND_TOP)


def test_resolved_card_is_good_with_the_same_evidence(server: CaptureServer, http: httpx.Client) -> None:
    TeamsNotifier(TeamsConfig(url=server.url + WORKFLOW), http=http).send(resolved())
    facts = [*FACTS, {"title": "Resolved", "value": "2026-03-01 12:05:00 UTC"}, *LABELS_AND_TOP]
    assert server.requests[0].json() == message("[RESOLVED] logwarden-test", "Good", "RESOLVED", facts)


def test_critical_alert_relative_link_and_cap() -> None:
    n = dataclasses.replace(firing(), alerts=[second_alert()], external_url="")
    body = teams_payload(TeamsConfig(url="https://x.logic.azure.com/w"), n)["attachments"][0]["content"]["body"]
    assert body[0]["color"] == "Attention"
    items = body[1]["items"]
    assert items[0]["text"] == "FIRING logwarden-test (critical)"
    assert items[3]["text"] == "2026-03-01 11:58:00 UTC ERROR a<b>&c: x < y & ```z```"  # JSON, no markup to escape
    assert [i["type"] for i in items] == ["TextBlock", "TextBlock", "FactSet", "TextBlock"]  # no relative link

    many = [dataclasses.replace(firing().alerts[0], fingerprint=str(i)) for i in range(MAX_ALERT_CARDS + 3)]
    body = teams_payload(TeamsConfig(url="https://x/w"), dataclasses.replace(n, alerts=many))["attachments"][0]
    shown = body["content"]["body"]
    assert len(shown) == 1 + MAX_ALERT_CARDS + 1
    assert shown[-1] == {"type": "TextBlock", "text": "… and 3 more alerts", "wrap": True, "isSubtle": True}


def test_user_templates(server: CaptureServer, http: httpx.Client) -> None:
    config = TeamsConfig(
        url=server.url, title="{{ status | upper }}: {{ alerts | length }}", text="**{{ alerts[0].summary }}**"
    )
    TeamsNotifier(config, http=http).send(firing())
    body = server.requests[0].json()["attachments"][0]["content"]["body"]
    assert [b["text"] for b in body] == ["FIRING: 1", "**This is a test notification from logwarden**"]


def test_outcomes(server: CaptureServer, http: httpx.Client) -> None:
    def make(base: str, timeout: str) -> Notifier:
        return TeamsNotifier(TeamsConfig.model_validate({"url": base + WORKFLOW, "timeout": timeout}), http=http)

    check_outcomes(make, server, Answer(202, b""), path=WORKFLOW)


def test_describe_drops_the_signature(http: httpx.Client) -> None:
    url = "https://prod-1.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sp=x&sig=s3cret"
    notifier = TeamsNotifier(TeamsConfig(url=url), http=http)
    assert "s3cret" not in notifier.describe()
    assert notifier.describe().startswith("https://prod-1.westeurope.logic.azure.com")
    assert "s3cret" not in repr(notifier.config)
    assert NOTIFIERS["teams"] is TeamsNotifier


def test_bad_url_is_named() -> None:
    with pytest.raises(ValidationError, match="url"):
        TeamsConfig.model_validate({"url": "outlook.office.com/webhook"})
