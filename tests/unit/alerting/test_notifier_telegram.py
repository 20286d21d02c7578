"""Telegram bot notifier against a local Bot API stand-in: the exact `sendMessage` request firing and resolved,
HTML escaping, safe truncation at 4096 characters, user templates that are not valid Telegram HTML, the
`ok`/`error_code`/`retry_after` answers, and the token kept out of descriptions and the history."""

from __future__ import annotations

import dataclasses
import logging

import httpx
import pytest
from pydantic import ValidationError

from logwarden.alerting.notifiers import NOTIFIERS
from logwarden.alerting.notifiers.base import DeliveryResult, Notifier, Outcome
from logwarden.alerting.notifiers.telegram import (
    DEFAULT_MESSAGE,
    TelegramConfig,
    TelegramNotifier,
    _without_token,
    check_html,
    message_text,
    telegram_payload,
    truncate_html,
    utf16_len,
)
from tests.unit.alerting.capture import Answer, CaptureServer
from tests.unit.alerting.notifier_cases import SEARCH, check_outcomes, firing, resolved, second_alert

TOKEN = "123456:ABC-def_ghi"
OK = Answer(200, {"ok": True, "result": {"message_id": 7}})


@pytest.fixture
def capture_default() -> Answer:
    return OK


def notifier(server: CaptureServer, http: httpx.Client, **settings: object) -> TelegramNotifier:
    config = TelegramConfig.model_validate({"bot_token": TOKEN, "chat_id": -1001234, "api_url": server.url, **settings})
    return TelegramNotifier(config, http=http)


BODY = (
    "<b>FIRING</b> <b>logwarden-test</b> (warning): This is a test notification from logwarden\n"
    "value <b>101</b> (threshold 100) over 1m\n"
    "labels: alertname=<code>logwarden-test</code> service=<code>checkout</code> severity=<code>warning</code> "
    "tenant=<code>default</code>\n"
    "since 2026-03-01 11:59:00 UTC{resolved}\n"
    "top host: web-1 (61), web-2 (40)\n"
    "<pre>2026-03-01 11:59:55 UTC ERROR checkout: payment gateway timeout after 30s</pre>\n"
    f'<a href="{SEARCH}">Show the lines</a>'
)


def test_firing_message(server: CaptureServer, http: httpx.Client) -> None:
    result = notifier(server, http).send(firing())
    assert result.outcome is Outcome.DELIVERED
    (request,) = server.requests
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "chat_id": -1001234,
        "text": "<b>[FIRING:1] logwarden-test</b>\n\n" + BODY.format(resolved=""),
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }


def test_resolved_message(server: CaptureServer, http: httpx.Client) -> None:
    notifier(server, http, chat_id="@ops_alerts", message_thread_id=42).send(resolved())
    body = BODY.replace("<b>FIRING</b>", "<b>RESOLVED</b>").format(resolved=", resolved 2026-03-01 12:05:00 UTC")
    assert server.requests[0].json() == {
        "chat_id": "@ops_alerts",
        "message_thread_id": 42,
        "text": "<b>[RESOLVED] logwarden-test</b>\n\n" + body,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }


def test_alert_text_is_escaped() -> None:
    n = dataclasses.replace(firing(), alerts=[second_alert()], external_url="")
    text = message_text(TelegramConfig(bot_token=TOKEN, chat_id=1), n)
    assert check_html(text) is None
    assert "(critical): 5xx &lt;burst&gt; &amp; more" in text
    assert "<pre>2026-03-01 11:58:00 UTC ERROR a&lt;b&gt;&amp;c: x &lt; y &amp; ```z```</pre>" in text
    assert text.endswith("search: /?q=service%3Aa")  # a relative link is no <a href>


def test_odd_timestamps_are_escaped_too() -> None:
    alert = second_alert(evidence=[{"ts": "<now & then>", "level": "E", "service": "s", "message": "m"}])
    text = message_text(TelegramConfig(bot_token=TOKEN, chat_id=1), dataclasses.replace(firing(), alerts=[alert]))
    assert check_html(text) is None
    assert "<pre>&lt;now &amp; then&gt; E s: m</pre>" in text


def test_quiet_unless_critical() -> None:
    config = TelegramConfig(bot_token=TOKEN, chat_id=1, quiet_unless_critical=True)
    assert telegram_payload(config, firing())["disable_notification"] is True  # warning
    critical = dataclasses.replace(firing(), alerts=[second_alert()])
    assert telegram_payload(config, critical)["disable_notification"] is False
    gone = dataclasses.replace(critical, alerts=[second_alert("resolved")])
    assert telegram_payload(config, gone)["disable_notification"] is True
    assert "disable_notification" not in telegram_payload(TelegramConfig(bot_token=TOKEN, chat_id=1), critical)


def test_long_message_is_cut_safely() -> None:
    base = firing().alerts[0]
    line = {**base.evidence[0], "message": "é & <x> 😀 " * 30}
    alerts = [dataclasses.replace(base, fingerprint=str(i), evidence=[line] * 5) for i in range(20)]
    text = message_text(TelegramConfig(bot_token=TOKEN, chat_id=1), dataclasses.replace(firing(), alerts=alerts))
    assert check_html(text) is None
    visible = __import__("html").unescape(__import__("re").sub(r"<[^>]*>", "", text))
    assert utf16_len(visible) <= 4096
    assert utf16_len(visible) >= 4090  # cut near the limit, not far before it
    assert "…" in visible


