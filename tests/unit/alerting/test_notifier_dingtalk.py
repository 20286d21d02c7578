"""DingTalk robot notifier against a local capture server: the exact markdown message firing and resolved, `@`
mentions (in `at` and in the text), `isAtAll` for critical, the signature checked with DingTalk's documented
algorithm, errcode outcomes, truncation and config errors."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import urllib.parse

import httpx
import pytest
from pydantic import ValidationError

from logwarden.alerting.notifiers import NOTIFIERS
from logwarden.alerting.notifiers.base import DeliveryResult, Outcome
from logwarden.alerting.notifiers.dingtalk import MAX_TEXT_BYTES, DingTalkConfig, DingTalkNotifier
from tests.unit.alerting.capture import Answer, CaptureServer
from tests.unit.alerting.notifier_cases import check_outcomes, firing, resolved, second_alert

OK = Answer(200, {"errcode": 0, "errmsg": "ok"})

FIRING_TEXT = """### 🔴 [告警:1] logwarden-test

<font color=#D93026>告警</font> **logwarden-test** · warning

This is a test notification from logwarden

- 当前值 **101**(阈值 100),窗口 1m
- 标签 service=checkout severity=warning tenant=default
- 开始于 2026-03-01 11:59:00 UTC
- host 排行 web-1 (61), web-2 (40)

**日志样例**

> 2026-03-01 11:59:55 UTC ERROR checkout: payment gateway timeout after 30s

[查看日志](https://logs.example.com/?q=level%3Aerror)"""

RESOLVED_TEXT = """### ✅ [已恢复] logwarden-test

<font color=#1E8E3E>已恢复</font> **logwarden-test** · warning

This is a test notification from logwarden

- 当前值 **101**(阈值 100),窗口 1m
- 标签 service=checkout severity=warning tenant=default
- 开始于 2026-03-01 11:59:00 UTC
- 恢复于 2026-03-01 12:05:00 UTC
- host 排行 web-1 (61), web-2 (40)

**日志样例**

> 2026-03-01 11:59:55 UTC ERROR checkout: payment gateway timeout after 30s

[查看日志](https://logs.example.com/?q=level%3Aerror)"""


@pytest.fixture
def capture_default() -> Answer:
    return OK


def robot(server: CaptureServer, http: httpx.Client, **settings: object) -> DingTalkNotifier:
    config = DingTalkConfig.model_validate({"url": f"{server.url}/robot/send?access_token=t0ken", **settings})
    return DingTalkNotifier(config, http=http, clock=lambda: 1_772_366_400.123)


def test_registered_with_the_documented_rate_limit() -> None:
    assert NOTIFIERS["dingtalk"] is DingTalkNotifier
    limit = DingTalkNotifier.default_rate_limit
    assert limit is not None and (limit.count, limit.per.total_seconds()) == (20, 60)


def test_firing_markdown_message_with_mentions(server: CaptureServer, http: httpx.Client) -> None:
    notifier = robot(server, http, at_mobiles=["13800000000"], at_user_ids=["manager7"])
    assert notifier.send(firing()) == DeliveryResult(Outcome.DELIVERED, 200, '{"errcode": 0, "errmsg": "ok"}')
    (request,) = server.requests
    assert request.path == "/robot/send"
    assert request.query == {"access_token": ["t0ken"]}  # no secret: no timestamp / sign
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("logwarden/")
    assert request.json() == {
        "msgtype": "markdown",
        "markdown": {"title": "[告警:1] logwarden-test", "text": FIRING_TEXT + "\n\n@13800000000 @manager7"},
        "at": {"isAtAll": False, "atMobiles": ["13800000000"], "atUserIds": ["manager7"]},
    }


def test_resolved_message_keeps_the_evidence_and_wakes_nobody(server: CaptureServer, http: httpx.Client) -> None:
    robot(server, http, at_mobiles=["13800000000"]).send(resolved())
    assert server.requests[0].json() == {
        "msgtype": "markdown",
        "markdown": {"title": "[已恢复] logwarden-test", "text": RESOLVED_TEXT},
        "at": {"isAtAll": False},
    }
    robot(server, http, at_mobiles=["13800000000"], mention_resolved=True).send(resolved())
    body = server.requests[1].json()
    assert body["at"] == {"isAtAll": False, "atMobiles": ["13800000000"]}
    assert body["markdown"]["text"].endswith("\n\n@13800000000")


def test_critical_alerts_at_everyone_and_groups_list_every_alert(server: CaptureServer, http: httpx.Client) -> None:
    n = firing()
    n = dataclasses.replace(n, alerts=[*n.alerts, second_alert()], truncated_alerts=2)
    robot(server, http).send(n)
    body = server.requests[0].json()
    assert body["at"] == {"isAtAll": True}  # the group's highest firing severity is critical
    text = body["markdown"]["text"]
    assert body["markdown"]["title"] == "[告警:2] logwarden-test"
    assert "> 2026-03-01 11:58:00 UTC ERROR a<b>&c: x < y & ```z```" in text
    assert "[查看日志](https://logs.example.com/?q=service%3Aa)" in text
    assert text.endswith("\n\n…另有 2 条告警未列出")

    robot(server, http, at_all_severities=[]).send(n)
    assert server.requests[1].json()["at"] == {"isAtAll": False}
    robot(server, http).send(dataclasses.replace(n, alerts=[second_alert("resolved")]))
    assert server.requests[2].json()["at"] == {"isAtAll": False}  # resolved: nobody is woken


def test_signature_verifies_with_dingtalks_algorithm(server: CaptureServer, http: httpx.Client) -> None:
    secret = "SEC0123456789abcdef+/="
    robot(server, http, secret=secret).send(firing())
    query = server.requests[0].query
    assert query["access_token"] == ["t0ken"]
    assert query["timestamp"] == ["1772366400123"]  # milliseconds of the clock
    # DingTalk's documented check: base64(HMAC-SHA256(secret, "{timestamp}\n{secret}"))
    string_to_sign = f"{query['timestamp'][0]}\n{secret}".encode()
    expected = base64.b64encode(hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()).decode()
    assert query["sign"] == [expected]
    # and it travels URL-encoded (`+`, `/` and `=` escaped), as DingTalk requires
    url = robot(server, http, secret=secret).signed_url()
    assert f"sign={urllib.parse.quote_plus(expected)}" in url


def test_errcode_outcomes(server: CaptureServer, http: httpx.Client) -> None:
    server.script += [
        Answer(200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}),
        Answer(200, {"errcode": -1, "errmsg": "系统繁忙"}),
        Answer(200, {"errcode": 310000, "errmsg": "sign not match"}),
        Answer(200, {"errcode": 300001, "errmsg": "token is not exist"}),
        Answer(200, b"<html>proxy login</html>"),
    ]
    results = [robot(server, http).send(firing()) for _ in range(5)]
    assert [r.outcome for r in results] == [
        Outcome.RETRIABLE,
        Outcome.RETRIABLE,
        Outcome.REJECTED,
        Outcome.REJECTED,
        Outcome.REJECTED,
    ]
    assert (
        results[0].answer
        == "errcode 130101: send too fast, exceed 20 times per minute (sending too fast, the robot is throttled)"
    )
    assert results[0].retry_after == 60.0
    assert results[2].answer == "errcode 310000: sign not match"
    assert results[4].answer.startswith("not a DingTalk robot answer")


