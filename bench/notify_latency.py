#!/usr/bin/env python3
"""End-to-end notification latency: from the HTTP acknowledgement of a log line to a webhook receiving the
notification of the alert it completes.

    python bench/notify_latency.py [--alerts 200]

A real `logwarden serve` with one rule (`threshold: 0`, grouped by service) and an `alerting:` section whose
route has `group_wait: 0s`, grouped by alertname and service, and whose receiver is a webhook on a local HTTP
server. Each of `--alerts` requests sends one error line of a new service; the time from its acknowledgement to
the webhook request about that service is measured: p50/p99 (issue 12's target: p99 ≤ 750 ms). Used by
bench/alerts.py; on its own it prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson

from _common import Server

TARGET_P99_MS = 750.0


class _Webhook:
    """Records when a notification about each service first arrived (time.perf_counter())."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.perf_counter()
                payload = orjson.loads(body)
                with outer.cond:
                    for alert in payload.get("alerts", []):
                        if alert.get("status") == "firing":
                            outer.arrived.setdefault(alert["labels"].get("service", ""), at)
                    outer.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait(self, service: str, timeout: float) -> float:
        deadline = time.perf_counter() + timeout
        with self.cond:
            while service not in self.arrived:
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise TimeoutError(f"no notification about {service}")
                self.cond.wait(left)
            return self.arrived[service]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def notification_latency(work: Path, alerts: int, progress: bool = True) -> dict[str, float]:
    rules = work / "notify-rules"
    rules.mkdir()
    (rules / "one.yaml").write_text(
        "groups:\n  - name: latency\n    rules:\n      - name: first-error\n        type: threshold\n"
        "        query: 'level:error'\n        group_by: [service]\n        window: 1m\n        threshold: 0\n"
    )
    hook = _Webhook()
    config = work / "notify.yaml"
    config.write_text(
        "alerting:\n  route:\n    receiver: hook\n    group_by: [alertname, service]\n    group_wait: 0s\n"
        "    group_interval: 1m\n    repeat_interval: 4h\n  receivers:\n    - name: hook\n"
        f"      webhook: {{url: '{hook.url}'}}\n"
    )
    server = Server(
        work / "notify-data",
        work / "notify-server.log",
        extra_args=["--rules", str(rules), "--config", str(config)],
    )
    server.start()
    url = f"http://127.0.0.1:{server.port}"
    try:
        server.wait_ready()
        waits: list[float] = []
        with httpx.Client(base_url=url, timeout=10) as http:
            for i in range(alerts):
                service = f"notify-{i}"
                line = orjson.dumps({"level": "error", "service": service, "message": "boom"})
                assert http.post("/api/v1/ingest", content=line).status_code == 200
                acked = time.perf_counter()
                waits.append((hook.wait(service, 10.0) - acked) * 1000)
                if progress and i % 50 == 0:
                    print(f"notification latency: {i}/{alerts}", file=sys.stderr)
        waits.sort()
        return {
            "alerts": float(len(waits)),
            "p50_ms": round(statistics.median(waits), 1),
            "p99_ms": round(waits[min(len(waits) - 1, int(len(waits) * 0.99))], 1),
            "max_ms": round(waits[-1], 1),
        }
    finally:
        server.stop()
        hook.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--alerts", type=int, default=200)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="lw-bench-notify-") as tmp:
        latency = notification_latency(Path(tmp), args.alerts)
    print(
        json.dumps(
            {
                "notification_latency": latency,
                "notification_latency_p99_target_ms": TARGET_P99_MS,
                "notification_latency_met": latency["p99_ms"] <= TARGET_P99_MS,
                "cores": os.cpu_count(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
