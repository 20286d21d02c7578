"""The default notification templates: evidence in every message, and a group too big for one message still
renders (fewer alerts, the rest counted) instead of losing the notification; the text helpers channels share."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ValidationError

from logwarden.alerting.model import sample_notification
from logwarden.alerting.notifiers import render
from logwarden.alerting.notifiers.render import TemplateSource, evidence_line, fit_utf8, top_text, truncate_utf8

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_the_defaults_carry_value_labels_sample_lines_top_values_and_the_link() -> None:
    n = sample_notification("ops", now=T0, external_url="https://logs.example.com")
    for source in (render.DEFAULT_TEXT, render.DEFAULT_MARKDOWN):
        out = render.render(source, n)
        assert "[FIRING:1] logwarden-test" in out.replace("\\", "")
        assert "payment gateway timeout after 30s" in out
        assert "101" in out and "threshold 100" in out
        assert "web-1 (61)" in out
        assert "https://logs.example.com/?q=level%3Aerror" in out
        assert "2026-03-01 11:59:55 UTC" in out


def test_a_group_too_big_for_one_message_is_cut_to_fewer_alerts_not_lost() -> None:
    n = sample_notification("ops", now=T0)
    big = dataclasses.replace(n.alerts[0], annotations={"summary": "y" * 3000})
    alerts = [dataclasses.replace(big, fingerprint=f"{i:032}") for i in range(60)]
    out = render.render(render.DEFAULT_MARKDOWN, dataclasses.replace(n, alerts=alerts))
    assert len(out) <= render.MAX_NOTIFICATION_CHARS
    assert out.count("**FIRING** **logwarden-test**") == 5 and "… and 55 more alerts" in out


def test_a_failing_user_template_falls_back_to_the_default() -> None:
    n = sample_notification("ops", now=T0)
    assert render.render("{{ 1 / 0 }}", n, default=render.DEFAULT_TITLE) == "[FIRING:1] logwarden-test"
    assert render.render("{{ 1 / 0 }}", n).startswith("[template failed: ZeroDivisionError")


def test_top_text_and_evidence_line_tolerate_odd_shapes() -> None:
    assert top_text([["a", 3], ["b", 2]]) == "a (3), b (2)"
    assert top_text([["a", 3], "b", ["c"]]) == "a (3), b, ['c']"
    assert top_text("x") == "x"
    assert evidence_line({"message": "multi\n  line"}) == "multi line"
    assert evidence_line({"level": "WARN", "message": "m"}) == "WARN: m"
    line = {"ts": "2026-03-01T11:59:55+00:00", "level": "ERROR", "service": "api", "message": "x" * 50}
    assert evidence_line(line, size=10) == "2026-03-01 11:59:55 UTC ERROR api: xxxxxxxxx…"


def test_truncate_utf8_never_splits_a_character() -> None:
    text = "告警" * 10  # 3 bytes each
    for limit in range(0, 70):
        cut = truncate_utf8(text, limit, marker="…")
        assert len(cut.encode()) <= max(limit, len("…".encode()))
        assert cut == text or cut.endswith("…")
    assert truncate_utf8(text, 60) == text


def test_fit_utf8_keeps_the_tail_whole_within_the_limit() -> None:
    text = "告警" * 100
    assert fit_utf8(text, 1000) == truncate_utf8(text, 1000)
    assert fit_utf8("short", 100, "@138") == "short\n\n@138"
    for limit in (100, 101, 102):
        out = fit_utf8(text, limit, "@13800000000 @u1")
        assert out.endswith("…(内容过长,已截断)\n\n@13800000000 @u1")
        assert limit - 2 <= len(out.encode()) <= limit  # cut at the limit, on a character boundary


def test_a_template_setting_is_checked_when_the_config_is_read() -> None:
    class Settings(BaseModel):
        text: TemplateSource | None = None

    assert Settings(text="{{ status }}").text == "{{ status }}"
    assert Settings().text is None
    with pytest.raises(ValidationError, match=r"text\n.*template syntax error on line 2"):
        Settings(text="ok\n{% for %}")
