"""The demo's receiver: the webhook JSON a real POST brings is printed, one line per alert, and kept."""

from __future__ import annotations

import httpx

from logwarden.demo.receiver import NotificationReceiver, format_alert

ALERT = {
    "status": "firing",
    "labels": {"alertname": "error-burst", "severity": "critical", "service": "checkout", "tenant": "default"},
    "annotations": {"summary": "checkout logged 35 errors in 30s"},
    "generatorURL": "http://127.0.0.1:8080/?q=level:error",
}


def test_a_webhook_post_is_printed_and_kept() -> None:
    printed: list[str] = []
    receiver = NotificationReceiver(printed.append).start()
    try:
        resp = httpx.post(receiver.url, json={"version": "4", "status": "firing", "alerts": [ALERT]})
        assert resp.status_code == 200
        assert httpx.post(receiver.url, content=b"{nope").status_code == 400
    finally:
        receiver.close()
    assert receiver.fired("error-burst") and not receiver.fired("silent-service")
    assert len(printed) == 1
    assert "FIRING" in printed[0] and "critical" in printed[0] and "service=checkout" in printed[0]
    assert "checkout logged 35 errors" in printed[0] and "tenant" not in printed[0]


def test_the_format_names_status_rule_labels_summary_and_link() -> None:
    text = format_alert({**ALERT, "status": "resolved"})
    first, link = text.split("\n")
    assert "RESOLVED" in first and "error-burst" in first
    assert link.strip() == ALERT["generatorURL"]
