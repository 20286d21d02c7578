"""Definitions through the API: created, replaced and deleted without a restart, kept in the data directory's
YAML file across restarts, refused (with what is wrong) for a bad body, a built-in name or a config one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from tests.conftest import make_config
from tests.unit.logmetrics.test_api import ingest

CONFIGURED = {"name": "configured", "query": "level:error"}


def open_client(tmp_path: Path) -> TestClient:
    return TestClient(create_app(make_config(tmp_path, **{"metrics.definitions": [CONFIGURED]}), run_maintenance=False))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with open_client(tmp_path) as c:
        yield c


def lines(at: datetime, n: int) -> list[dict[str, object]]:
    return [
        {"ts": (at + timedelta(seconds=i)).isoformat(), "service": "web", "level": "info", "msg": f"GET code={i % 2}"}
        for i in range(n)
    ]


def total(client: TestClient, metric: str, by: str = "") -> dict[str, float]:
    params = {"metric": metric, "fn": "sum", "start": "now-1h", "end": "now+1m", "step": "1h", "by": by}
    resp = client.get("/api/v1/metrics/query_range", params=params)
    assert resp.status_code == 200, resp.text
    return {",".join(s["labels"].values()): sum(v for _, v in s["values"]) for s in resp.json()["series"]}


def test_a_definition_made_through_the_api_counts_from_the_next_batch(client: TestClient, tmp_path: Path) -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)
    ingest(client, lines(now, 4))  # before the metric exists: not counted (no re-scan)
    created = client.put("/api/v1/metrics/definitions/gets", json={"query": 'GET | extract "code=(?P<code>\\d)"'})
    assert created.status_code == 200, created.text
    assert created.json()["name"] == "gets"
    ingest(client, lines(now, 6))
    assert total(client, "gets") == {"": 6.0}
    # Replaced: labelled from now on.
    body = {"query": 'GET | extract "code=(?P<code>\\d)"', "labels": ["code"]}
    assert client.put("/api/v1/metrics/definitions/gets", json=body).status_code == 200
    ingest(client, lines(now, 4))
    assert total(client, "gets", "code") == {"": 6.0, "0": 2.0, "1": 2.0}
    assert client.get("/api/v1/metrics/definitions/gets").json()["labels"] == ["code"]
    saved = yaml.safe_load((tmp_path / "data" / "logmetrics" / "definitions.yaml").read_text())
    assert saved == {"metrics": [{"name": "gets", "query": 'GET | extract "code=(?P<code>\\d)"', "labels": ["code"]}]}
    # Deleted: no longer queried, no longer counted.
    assert client.delete("/api/v1/metrics/definitions/gets").status_code == 204
    assert client.get("/api/v1/metrics/query_range", params={"metric": "gets"}).status_code == 404
    assert client.get("/api/v1/metrics/definitions/gets").status_code == 404
    assert client.delete("/api/v1/metrics/definitions/gets").status_code == 404


def test_definitions_made_through_the_api_survive_a_restart(tmp_path: Path) -> None:
    with open_client(tmp_path) as first:
        assert first.put("/api/v1/metrics/definitions/kept", json={"query": "GET"}).status_code == 200
    with open_client(tmp_path) as again:
        names = [d["name"] for d in again.get("/api/v1/metrics/definitions").json()["metrics"]]
        assert "kept" in names and "configured" in names
        ingest(again, lines(datetime.now(UTC) - timedelta(minutes=5), 3))
        assert total(again, "kept") == {"": 3.0}


@pytest.mark.parametrize(
    ("name", "body", "status", "message"),
    [
        ("logs_total", {"query": "*"}, 409, "built in or defined in the config"),
        ("configured", {"query": "*"}, 409, "built in or defined in the config"),
        ("bad", {"type": "sum"}, 400, "type sum needs `field`"),
        ("bad", {"query": "a | stats count()"}, 400, "only line pipes"),
        ("bad", {"name": "other"}, 400, "is not the path's"),
        ("bad", [1], 400, "must be a JSON object"),
    ],
)
def test_mistakes_are_refused_with_what_is_wrong(
    client: TestClient, name: str, body: object, status: int, message: str
) -> None:
    resp = client.put(f"/api/v1/metrics/definitions/{name}", json=body)
    assert resp.status_code == status, resp.text
    assert message in resp.json()["error"]
    assert client.delete("/api/v1/metrics/definitions/configured").status_code == 409
