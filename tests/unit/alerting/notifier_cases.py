"""What the notifier tests share: fixed notifications (a firing alert at NOW, the same resolved, a second alert
with text that needs escaping in every markup) and `check_outcomes`, the outcome of every kind of HTTP answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from logwarden.alerting.model import AlertMessage, Notification, sample_notification
from logwarden.alerting.notifiers.base import Notifier, Outcome
from tests.conftest import free_port
from tests.unit.alerting.capture import Answer, CaptureServer

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # a fixed instant: payloads do not depend on today
EXTERNAL = "https://logs.example.com"
SEARCH = "https://logs.example.com/?q=level%3Aerror"


def firing() -> Notification:
    """`sample_notification` at NOW: one warning alert (value 101, threshold 100, one sample line)."""
    return sample_notification("ops", now=NOW, external_url=EXTERNAL)


def resolved() -> Notification:
    """The same alert resolved at NOW + 5m."""
    n = firing()
    alert = dataclasses.replace(n.alerts[0], status="resolved", ends_at=datetime(2026, 3, 1, 12, 5, tzinfo=UTC))
    return dataclasses.replace(n, alerts=[alert])


def second_alert(status: str = "firing", **changes: Any) -> AlertMessage:
    """Another alert of the same rule on another service, with text that needs escaping in every markup."""
    base = firing().alerts[0]
    fields: dict[str, Any] = {
        "fingerprint": "fedcba9876543210fedcba9876543210",
        "status": status,
        "labels": {"alertname": "logwarden-test", "service": "a<b>&c", "severity": "critical"},
        "annotations": {"summary": "5xx <burst> & more"},
        "value": 7.5,
        "threshold": None,
        "window": None,
        "evidence": [
            {"ts": "2026-03-01T11:58:00+00:00", "service": "a<b>&c", "level": "ERROR", "message": "x < y & ```z```"}
        ],
        "top_values": {},
        "search": {"url": "/?q=service%3Aa"},
        **changes,
    }
    return dataclasses.replace(base, **fields)


def check_outcomes(
    make: Callable[[str, str], Notifier], server: CaptureServer, ok: Answer, *, path: str | None = None
) -> None:
    """The outcome of each kind of answer, for a notifier made by `make(base_url, timeout)`; `ok` is the vendor's
    success answer. 2xx delivered, 400 rejected, 500 and 503 retriable, 429 retriable with Retry-After, a slow answer
    past a 200 ms timeout retriable, a refused connection retriable."""
    notifier = make(server.url, "10s")
    server.script += [
        ok,
        Answer(400, b"bad request"),
        Answer(500, b"oops"),
        Answer(503, b"unavailable", {"Retry-After": "7"}),
        Answer(429, b"slow down", {"Retry-After": "3"}),
    ]
    results = [notifier.send(firing()) for _ in range(5)]
    assert [r.outcome for r in results] == [
        Outcome.DELIVERED,
        Outcome.REJECTED,
        Outcome.RETRIABLE,
        Outcome.RETRIABLE,
        Outcome.RETRIABLE,
    ]
    assert [r.status for r in results] == [ok.status, 400, 500, 503, 429]
    assert results[1].answer == "bad request"
    assert results[3].retry_after == 7.0
    assert results[4].retry_after == 3.0
    if path is not None:
        assert {r.path for r in server.requests} == {path}

    server.script.append(Answer(delay=1.0))
    timed_out = make(server.url, "200ms").send(firing())
    assert timed_out.outcome is Outcome.RETRIABLE
    assert timed_out.answer.startswith("timed out")

    refused = make(f"http://127.0.0.1:{free_port()}", "10s").send(firing())
    assert refused.outcome is Outcome.RETRIABLE
    assert "ConnectError" in refused.answer
