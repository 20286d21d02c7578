"""Generated log lines for the console tests, stamped relative to the moment they are made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

SERVICES = ("checkout", "payment", "search")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def generated_lines(now: datetime, count: int = 300) -> list[dict[str, Any]]:
    """`count` lines over the last 50 minutes before `now`: three services, four levels, one trace of three
    services, and a distinctive error ("gateway timeout") on checkout."""
    lines: list[dict[str, Any]] = []
    for i in range(count):
        ts = now - timedelta(minutes=50) + timedelta(seconds=i * 50 * 60 / count)
        service = SERVICES[i % 3]
        level = "error" if i % 25 == 0 else "warn" if i % 7 == 0 else "debug" if i % 11 == 0 else "info"
        message = f"request {i} handled in {i % 97} ms"
        if level == "error" and service == "checkout":
            message = f"gateway timeout after 30s order={1000 + i}"
        lines.append(
            {
                "ts": iso(ts),
                "service": service,
                "host": f"web-{i % 4}",
                "level": level,
                "message": message,
                "log_id": f"line-{i:05d}",
                "http": {"status": 500 if level == "error" else 200},  # stored flattened: attribute http.status
                "region": ("eu", "us")[i % 2],
            }
        )
    for j, service in enumerate(SERVICES):
        lines.append(
            {
                "ts": iso(now - timedelta(minutes=5) + timedelta(milliseconds=j * 40)),
                "service": service,
                "host": "web-9",
                "level": "error" if j == 2 else "info",
                "message": f"trace step {j} in {service}",
                "trace_id": TRACE_ID,
                "span_id": f"span{j}",
                "log_id": f"trace-{j}",
            }
        )
    return lines


def ingest(base_url: str, lines: list[dict[str, Any]]) -> None:
    """Store the lines through the native NDJSON API (acknowledged once durable)."""
    body = b"\n".join(orjson.dumps(line) for line in lines)
    resp = httpx.post(
        base_url + "/api/v1/ingest", content=body, headers={"Content-Type": "application/x-ndjson"}, timeout=30
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["accepted"] == len(lines), resp.text


def now() -> datetime:
    return datetime.now(UTC)