def test_http_outcomes(server: CaptureServer, http: httpx.Client) -> None:
    def make(base: str, timeout: str) -> DingTalkNotifier:
        config = DingTalkConfig(url=f"{base}/robot/send?access_token=t", timeout=timeout)  # type: ignore[arg-type]
        return DingTalkNotifier(config, http=http)

    check_outcomes(make, server, OK, path="/robot/send")


def test_long_messages_are_cut_on_a_character_and_keep_the_mentions(server: CaptureServer, http: httpx.Client) -> None:
    n = firing()
    many = [dataclasses.replace(n.alerts[0], annotations={"summary": "数据库连接失败" * 400}) for _ in range(6)]
    robot(server, http, at_mobiles=["13800000000"]).send(dataclasses.replace(n, alerts=many))
    text = server.requests[0].json()["markdown"]["text"]
    assert len(text.encode()) <= MAX_TEXT_BYTES
    assert text.endswith("…(内容过长,已截断)\n\n@13800000000")


def test_user_templates_and_a_broken_one_falls_back(server: CaptureServer, http: httpx.Client) -> None:
    robot(server, http, title="{{ status }}", text="告警 {{ alerts[0].labels.service }}").send(firing())
    assert server.requests[0].json()["markdown"] == {"title": "firing", "text": "告警 checkout"}
    robot(server, http, text="{{ 1 / 0 }}").send(firing())
    assert server.requests[1].json()["markdown"]["text"] == FIRING_TEXT


def test_describe_hides_token_and_secret(http: httpx.Client) -> None:
    config = DingTalkConfig(url="https://oapi.dingtalk.com/robot/send?access_token=t0ken", secret="SECsecret")  # type: ignore[arg-type]
    described = DingTalkNotifier(config, http=http).describe()
    assert described == "https://oapi.dingtalk.com/robot/send"
    assert "t0ken" not in repr(config) and "SECsecret" not in repr(config)


def test_config_errors_are_clear() -> None:
    with pytest.raises(ValidationError, match="template syntax error on line 1"):
        DingTalkConfig(url="https://oapi.dingtalk.com/robot/send", text="{% if %}")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="url: use an absolute http:// or https:// URL"):
        DingTalkConfig(url="oapi.dingtalk.com/robot/send")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="Extra inputs"):
        DingTalkConfig.model_validate({"url": "https://x", "at_mobile": ["1"]})
