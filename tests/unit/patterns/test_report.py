"""GET /api/v1/report on seeded lines: errors and warnings by type and service, component health, latency
percentiles from a `latency_ms` field, lines/s, new patterns, pattern rate changes against the baseline, the
top explanation (a planted bad host), the markdown; bad parameters are a 400; the health formula."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.patterns.report import health_score
from tests.conftest import make_config


def line(at: datetime, service: str, level: str, msg: str, host: str = "h-1", **attrs: Any) -> bytes:
    record = {"ts": at.isoformat(), "service": service, "host": host, "level": level, "msg": msg, **attrs}
    return orjson.dumps(record)


def seeded_lines(now: datetime) -> list[bytes]:
    """A report window of the last 30 minutes and its baseline, the 3 hours before it."""
    lines: list[bytes] = []
    for i in range(180):  # baseline: a job a minute, a heartbeat every 3 minutes, declines spread over hosts
        at = now - timedelta(minutes=31 + i)
        lines.append(line(at, "worker", "info", f"job {i} done"))
        if i % 3 == 0:
            lines.append(line(at, "worker", "info", "heartbeat ok"))
        if i % 6 == 0:
            lines.append(line(at, "payments", "error", f"charge {i} declined by bank", host=f"pay-{i % 3 + 1}"))
    for i in range(30):  # the window
        at = now - timedelta(seconds=60 + i * 50)  # well inside the window the request computes later
        lines += [line(at, "worker", "info", f"job {1000 + i * 5 + k} done") for k in range(5)]  # 5× its rate
        lines.append(line(at, "checkout", "info", f"cart {i} served", latency_ms=i * 10))
        lines.append(line(at, "checkout", "info", f"cart {i} served", latency_ms=i * 10 + 5))
        if i < 20:
            lines.append(line(at, "payments", "error", f"charge {i} declined by bank", host="pay-2"))
        if i < 4:
            lines.append(line(at, "payments", "warn", f"ledger {i} out of balance", host="pay-2"))
    return lines


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    config = make_config(tmp_path, **{"patterns.enabled": True})
    with TestClient(create_app(config, run_maintenance=False)) as c:
        lines = seeded_lines(datetime.now(UTC))
        assert c.post("/api/v1/ingest", content=b"\n".join(lines)).json()["accepted"] == len(lines)
        app: Any = c.app
        assert app.state.runtime.bus.wait_caught_up()
        app.state.patterns.flush()
        yield c


def test_the_report_summarizes_the_window(client: TestClient) -> None:
    resp = client.get("/api/v1/report", params={"since": "30m"})
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["lines"] == 30 * 5 + 60 + 20 + 4
    assert report["levels"] == {"ERROR": 20, "INFO": 210, "WARN": 4}
    # Errors and warnings by type (pattern) and service, most first.
    types = [(t["count"], t["service"], t["level"], t["template"]) for t in report["error_types"]]
    assert types == [
        (20, "payments", "ERROR", "charge <num> declined by bank"),
        (4, "payments", "WARN", "ledger <num> out of balance"),
    ]
    components = {c["service"]: c for c in report["components"]}
    assert report["components"][0]["service"] == "payments"  # the least healthy first
    pay = components["payments"]
    assert (pay["lines"], pay["errors"], pay["warnings"]) == (24, 20, 4)
    assert pay["health"] == 0 and components["worker"]["health"] == 100
    assert components["worker"]["lines_per_second"] == pytest.approx(150 / 1800, abs=1e-3)
    (latency,) = components["checkout"]["latency"]
    assert latency["field"] == "latency_ms" and latency["lines"] == 60
    assert 140 <= latency["p50"] <= 155 and 270 <= latency["p95"] <= 295 and latency["p99"] <= 295
    # New patterns: the kinds first seen in the window (the carts and the ledger), most lines first.
    assert [p["template"] for p in report["new_patterns"]] == ["cart <num> served", "ledger <num> out of balance"]
    # Anomalies: the jobs run at five times their rate, the declines at four; the heartbeat stopped.
    anomalies = {a["template"]: a for a in report["anomalies"]}
    assert set(anomalies) == {"job <num> done", "heartbeat ok", "charge <num> declined by bank"}
    assert anomalies["charge <num> declined by bank"]["ratio"] == pytest.approx(4.0, rel=0.1)
    assert anomalies["job <num> done"]["ratio"] == pytest.approx(5.0, rel=0.1)
    assert anomalies["heartbeat ok"]["ratio"] == 0 and anomalies["heartbeat ok"]["expected_lines"] == 10
    # The top explanation of the warnings and errors: the bad host.
    first = report["explanations"][0]
    assert (first["field"], first["value"]) == ("host", "pay-2") and first["score"] >= 3
    markdown = report["markdown"]
    for heading in ("## Errors and warnings by type", "## Components", "## Latency", "## New patterns"):
        assert heading in markdown
    assert "| payments | 0 | 24 |" in markdown and "ledger <num> out of balance" in markdown
    text = client.get("/api/v1/report", params={"since": "30m", "format": "markdown"})
    assert (
        text.headers["content-type"].startswith("text/markdown")
        and text.text.split("\n")[1:] == markdown.split("\n")[1:]
    )


def test_another_tenant_and_an_empty_window_report_nothing(client: TestClient) -> None:
    other = client.get("/api/v1/report", headers={"X-Scope-OrgID": "other"}).json()
    assert other["lines"] == 0 and other["components"] == [] and other["new_patterns"] == []
    assert "No warnings or errors." in other["markdown"] and "No lines." in other["markdown"]


@pytest.mark.parametrize(
    ("params", "message"),
    [({"since": "soon"}, "since"), ({"since": "90d"}, "since must be"), ({"format": "pdf"}, "invalid format")],
)
def test_bad_parameters_are_a_400(client: TestClient, params: dict[str, str], message: str) -> None:
    resp = client.get("/api/v1/report", params=params)
    assert resp.status_code == 400 and message in resp.json()["error"]


def test_the_health_score() -> None:
    assert health_score(0, 0, 0) == 100
    assert health_score(1000, 10, 0) == 90  # 1 % errors
    assert health_score(1000, 0, 40) == 90  # 4 % warnings
    assert health_score(100, 10, 0) == 0