def test_only_the_first_alerts_are_shown_firing_first() -> None:
    gone = [dataclasses.replace(resolved().alerts[0], fingerprint=str(i), evidence=[]) for i in range(6)]
    n = dataclasses.replace(firing(), alerts=[*gone, second_alert(evidence=[])], truncated_alerts=1)
    text = message_text(TelegramConfig(bot_token=TOKEN, chat_id=1), n)
    assert text.startswith("<b>[FIRING:1] logwarden-test</b>\n\n<b>FIRING</b> <b>logwarden-test</b> (critical)")
    assert text.count("<b>RESOLVED</b>") == 4
    assert text.endswith("… and 3 more alerts")  # 2 not shown + 1 the router cut


def test_truncate_html_closes_tags_and_never_splits_entities() -> None:
    assert truncate_html("<b>abc</b>", 10) == "<b>abc</b>"
    assert truncate_html("<b>a<i>bcdef</i></b>g", 4) == "<b>a<i>bc…</i></b>"
    assert truncate_html("ab&amp;cd", 4) == "ab&amp;…"
    assert truncate_html("ab😀cd", 4) == "ab…"  # the emoji is two UTF-16 units: it does not fit with the …
    assert (
        truncate_html('<a href="https://x/?a=1&amp;b=2">link text</a>', 5)
        == '<a href="https://x/?a=1&amp;b=2">link…</a>'
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("<b>x</b>", None),
        ('<a href="u">x</a> &lt; &#38;', None),
        ("<div>x</div>", "unsupported tag"),
        ("<b>x", "unclosed <b>"),
        ("<b>x</i>", "unbalanced"),
        ("a < b", "bare <"),
        ("a & b", "bare &"),
    ],
)
def test_check_html(text: str, problem: str | None) -> None:
    found = check_html(text)
    assert found is None if problem is None else problem in (found or "")


def test_user_template_with_bad_html_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    config = TelegramConfig(bot_token=TOKEN, chat_id=1, message="{{ alerts[0].summary }} <3 & <blink>")
    with caplog.at_level(logging.WARNING):
        text = message_text(config, firing())
    assert text == message_text(TelegramConfig(bot_token=TOKEN, chat_id=1, message=DEFAULT_MESSAGE), firing())
    assert "using the default template" in caplog.text
    good = TelegramConfig(bot_token=TOKEN, chat_id=1, message="<i>{{ alerts[0].name | html }}</i>")
    assert message_text(good, firing()) == "<i>logwarden-test</i>"


def test_bot_api_answers(server: CaptureServer, http: httpx.Client) -> None:
    server.script += [
        Answer(200, {"ok": False, "error_code": 400, "description": "Bad Request: odd"}),
        Answer(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
                     "parameters": {"retry_after": 7}}),
        Answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}),
        Answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: group chat was upgraded",
                     "parameters": {"migrate_to_chat_id": -100999}}),
        Answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"}),
        Answer(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}),
        Answer(200, b"<html>captive portal</html>"),
    ]  # fmt: skip
    n = notifier(server, http)
    results = [n.send(firing()) for _ in range(7)]
    assert results[0] == DeliveryResult(Outcome.REJECTED, 200, "400: Bad Request: odd")
    assert results[1] == DeliveryResult(Outcome.RETRIABLE, 429, "429: Too Many Requests: retry after 7", 7.0)
    assert results[2] == DeliveryResult(Outcome.REJECTED, 400, "400: Bad Request: chat not found")
    assert results[3].answer == "400: Bad Request: group chat was upgraded (set chat_id to -100999)"
    assert results[4] == DeliveryResult(Outcome.REJECTED, 401, "401: Unauthorized")
    assert results[5].outcome is Outcome.RETRIABLE
    assert results[6].outcome is Outcome.REJECTED and results[6].answer.startswith("not a Bot API answer")


def test_outcomes(server: CaptureServer, http: httpx.Client) -> None:
    def make(base: str, timeout: str) -> Notifier:
        return notifier(server, http, api_url=base, timeout=timeout)

    check_outcomes(make, server, OK, path=f"/bot{TOKEN}/sendMessage")


def test_token_stays_out_of_descriptions_and_history(http: httpx.Client) -> None:
    n = TelegramNotifier(TelegramConfig(bot_token=TOKEN, chat_id=-100), http=http)
    assert n.describe() == "https://api.telegram.org/bot…/sendMessage chat -100"
    assert TOKEN not in repr(n.config)
    leaked = DeliveryResult.retriable(f"ConnectError: https://api.telegram.org/bot{TOKEN}/sendMessage")
    assert TOKEN not in _without_token(leaked, TOKEN).answer
    assert n.limiter is not None and n.limiter.capacity == 20 and n.limiter.rate == pytest.approx(20 / 60)
    assert NOTIFIERS["telegram"] is TelegramNotifier


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"bot_token": "nope", "chat_id": 1}, "not a bot token"),
        ({"bot_token": TOKEN}, "chat_id"),
        ({"bot_token": TOKEN, "chat_id": 1, "api_url": "api.telegram.org"}, "api_url"),
        ({"bot_token": TOKEN, "chat_id": 1, "message": "{{ x"}, "template syntax error on line 1"),
    ],
)
def test_config_mistakes_are_named(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TelegramConfig.model_validate(settings)
