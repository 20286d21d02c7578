"""GET /api/v1/explain: the field values and patterns over-represented among matching lines in a spike window
against the baseline before it, each with a significance score; a planted bad host ranks first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.patterns.explain import z_score
from tests.conftest import make_config


def line(at: datetime, host: str, level: str, msg: str) -> bytes:
    return orjson.dumps({"ts": at.isoformat(), "service": "api", "host": host, "level": level, "msg": msg})


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    config = make_config(tmp_path, **{"patterns.enabled": True})
    with TestClient(create_app(config, run_maintenance=False)) as c:
        now = datetime.now(UTC)
        lines: list[bytes] = []
        # Baseline (an hour before the last 15 minutes): errors spread evenly over five hosts.
        for i in range(100):
            at = now - timedelta(minutes=20 + (i % 50))
            lines.append(line(at, f"web-{i % 5 + 1}", "error", f"request {i} failed: upstream timeout"))
            lines.append(line(at, f"web-{i % 5 + 1}", "info", f"request {i} served in {i}ms"))
        # The spike (the last 15 minutes): web-3 throws most of the errors, of the usual kind.
        for i in range(60):
            host = "web-3" if i % 6 else f"web-{i % 5 + 1}"
            lines.append(
                line(now - timedelta(minutes=1 + i % 10), host, "error", f"request {i} failed: upstream timeout")
            )
        # And a new kind of error, a few lines, on every host.
        for i in range(5):
            lines.append(line(now - timedelta(minutes=2), f"web-{i + 1}", "error", f"disk /dev/sd{i} is full"))
        assert c.post("/api/v1/ingest", content=b"\n".join(lines)).json()["accepted"] == len(lines)
        app: Any = c.app
        assert app.state.runtime.bus.wait_caught_up()
        app.state.patterns.flush()
        yield c


def test_a_planted_bad_host_ranks_first(client: TestClient) -> None:
    resp = client.get("/api/v1/explain", params={"q": "level:error", "window": "15m", "baseline": "1h"})
    assert resp.status_code == 200, resp.text
    found = resp.json()
    assert (found["window"]["lines"], found["baseline"]["lines"]) == (65, 100)
    first, *rest = found["explanations"]
    assert (first["field"], first["value"]) == ("host", "web-3")
    assert first["window_lines"] == 50 + 2 + 1 and first["baseline_lines"] == 20 and first["score"] > 3
    assert first["p_value"] < 0.001
    # The new kind of error line is over-represented too (never seen before), with its template.
    (disk,) = [e for e in rest if e["field"] == "pattern_id"]
    assert disk["template"] == "disk <path> is full" and disk["baseline_lines"] == 0
    # Values as frequent as before are not explanations.
    assert not [e for e in rest if e["field"] == "service"]


def test_only_the_chosen_fields_are_compared(client: TestClient) -> None:
    params = {"q": "level:error", "fields": "level,service", "window": "15m"}
    assert client.get("/api/v1/explain", params=params).json()["explanations"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "level:error | stats count()"}, "no pipes"),
        ({"q": "level:(error"}, ""),
        ({"window": "soon"}, "window"),
        ({"baseline": "0s"}, "baseline"),
        ({"fields": "host,a b"}, "invalid field"),
    ],
)
def test_bad_parameters_are_a_400(client: TestClient, params: dict[str, str], message: str) -> None:
    resp = client.get("/api/v1/explain", params=params)
    assert resp.status_code == 400, resp.text
    assert message in resp.json()["error"]


def test_the_score_favours_a_value_whose_share_grew() -> None:
    assert z_score(50, 60, 20, 100) > 3
    assert abs(z_score(20, 100, 20, 100)) < 1e-9
    assert z_score(5, 100, 20, 100) < 0
    assert z_score(1, 0, 1, 10) == 0.0
