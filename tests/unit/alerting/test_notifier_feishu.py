"""Feishu / Lark bot notifier against a local capture server: the exact interactive card firing and resolved
(header colour, markdown, buttons to the searches), the signature checked with Feishu's documented algorithm,
`@` mentions, code outcomes (`code` and the older `StatusCode`), and a token-free describe()."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from logwarden.alerting.notifiers import NOTIFIERS
from logwarden.alerting.notifiers.base import DeliveryResult, Outcome
from logwarden.alerting.notifiers.feishu import FeishuConfig, FeishuNotifier
from tests.unit.alerting.capture import Answer, CaptureServer
from tests.unit.alerting.notifier_cases import SEARCH, check_outcomes, firing, resolved, second_alert

OK = Answer(200, {"code": 0, "data": {}, "msg": "success"})

FIRING_MARKDOWN = """<font color='red'>**告警**</font> **logwarden-test** · warning
This is a test notification from logwarden
当前值 **101**(阈值 100),窗口 1m
<font color='grey'>标签 service=checkout severity=warning tenant=default</font>
<font color='grey'>开始于 2026-03-01 11:59:00 UTC</font>
host 排行 web-1 (61), web-2 (40)
**日志样例**
```
2026-03-01 11:59:55 UTC ERROR checkout: payment gateway timeout after 30s
```"""

RESOLVED_MARKDOWN = """<font color='green'>**已恢复**</font> **logwarden-test** · warning
This is a test notification from logwarden
当前值 **101**(阈值 100),窗口 1m
<font color='grey'>标签 service=checkout severity=warning tenant=default</font>
<font color='grey'>开始于 2026-03-01 11:59:00 UTC,恢复于 2026-03-01 12:05:00 UTC</font>
host 排行 web-1 (61), web-2 (40)
**日志样例**
```
2026-03-01 11:59:55 UTC ERROR checkout: payment gateway timeout after 30s
```"""


def button(label: str, url: str, kind: str) -> dict[str, Any]:
    return {"tag": "button", "text": {"tag": "plain_text", "content": label}, "type": kind, "url": url}


def card(colour: str, title: str, markdown: str, buttons: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {"template": colour, "title": {"tag": "plain_text", "content": title}},
            "elements": [
                {"tag": "markdown", "content": markdown},
                {"tag": "hr"},
                {"tag": "action", "actions": buttons},
            ],
        },
    }


@pytest.fixture
def capture_default() -> Answer:
    return OK


def bot(server: CaptureServer, http: httpx.Client, **settings: object) -> FeishuNotifier:
    config = FeishuConfig.model_validate({"url": f"{server.url}/open-apis/bot/v2/hook/t0ken", **settings})
    return FeishuNotifier(config, http=http, clock=lambda: 1_772_366_400.9)


def test_registered_with_a_rate_limit_under_feishus() -> None:
    assert NOTIFIERS["feishu"] is FeishuNotifier
    limit = FeishuNotifier.default_rate_limit
    assert limit is not None
    assert limit.count / limit.per.total_seconds() * 60 <= 100  # 100 a minute
    assert limit.count <= 5  # and 5 a second


def test_firing_card(server: CaptureServer, http: httpx.Client) -> None:
    result = bot(server, http).send(firing())
    assert result == DeliveryResult(Outcome.DELIVERED, 200, '{"code": 0, "data": {}, "msg": "success"}')
    (request,) = server.requests
    assert request.path == "/open-apis/bot/v2/hook/t0ken"
    assert request.headers["user-agent"].startswith("logwarden/")
    assert request.json() == card(
        "orange", "[告警:1] logwarden-test", FIRING_MARKDOWN, [button("查看日志", SEARCH, "primary")]
    )


def test_resolved_card_is_green_and_keeps_the_evidence(server: CaptureServer, http: httpx.Client) -> None:
    bot(server, http, at_user_ids=["ou_abc"]).send(resolved())
    assert server.requests[0].json() == card(
        "green", "[已恢复] logwarden-test", RESOLVED_MARKDOWN, [button("查看日志", SEARCH, "primary")]
    )


def test_a_group_gets_a_red_card_mentions_and_a_button_per_alert(server: CaptureServer, http: httpx.Client) -> None:
    n = firing()
    n = dataclasses.replace(n, alerts=[*n.alerts, second_alert()], truncated_alerts=1)
    bot(server, http, at_user_ids=["ou_abc"]).send(n)
    body = server.requests[0].json()["card"]
    assert body["header"] == {"template": "red", "title": {"tag": "plain_text", "content": "[告警:2] logwarden-test"}}
    markdown = body["elements"][0]["content"]
    # markup in labels and summaries is shown, not interpreted; sample lines stay verbatim in their code block
    assert "\n5xx &lt;burst&gt; &amp; more\n" in markdown
    assert "service=a&lt;b&gt;&amp;c severity=critical" in markdown
    assert "```\n2026-03-01 11:58:00 UTC ERROR a<b>&c: x < y & '''z'''\n```" in markdown
    assert markdown.endswith("\n\n…另有 1 条告警未列出\n\n<at id=all></at> <at id=ou_abc></at>")
    assert body["elements"][2]["actions"] == [
        button("查看日志 service=checkout severity=warning", SEARCH, "danger"),
        button("查看日志 service=a<b>&c severity=critical", "https://logs.example.com/?q=service%3Aa", "danger"),
    ]


def test_signature_verifies_with_feishus_algorithm(server: CaptureServer, http: httpx.Client) -> None:
    secret = "qZ0UFJ5lq0NbyvTuEMBtbf"
    bot(server, http, secret=secret).send(firing())
    body = server.requests[0].json()
    assert body["timestamp"] == "1772366400"  # seconds, as a string
    # Feishu's documented check: base64(HMAC-SHA256(key="{timestamp}\n{secret}", msg=""))
    key = f"{body['timestamp']}\n{secret}".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert {k: v for k, v in body.items() if k not in ("timestamp", "sign")} == card(
        "orange", "[告警:1] logwarden-test", FIRING_MARKDOWN, [button("查看日志", SEARCH, "primary")]
    )


def test_code_outcomes(server: CaptureServer, http: httpx.Client) -> None:
    server.script += [
        Answer(200, {"StatusCode": 0, "StatusMessage": "success", "Extra": None}),
        Answer(200, {"code": 11232, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]"}),
        Answer(200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}),
        Answer(200, {"code": 19024, "msg": "Key Words Not Found"}),
        Answer(200, b"not json"),
    ]
    results = [bot(server, http).send(firing()) for _ in range(5)]
    assert [r.outcome for r in results] == [
        Outcome.DELIVERED,
        Outcome.RETRIABLE,
        Outcome.REJECTED,
        Outcome.REJECTED,
        Outcome.REJECTED,
    ]
    assert results[2].answer == "code 19021: sign match fail or timestamp is not within one hour from current time"
    assert results[4].answer == "not a Feishu bot answer: not json"


def test_http_outcomes(server: CaptureServer, http: httpx.Client) -> None:
    def make(base: str, timeout: str) -> FeishuNotifier:
        config = FeishuConfig(url=f"{base}/open-apis/bot/v2/hook/t", timeout=timeout)  # type: ignore[arg-type]
        return FeishuNotifier(config, http=http)

    check_outcomes(make, server, OK, path="/open-apis/bot/v2/hook/t")


def test_user_templates(server: CaptureServer, http: httpx.Client) -> None:
    bot(server, http, title="{{ status | upper }}\n{{ severity }}", text="**{{ alerts[0].name }}**").send(firing())
    body = server.requests[0].json()["card"]
    assert body["header"]["title"]["content"] == "FIRING warning"  # a header is one line
    assert body["elements"][0] == {"tag": "markdown", "content": "**logwarden-test**"}


def test_describe_masks_the_token(http: httpx.Client) -> None:
    config = FeishuConfig(url="https://open.larksuite.com/open-apis/bot/v2/hook/0a1b2c-t0ken", secret="s3cret")  # type: ignore[arg-type]
    described = FeishuNotifier(config, http=http).describe()
    assert described == "https://open.larksuite.com/open-apis/bot/v2/hook/***"
    assert "t0ken" not in repr(config) and "s3cret" not in repr(config)


def test_config_errors_are_clear() -> None:
    with pytest.raises(ValidationError, match="template syntax error on line 1"):
        FeishuConfig(url="https://open.feishu.cn/x", title="{{ unclosed")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="url: use an absolute http:// or https:// URL"):
        FeishuConfig(url="open.feishu.cn/open-apis/bot/v2/hook/x")  # type: ignore[arg-type]
