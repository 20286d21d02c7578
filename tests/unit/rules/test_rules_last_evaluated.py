"""GET /api/v1/rules says when this server's engine last evaluated each rule and how many lines it matched (the
console's Rules list shows it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from tests.conftest import make_config


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_config(tmp_path), run_maintenance=False)) as c:
        yield c


def listed(client: TestClient) -> dict[str, dict[str, object]]:
    return {v["name"]: v for v in client.get("/api/v1/rules").json()["rules"]}


def test_last_evaluated_and_matched_lines_per_rule(client: TestClient) -> None:
    base = {"type": "threshold", "query": "level:error", "window": "1m", "threshold": 100}
    for name, enabled in (("errors", True), ("paused", False)):
        body = {"group": "g", "rule": {"name": name, **base, "enabled": enabled}}
        assert client.post("/api/v1/rules", json=body).status_code == 201
    before = listed(client)
    assert (before["errors"]["last_evaluated"], before["errors"]["matched"]) == (None, 0)  # no line yet

    sent = datetime.now(UTC)
    line = {"ts": sent.isoformat(), "level": "error", "service": "api", "message": "boom"}
    body = b"\n".join(orjson.dumps(line) for _ in range(3))
    assert client.post("/api/v1/ingest", content=body).status_code == 200
    assert client.app.state.runtime.bus.wait_caught_up()  # type: ignore[attr-defined]
    after = listed(client)
    evaluated = datetime.fromisoformat(str(after["errors"]["last_evaluated"]))
    assert sent <= evaluated <= datetime.now(UTC)
    assert after["errors"]["matched"] == 3
    # A disabled rule is not evaluated: nothing to say.
    assert (after["paused"]["last_evaluated"], after["paused"]["matched"]) == (None, None)
