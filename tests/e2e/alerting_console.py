"""Shared pieces of the Alerts, Rules and Silences browser tests: a real `logwarden serve` whose router sends to a
local webhook, API shortcuts, and a console page that fails the test on a browser error."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.e2e.conftest import VIEWPORT, ConsolePage
from tests.e2e.data import generated_lines, ingest, iso, now
from tests.unit.alerting.capture import CaptureServer

ALERTING = """\
alerting:
  route:
    receiver: hook
    group_by: [alertname, service]
    group_wait: 0s
    group_interval: 1s
    repeat_interval: 1h
  receivers:
    - name: hook
      webhook: {{url: '{hook}/hook'}}
"""


@dataclass
class AlertingServer:
    """The server, its base URL and the webhook that receives its notifications."""

    proc: ServerProcess
    hook: CaptureServer

    @property
    def url(self) -> str:
        return self.proc.url

    def get(self, path: str, **params: Any) -> Any:
        resp = httpx.get(self.url + path, params=params, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def post(self, path: str, body: Any) -> Any:
        resp = httpx.post(self.url + path, json=body, timeout=30)
        assert resp.status_code in (200, 201), resp.text
        return resp.json()


@contextmanager
def alerting_server(tmp: Path) -> Iterator[AlertingServer]:
    """A server with ~300 generated lines over the last 50 minutes and a webhook receiver for every alert."""
    with CaptureServer() as hook:
        config = tmp / "logwarden.yaml"
        config.write_text(ALERTING.format(hook=hook.url))
        proc = ServerProcess(tmp / "data", "--config", str(config))
        try:
            proc.wait_ready()
            ingest(proc.url, generated_lines(now()))
            yield AlertingServer(proc, hook)
        finally:
            proc.close()


def error_burst(service: str, count: int, at: datetime, marker: str) -> list[dict[str, Any]]:
    """`count` ERROR lines of `service` within a second before `at`, their messages tagged with `marker`.

    The lines all fall in one calendar minute: when the burst would straddle a minute boundary (as it does for
    `at` in the first second of a minute), it moves to end just before that boundary, so per-minute histograms
    (sparklines, previews) see the whole burst in one bucket whatever the time of day."""
    first = at - timedelta(milliseconds=100 * (count - 1))
    if first.replace(second=0, microsecond=0) != at.replace(second=0, microsecond=0):
        at = at.replace(second=0, microsecond=0) - timedelta(milliseconds=1)
    return [
        {
            "ts": iso(at - timedelta(milliseconds=100 * i)),
            "service": service,
            "host": "web-1",
            "level": "error",
            "message": f"{marker} payment declined {i}",
        }
        for i in range(count)
    ]


def wait_until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll `check` until it returns something true; fail saying `what` was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def firing(server: AlertingServer, rule: str) -> list[dict[str, Any]]:
    return [a for a in server.get("/api/v1/alerts", rule=rule)["alerts"] if a["status"] == "firing"]


@contextmanager
def console_page(browser: Any, server: AlertingServer, scheme: str = "light") -> Iterator[ConsolePage]:
    """A 1280x800 page in `scheme`; on leaving, no console error may have been logged (failed 400s that a test
    provokes on purpose aside)."""
    context = browser.new_context(viewport=VIEWPORT, color_scheme=scheme)
    page = ConsolePage(context.new_page(), server.url)
    try:
        yield page
        assert [e for e in page.errors if "status of 400" not in e] == []
    finally:
        context.close()
