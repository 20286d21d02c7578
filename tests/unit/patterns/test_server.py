"""Patterns through the real app: every stored line carries its `pattern_id` (dead letters none, none at all with
`patterns.enabled: false`); a `pattern` rule (`match: new`) fires on a new kind of ERROR line only, and not on a
kind stored before a restart (the restored miner gives it its old id; the rule seeds from history)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from tests.conftest import make_config

RULE = """\
groups:
  - name: patterns
    rules:
      - name: new-error-kind
        type: pattern
        match: new
        query: 'level:error'
        group_by: [service]
        window: 1m
        max_delay: 0s
        seed: false
"""


def body(*messages: str, service: str = "checkout", level: str = "error") -> bytes:
    now = datetime.now(UTC).isoformat()
    return b"\n".join(orjson.dumps({"ts": now, "level": level, "service": service, "msg": m}) for m in messages)


def stored(client: TestClient) -> list[dict[str, Any]]:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert runtime.bus.wait_caught_up()
    resp = client.get("/api/v1/search", params={"q": "", "start": "now-1h", "limit": "100"})
    assert resp.status_code == 200, resp.text
    hits: list[dict[str, Any]] = resp.json()["hits"]
    return hits


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "patterns.yaml").write_text(RULE)
    config = make_config(tmp_path, **{"rules.dir": str(tmp_path / "rules"), "patterns.enabled": True})
    with TestClient(create_app(config, run_maintenance=False)) as c:
        yield c


def test_every_stored_line_has_its_pattern_and_dead_letters_none(client: TestClient) -> None:
    payload = body("payment 17 failed for order 99", "payment 18 failed for order 12", "cache warmed in 12ms")
    assert client.post("/api/v1/ingest", content=payload + b"\n{not json").json() == {"accepted": 3, "rejected": 1}
    by_message = {h["message"]: h.get("pattern_id") for h in stored(client)}
    assert by_message["payment 17 failed for order 99"] == by_message["payment 18 failed for order 12"]
    assert by_message["cache warmed in 12ms"] not in (None, by_message["payment 17 failed for order 99"])
    assert by_message["{not json"] is None


@pytest.mark.parametrize("overrides", [{}, {"patterns.enabled": False}], ids=["default", "turned-off"])
def test_patterns_are_off_by_default_and_can_be_turned_off(tmp_path: Path, overrides: dict[str, Any]) -> None:
    config = make_config(tmp_path, **overrides)
    with TestClient(create_app(config, run_maintenance=False)) as c:
        assert c.post("/api/v1/ingest", content=body("payment 17 failed")).status_code == 200
        assert [h.get("pattern_id") for h in stored(c)] == [None]


def alerts(client: TestClient) -> list[dict[str, Any]]:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert runtime.bus.wait_caught_up()
    runtime.rules.flush()
    found: list[dict[str, Any]] = client.get("/api/v1/alerts").json()["alerts"]
    return found


def test_a_new_kind_of_error_line_fires_the_pattern_rule(client: TestClient) -> None:
    client.post("/api/v1/ingest", content=body("payment 17 failed for order 99"))
    (first,) = alerts(client)
    pattern = first["labels"]["pattern_id"]
    assert first["labels"]["service"] == "checkout"
    # More lines of the same kind (other numbers), and a new kind at INFO: nothing new fires.
    client.post("/api/v1/ingest", content=body("payment 3 failed for order 4", "payment 5 failed for order 6"))
    client.post("/api/v1/ingest", content=body("disk /var/lib/x is full", level="info"))
    assert [a["labels"]["pattern_id"] for a in alerts(client)] == [pattern]
    # A new kind of ERROR line fires its own alert.
    client.post("/api/v1/ingest", content=body("database connection refused by db-primary"))
    fired = {a["labels"]["pattern_id"] for a in alerts(client)}
    assert len(fired) == 2 and pattern in fired


def test_kinds_seen_before_a_restart_do_not_fire_a_new_rule(tmp_path: Path) -> None:
    plain = make_config(tmp_path, **{"patterns.enabled": True})
    with TestClient(create_app(plain, run_maintenance=False)) as c:
        c.post("/api/v1/ingest", content=body("login failed for alice on web", "login failed for bob on web"))
        assert len(stored(c)) == 2
    # Restarted with a rule that reads history: the kinds stored before the restart are known.
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "patterns.yaml").write_text(RULE.replace("seed: false", "seed: true\n        lookback: 1d"))
    config = make_config(tmp_path, **{"rules.dir": str(tmp_path / "rules"), "patterns.enabled": True})
    with TestClient(create_app(config, run_maintenance=False)) as c:
        # A user never seen: the template restored from before the restart takes it (a fresh miner would name a
        # new pattern after this line).
        c.post("/api/v1/ingest", content=body("login failed for zed on web"))
        assert alerts(c) == []
        c.post("/api/v1/ingest", content=body("database connection refused by db-primary"))
        (fired,) = alerts(c)
        assert fired["labels"]["service"] == "checkout"
