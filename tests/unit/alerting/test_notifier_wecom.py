"""WeCom group robot notifier against a local capture server: the exact markdown message firing and resolved,
`<@userid>` mentions in it, the follow-up text message for mobile and `@all` mentions, errcode outcomes, the
4096-byte cap cut on a UTF-8 boundary, and config errors."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from pydantic import ValidationError

from logwarden.alerting.notifiers import NOTIFIERS
from logwarden.alerting.notifiers.base import DeliveryResult, Outcome
from logwarden.alerting.notifiers.wecom import MAX_MARKDOWN_BYTES, WeComConfig, WeComNotifier
from tests.unit.alerting.capture import Answer, CaptureServer
from tests.unit.alerting.notifier_cases import check_outcomes, firing, resolved, second_alert

OK = Answer(200, {"errcode": 0, "errmsg": "ok"})
OK_TEXT = '{"errcode": 0, "errmsg": "ok"}'

FIRING_CONTENT = """### [告警:1] logwarden-test

<font color="warning">**告警**</font> **logwarden-test** · warning
This is a test notification from logwarden
> 当前值: **101** (阈值 100),窗口 1m
> 标签: <font color="comment">service=checkout severity=warning tenant=default</font>
> 开始于: 2026-03-01 11:59:00 UTC
> host 排行: web-1 (61), web-2 (40)
日志样例:
> `2026-03-01 11:59:55 UTC ERROR checkout: payment gateway timeout after 30s`
[查看日志](https://logs.example.com/?q=level%3Aerror)"""

RESOLVED_CONTENT = """### [已恢复] logwarden-test

<font color="info">**已恢复**</font> **logwarden-test** · warning
This is a test notification from logwarden
> 当前值: **101** (阈值 100),窗口 1m
> 标签: <font color="comment">service=checkout severity=warning tenant=default</font>
> 开始于: 2026-03-01 11:59:00 UTC
> 恢复于: 2026-03-01 12:05:00 UTC
> host 排行: web-1 (61), web-2 (40)
日志样例:
> `2026-03-01 11:59:55 UTC ERROR checkout: payment gateway timeout after 30s`
[查看日志](https://logs.example.com/?q=level%3Aerror)"""


@pytest.fixture
def capture_default() -> Answer:
    return OK


def robot(server: CaptureServer, http: httpx.Client, **settings: object) -> WeComNotifier:
    config = WeComConfig.model_validate({"url": f"{server.url}/cgi-bin/webhook/send?key=k3y", **settings})
    return WeComNotifier(config, http=http)


def test_registered_with_the_documented_rate_limit() -> None:
    assert NOTIFIERS["wecom"] is WeComNotifier
    limit = WeComNotifier.default_rate_limit
    assert limit is not None and (limit.count, limit.per.total_seconds()) == (20, 60)


def test_firing_markdown_message(server: CaptureServer, http: httpx.Client) -> None:
    assert robot(server, http).send(firing()) == DeliveryResult(Outcome.DELIVERED, 200, OK_TEXT)
    (request,) = server.requests
    assert request.path == "/cgi-bin/webhook/send"
    assert request.query == {"key": ["k3y"]}
    assert request.headers["user-agent"].startswith("logwarden/")
    assert request.json() == {"msgtype": "markdown", "markdown": {"content": FIRING_CONTENT}}


def test_resolved_markdown_message_keeps_the_evidence(server: CaptureServer, http: httpx.Client) -> None:
    robot(server, http, mention_user_ids=["zhangsan"], mention_mobiles=["13800000000"]).send(resolved())
    (request,) = server.requests  # resolved: no mentions, so no follow-up message
    assert request.json() == {"msgtype": "markdown", "markdown": {"content": RESOLVED_CONTENT}}


def test_user_ids_are_mentioned_in_the_markdown(server: CaptureServer, http: httpx.Client) -> None:
    robot(server, http, mention_user_ids=["zhangsan", "lisi"]).send(firing())
    (request,) = server.requests
    assert request.json()["markdown"]["content"] == FIRING_CONTENT + "\n\n<@zhangsan> <@lisi>"


def test_mobiles_and_everyone_are_mentioned_in_a_follow_up_text(server: CaptureServer, http: httpx.Client) -> None:
    n = firing()
    critical = dataclasses.replace(n, alerts=[*n.alerts, second_alert()])
    result = robot(server, http, mention_mobiles=["13800000000"]).send(critical)
    assert result.outcome is Outcome.DELIVERED
    markdown, text = (r.json() for r in server.wait_for(2))
    assert markdown["msgtype"] == "markdown"
    assert "> `2026-03-01 11:58:00 UTC ERROR a<b>&c: x < y & '''z'''`" in markdown["markdown"]["content"]
    assert text == {
        "msgtype": "text",
        "text": {
            "content": "[告警:2] logwarden-test",
            "mentioned_list": ["@all"],
            "mentioned_mobile_list": ["13800000000"],
        },
    }
    robot(server, http, at_all_severities=[]).send(critical)
    assert len(server.requests) == 3  # nobody to mention: the markdown message alone


def test_a_failed_mention_does_not_resend_the_message(server: CaptureServer, http: httpx.Client) -> None:
    server.script += [OK, Answer(200, {"errcode": 45009, "errmsg": "api freq out of limit"})]
    result = robot(server, http, mention_mobiles=["13800000000"]).send(firing())
    assert result == DeliveryResult(
        Outcome.DELIVERED,
        200,
        f"{OK_TEXT}; mention message failed: errcode 45009: api freq out of limit (rate limit reached)",
    )
    server.script.append(Answer(500, b"down"))
    failed = robot(server, http, mention_mobiles=["13800000000"]).send(firing())
    assert failed.outcome is Outcome.RETRIABLE
    assert len(server.requests) == 3  # the markdown failed: no mention message after it


def test_errcode_outcomes(server: CaptureServer, http: httpx.Client) -> None:
    server.script += [
        Answer(200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
        Answer(200, {"errcode": -1, "errmsg": "system error"}),
        Answer(200, {"errcode": 93000, "errmsg": "invalid webhook url"}),
        Answer(200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}),
    ]
    results = [robot(server, http).send(firing()) for _ in range(4)]
    assert [r.outcome for r in results] == [Outcome.RETRIABLE, Outcome.RETRIABLE, Outcome.REJECTED, Outcome.REJECTED]
    assert results[0].retry_after == 60.0
    assert results[2].answer == "errcode 93000: invalid webhook url"


def test_http_outcomes(server: CaptureServer, http: httpx.Client) -> None:
    def make(base: str, timeout: str) -> WeComNotifier:
        config = WeComConfig(url=f"{base}/cgi-bin/webhook/send?key=k", timeout=timeout)  # type: ignore[arg-type]
        return WeComNotifier(config, http=http)

    check_outcomes(make, server, OK, path="/cgi-bin/webhook/send")


def test_markdown_is_cut_to_4096_bytes_on_a_character(server: CaptureServer, http: httpx.Client) -> None:
    n = firing()
    many = [dataclasses.replace(n.alerts[0], annotations={"summary": "数据库连接失败" * 50}) for _ in range(8)]
    robot(server, http, mention_user_ids=["zhangsan"]).send(dataclasses.replace(n, alerts=many))
    content = server.requests[0].json()["markdown"]["content"]
    assert len(content.encode()) <= MAX_MARKDOWN_BYTES
    assert len(content.encode()) > MAX_MARKDOWN_BYTES - 8  # cut at the limit, not well before it
    assert content.endswith("…(内容过长,已截断)\n\n<@zhangsan>")


def test_user_template(server: CaptureServer, http: httpx.Client) -> None:
    robot(server, http, text='<font color="warning">{{ alerts | length }}</font> {{ status }}').send(firing())
    assert server.requests[0].json()["markdown"]["content"] == '<font color="warning">1</font> firing'


def test_describe_hides_the_key(http: httpx.Client) -> None:
    config = WeComConfig(url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k3y")  # type: ignore[arg-type]
    assert WeComNotifier(config, http=http).describe() == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
    assert "k3y" not in repr(config)


def test_config_errors_are_clear() -> None:
    with pytest.raises(ValidationError, match="template syntax error on line 2"):
        WeComConfig(url="https://qyapi.weixin.qq.com/x", text="ok\n{{ x | nosuchfilter }}")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="url: use an absolute http:// or https:// URL"):
        WeComConfig(url="qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k")  # type: ignore[arg-type]
