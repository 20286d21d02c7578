"""Forwarding to a real Prometheus Alertmanager (Debian's binary, tests/integration/alertmanager_server.py): a
forwarded firing alert appears in its API with our labels, annotations and times; sending it resolved resolves
it there — gone from the active alerts while a sibling still fires, and Alertmanager itself notifies
"resolved" with our end time.

Times come from Alertmanager's clock (its Date header), not Python's: the suite may run with Python's clock
moved a month ahead."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from logwarden.alerting.model import AlertMessage, Notification
from logwarden.alerting.notifiers.alertmanager import AlertmanagerConfig, AlertmanagerNotifier
from logwarden.alerting.notifiers.base import Outcome, go_time
from tests.integration.alertmanager_server import AlertmanagerServer
from tests.unit.alerting.capture import CaptureServer

pytestmark = pytest.mark.slow

RULE = "logwarden-forward-test"


def alert(service: str, starts: datetime) -> AlertMessage:
    return AlertMessage(
        fingerprint=f"fp-{service}",
        status="firing",
        labels={"alertname": RULE, "service": service, "severity": "critical", "service.tier": "web"},
        annotations={"summary": f"errors in {service}"},
        starts_at=starts,
        value=42.0,
        threshold=10.0,
        window="5m",
        evidence=[
            {"ts": starts.isoformat(), "service": service, "level": "ERROR", "message": f"{service} failed <1>"},
            {"ts": starts.isoformat(), "service": service, "level": "ERROR", "message": "second line"},
            {"ts": starts.isoformat(), "service": service, "level": "ERROR", "message": "third line (not sent)"},
        ],
        search={"url": f"/?q=service%3A{service}"},
    )


def notification(*alerts: AlertMessage) -> Notification:
    return Notification(
        receiver="am", group_key=f'{{}}:{{alertname="{RULE}"}}', group_labels={"alertname": RULE},
        alerts=list(alerts), external_url="http://logs.test",
    )  # fmt: skip


def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def test_firing_alert_appears_then_resolves(tmp_path: Path, http: httpx.Client) -> None:
    with AlertmanagerServer(tmp_path / "am") as am:
        now = am.server_now()
        notifier = AlertmanagerNotifier(AlertmanagerConfig(url=am.url), http=http, clock=lambda: now)
        checkout, payments = (
            alert("checkout", now - timedelta(minutes=3)),
            alert("payments", now - timedelta(minutes=2)),
        )

        assert notifier.send(notification(checkout, payments)).outcome is Outcome.DELIVERED
        listed = wait_for(lambda: len(am.alerts(f'alertname="{RULE}"')) == 2 and am.alerts(f'alertname="{RULE}"'))
        assert listed, am.log()
        by_service = {a["labels"]["service"]: a for a in listed}
        got = by_service["checkout"]
        assert got["labels"] == {
            "alertname": RULE, "service": "checkout", "severity": "critical", "service_tier": "web"
        }  # fmt: skip
        assert got["annotations"] == {
            "summary": "errors in checkout",
            "evidence": f"{_time(checkout.starts_at)} ERROR checkout: checkout failed <1>\n"
            f"{_time(checkout.starts_at)} ERROR checkout: second line",
            "value": "42 (threshold 10) over 5m",
        }
        assert got["status"]["state"] == "active"
        assert got["generatorURL"] == "http://logs.test/?q=service%3Acheckout"
        assert _parse(got["startsAt"]) == checkout.starts_at
        assert _parse(got["endsAt"]) == now + timedelta(hours=24)  # firing_ends_after, not resolve_timeout
        assert [r["name"] for r in got["receivers"]] == ["null"]

        gone = dataclasses.replace(checkout, status="resolved", ends_at=now - timedelta(seconds=1))
        assert notifier.send(notification(gone, payments)).outcome is Outcome.DELIVERED
        # Alertmanager lists only alerts whose endsAt is ahead of its clock: the resolved one drops out
        remaining = wait_for(lambda: [a["labels"]["service"] for a in am.alerts(f'alertname="{RULE}"')] == ["payments"])
        assert remaining, am.alerts(f'alertname="{RULE}"')
        assert am.alerts(f'alertname="{RULE}"')[0]["status"]["state"] == "active"


def test_alertmanager_itself_notifies_firing_then_resolved(tmp_path: Path, http: httpx.Client) -> None:
    with CaptureServer() as hook, AlertmanagerServer(tmp_path / "am", webhook_url=f"{hook.url}/am") as am:
        now = am.server_now()
        notifier = AlertmanagerNotifier(AlertmanagerConfig(url=am.url), http=http, clock=lambda: now)
        checkout = alert("checkout", now - timedelta(minutes=3))

        assert notifier.send(notification(checkout)).outcome is Outcome.DELIVERED
        first = hook.wait_for(1)[0].json()
        assert first["status"] == "firing"
        assert first["alerts"][0]["labels"]["service"] == "checkout"
        assert first["alerts"][0]["annotations"]["value"] == "42 (threshold 10) over 5m"

        ended = now - timedelta(seconds=1)
        assert notifier.send(notification(dataclasses.replace(checkout, status="resolved", ends_at=ended))).outcome
        found = wait_for(lambda: [r.json() for r in hook.requests if r.json()["status"] == "resolved"])
        assert found, am.log()
        (resolved_alert,) = found[0]["alerts"]
        assert resolved_alert["status"] == "resolved"
        assert resolved_alert["endsAt"] == go_time(ended)
        assert resolved_alert["generatorURL"] == "http://logs.test/?q=service%3Acheckout"


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
