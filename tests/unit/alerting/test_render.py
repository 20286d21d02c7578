"""The default notification templates: evidence in every message, and a group too big for one message still
renders (fewer alerts, the rest counted) instead of losing the notification."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from logwarden.alerting.model import sample_notification
from logwarden.alerting.notifiers import render

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
