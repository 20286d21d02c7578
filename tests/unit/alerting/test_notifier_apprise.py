"""Apprise notifier through apprise's own JSON target (`json://`) against a local capture server: the title,
markdown body and message type that arrive firing and resolved; a failure (500, refused connection) is
retriable; bad URLs and a missing `apprise` package are config errors naming the fix; secrets stay masked."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from pydantic import ValidationError

from logwarden.alerting.notifiers import NOTIFIERS, render
from logwarden.alerting.notifiers.apprise import AppriseConfig, AppriseNotifier, load_apprise
from logwarden.alerting.notifiers.base import Outcome
from tests.conftest import free_port
from tests.unit.alerting.capture import Answer, CaptureServer
from tests.unit.alerting.notifier_cases import firing, resolved

FIRING_BODY = """### \\[FIRING:1\\] logwarden-test

**FIRING** **logwarden-test** `warning`: This is a test notification from logwarden

- value **101** (threshold 100) over 1m
- labels: alertname=`logwarden-test` service=`checkout` severity=`warning` tenant=`default`
- since 2026-03-01 11:59:00 UTC
- top host: web-1 (61), web-2 (40)

> 2026-03-01 11:59:55 UTC ERROR checkout: payment gateway timeout after 30s

[Show the lines](https://logs.example.com/?q=level%3Aerror)"""


def json_url(server: CaptureServer, path: str = "/apprise") -> str:
    return server.url.replace("http://", "json://") + path


def notifier(*urls: str, **settings: Any) -> AppriseNotifier:
    return AppriseNotifier(AppriseConfig.model_validate({"urls": list(urls), **settings}))


def test_registered_without_a_rate_limit() -> None:
    assert NOTIFIERS["apprise"] is AppriseNotifier
    assert AppriseNotifier.default_rate_limit is None


def test_firing_title_and_markdown_body_arrive(server: CaptureServer) -> None:
    assert render.render(render.DEFAULT_MARKDOWN, firing()).strip() == FIRING_BODY  # the default body, written out
    result = notifier(json_url(server)).send(firing())
    assert result.outcome is Outcome.DELIVERED
    assert result.answer == "sent to 1 of 1 services"
    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == "/apprise"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "version": "1.0",
        "title": "[FIRING:1] logwarden-test",
        "message": FIRING_BODY,
        "attachments": [],
        "type": "warning",  # the alert's severity
    }


def test_resolved_arrives_as_success_with_the_evidence(server: CaptureServer) -> None:
    notifier(json_url(server)).send(resolved())
    body = server.requests[0].json()
    assert body["title"] == "[RESOLVED] logwarden-test"
    assert body["type"] == "success"
    assert body["message"] == render.render(render.DEFAULT_MARKDOWN, resolved()).strip()
    assert "> 2026-03-01 11:59:55 UTC ERROR checkout: payment gateway timeout after 30s" in body["message"]
    assert "since 2026-03-01 11:59:00 UTC, resolved 2026-03-01 12:05:00 UTC" in body["message"]


def test_user_templates_and_every_url_gets_it(server: CaptureServer) -> None:
    sender = notifier(json_url(server, "/a"), json_url(server, "/b"), title="{{ status }}!", body="**{{ severity }}**")
    assert sender.send(firing()).answer == "sent to 2 of 2 services"
    got = sorted((r.path, r.json()["title"], r.json()["message"]) for r in server.wait_for(2))
    assert got == [("/a", "firing!", "**warning**"), ("/b", "firing!", "**warning**")]


def test_failures_are_retriable_with_apprises_words(server: CaptureServer) -> None:
    server.script.append(Answer(500, b"boom"))
    failed = notifier(json_url(server)).send(firing())
    assert failed.outcome is Outcome.RETRIABLE  # apprise cannot tell a bad token from a service down
    assert failed.answer.startswith("sent to 0 of 1 services; WARNING: ")
    assert "error=500" in failed.answer

    down = notifier(f"json://127.0.0.1:{free_port()}/x", timeout="2s").send(firing())
    assert down.outcome is Outcome.RETRIABLE
    assert "connection error" in down.answer.lower()


def test_describe_masks_secrets() -> None:
    config = AppriseConfig.model_validate({"urls": ["tgram://123456789:AAHsecretTOKEN/-100200300"]})
    described = AppriseNotifier(config).describe()
    assert described.startswith("apprise: tgram://")
    assert "AAHsecretTOKEN" not in described and "AAHsecretTOKEN" not in repr(config)


def test_bad_urls_and_templates_fail_validation() -> None:
    with pytest.raises(ValidationError, match=r"urls\[1\]: not a URL apprise can send to \(scheme 'nosuch'\)"):
        AppriseConfig.model_validate({"urls": ["json://127.0.0.1/x", "nosuch://host"]})
    with pytest.raises(ValidationError, match="at least 1 item"):
        AppriseConfig.model_validate({"urls": []})
    with pytest.raises(ValidationError, match="template syntax error on line 1"):
        AppriseConfig.model_validate({"urls": ["json://127.0.0.1/x"], "body": "{{ x | nosuchfilter }}"})


def test_missing_apprise_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    load_apprise.cache_clear()
    monkeypatch.setitem(sys.modules, "apprise", None)  # what `import apprise` meets when it is not installed
    try:
        with pytest.raises(ValidationError, match=r"pip install 'logwarden\[apprise\]'"):
            AppriseConfig.model_validate({"urls": ["json://127.0.0.1/x"]})
    finally:
        load_apprise.cache_clear()
