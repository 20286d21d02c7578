"""The demo's notification receiver: an HTTP server on loopback taking the webhook JSON (Alertmanager's version 4)
and printing one line per alert, as an on-call phone would show it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: NotificationReceiver

    def do_POST(self) -> None:  # the name http.server calls
        length = int(self.headers.get("Content-Length") or 0)
        try:
            payload = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        self.server.received(payload)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the notifications themselves are what the demo prints."""


class NotificationReceiver(ThreadingHTTPServer):
    """Webhook receiver on 127.0.0.1 (an ephemeral port unless given); `alerts` keeps every alert received."""

    daemon_threads = True

    def __init__(self, echo: Callable[[str], None], port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self._echo = echo
        self._lock = threading.Lock()
        self.alerts: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self.serve_forever, name="demo-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def start(self) -> NotificationReceiver:
        self._thread.start()
        return self

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)

    def received(self, payload: dict[str, Any]) -> None:
        """Print and keep each alert of one webhook message."""
        for alert in payload.get("alerts", []):
            with self._lock:
                self.alerts.append(alert)
            self._echo(format_alert(alert))

    def fired(self, rule: str) -> bool:
        """Whether a firing notification of `rule` has come."""
        with self._lock:
            return any(
                a.get("status") == "firing" and a.get("labels", {}).get("alertname") == rule for a in self.alerts
            )


def format_alert(alert: dict[str, Any]) -> str:
    """`[10:42:07] FIRING   critical  error-burst  service=checkout  checkout logged 35 errors in 30s` + the link."""
    labels = dict(alert.get("labels", {}))
    name = labels.pop("alertname", "?")
    severity = labels.pop("severity", "")
    labels.pop("tenant", None)
    shown = " ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    summary = alert.get("annotations", {}).get("summary", "")
    status = str(alert.get("status", "?")).upper()
    line = f"[{datetime.now().strftime('%H:%M:%S')}] {status:<8} {severity:<8} {name}  {shown}  {summary}".rstrip()
    link = alert.get("generatorURL")
    return f"{line}\n    {link}" if link else line
