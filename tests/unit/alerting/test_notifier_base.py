"""What the channels share from base.py: the layering rule (a channel imports only `base` and `render`),
`deliver_json` (post, then classify) and `classify_errcode` (the chat robots' `errcode` answers)."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from logwarden.alerting import notifiers
from logwarden.alerting.model import Notification
from logwarden.alerting.notifiers.base import (
    USER_AGENT,
    DeliveryResult,
    Notifier,
    NotifierConfig,
    Outcome,
    SecretHttpUrl,
    classify_errcode,
)
from tests.unit.alerting.capture import Answer, CaptureServer
from tests.unit.alerting.notifier_cases import check_outcomes, firing

RETRIABLE = {45009: ("rate limit reached", 60.0), -1: ("system busy", None)}


def test_channel_modules_import_only_base_render_and_chat_webhook() -> None:
    package = Path(notifiers.__file__).parent
    allowed = {
        "logwarden.alerting.notifiers",
        "logwarden.alerting.notifiers.base",
        "logwarden.alerting.notifiers.render",
        "logwarden.alerting.notifiers.chat_webhook",  # what the chat robots share, not a channel
    }
    offending = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("logwarden.alerting.notif"):
                names = {alias.name for alias in node.names}
                if node.module not in allowed or (node.module == "logwarden.alerting.notifiers" and names - {"render"}):
                    offending.append(f"{path.name}: from {node.module} import {', '.join(sorted(names))}")
    assert offending == []


class _Echo(Notifier):
    """A minimal HTTP channel: posts the group key to `url`."""

    kind = "echo-test"
    config_model = NotifierConfig

    url = ""

    def send(self, notification: Notification) -> DeliveryResult:
        return self.deliver_json(self.url, {"group": notification.group_key})


def test_deliver_json_sends_the_user_agent_and_classifies_by_status(server: CaptureServer, http: httpx.Client) -> None:
    def make(base: str, timeout: str) -> Notifier:
        echo = _Echo(NotifierConfig.model_validate({"timeout": timeout}), http=http)
        echo.url = base + "/echo"
        return echo

    check_outcomes(make, server, Answer(200), path="/echo")
    assert {r.headers["user-agent"] for r in server.requests} == {USER_AGENT}
    assert server.requests[0].json() == {"group": firing().group_key}


def _answer(status: int, body: object) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.Response(status, content=body)
    return httpx.Response(status, json=body)


def test_classify_errcode() -> None:
    results = [
        classify_errcode(_answer(status, body), "WeCom robot", RETRIABLE)
        for status, body in [
            (200, {"errcode": 0, "errmsg": "ok"}),
            (200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
            (200, {"errcode": -1, "errmsg": "system busy"}),
            (200, {"errcode": 93000, "errmsg": "invalid webhook url"}),
            (200, b"<html>proxy</html>"),
            (502, b"bad gateway"),
        ]
    ]
    assert [r.outcome for r in results] == [
        Outcome.DELIVERED,
        Outcome.RETRIABLE,
        Outcome.RETRIABLE,
        Outcome.REJECTED,
        Outcome.REJECTED,
        Outcome.RETRIABLE,
    ]
    assert results[1].answer == "errcode 45009: api freq out of limit (rate limit reached)"
    assert [r.retry_after for r in results[1:3]] == [60.0, None]
    assert results[3].answer == "errcode 93000: invalid webhook url"
    assert results[4].answer == "not a WeCom robot answer: <html>proxy</html>"
    assert results[5].status == 502


def test_classify_errcode_with_other_keys_takes_the_first_present() -> None:
    keys = {"code_keys": ("code", "StatusCode"), "message_keys": ("msg", "StatusMessage")}
    older = classify_errcode(_answer(200, {"StatusCode": 19021, "StatusMessage": "sign"}), "Feishu bot", {}, **keys)
    assert (older.outcome, older.answer) == (Outcome.REJECTED, "code 19021: sign")
    newer = classify_errcode(_answer(200, {"code": 0, "StatusCode": 1}), "Feishu bot", {}, **keys)
    assert newer.outcome is Outcome.DELIVERED


def test_secret_http_url_names_the_field_and_hides_the_value() -> None:
    class Settings(BaseModel):
        url: SecretHttpUrl

    assert Settings(url="https://hooks.example.com/t0ken").url.get_secret_value() == "https://hooks.example.com/t0ken"
    with pytest.raises(ValidationError, match="url: use an absolute http:// or https:// URL") as raised:
        Settings(url="hooks.example.com/t0ken")  # type: ignore[arg-type]
    assert raised.value.errors()[0]["loc"] == ("url",)
