"""Saved searches CRUD over HTTP: validation (400), missing (404), name conflicts (409), tenants, persistence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from tests.conftest import make_config

URL = "/api/v1/saved-searches"
ALPHA = {"X-Scope-OrgID": "alpha"}
BRAVO = {"X-Scope-OrgID": "bravo"}


def create(client: TestClient, headers: dict[str, str] = ALPHA, **fields: Any) -> Any:
    return client.post(URL, json={"name": "errors", "query": "level:error", **fields}, headers=headers)


def test_create_get_list_update_delete(client: TestClient) -> None:
    resp = create(client, start="now-1h")
    assert resp.status_code == 201, resp.text
    made = resp.json()
    assert made["name"] == "errors" and made["query"] == "level:error"
    assert made["start"] == "now-1h" and made["end"] is None
    assert made["created"] == made["updated"] and made["created"].endswith("Z")
    one = client.get(f"{URL}/{made['id']}", headers=ALPHA).json()
    assert one == made
    create(client, name="checkout", query='service:checkout "connection refused"')
    assert [s["name"] for s in client.get(URL, headers=ALPHA).json()["saved_searches"]] == ["checkout", "errors"]

    resp = client.put(
        f"{URL}/{made['id']}",
        json={"name": "5xx", "query": "status:>=500", "start": "now-15m", "end": "now"},
        headers=ALPHA,
    )
    assert resp.status_code == 200, resp.text
    updated = resp.json()
    assert (updated["name"], updated["query"], updated["start"], updated["end"]) == (
        "5xx",
        "status:>=500",
        "now-15m",
        "now",
    )
    assert updated["created"] == made["created"] and updated["updated"] >= made["updated"]

    assert client.delete(f"{URL}/{made['id']}", headers=ALPHA).status_code == 204
    assert client.get(f"{URL}/{made['id']}", headers=ALPHA).status_code == 404
    assert client.delete(f"{URL}/{made['id']}", headers=ALPHA).status_code == 404


def test_names_are_unique_per_tenant(client: TestClient) -> None:
    first = create(client).json()
    resp = create(client, query="other")
    assert resp.status_code == 409 and "already exists" in resp.json()["error"]
    assert create(client, headers=BRAVO).status_code == 201  # same name, another tenant
    other = create(client, name="other").json()
    resp = client.put(f"{URL}/{other['id']}", json={"name": "errors", "query": "x"}, headers=ALPHA)
    assert resp.status_code == 409
    # Renaming to its own name is fine.
    assert client.put(f"{URL}/{first['id']}", json={"name": "errors", "query": "y"}, headers=ALPHA).status_code == 200


def test_tenants_never_see_each_others_searches(client: TestClient) -> None:
    made = create(client).json()
    assert client.get(URL, headers=BRAVO).json() == {"saved_searches": []}
    assert client.get(f"{URL}/{made['id']}", headers=BRAVO).status_code == 404
    assert client.put(f"{URL}/{made['id']}", json={"name": "x", "query": ""}, headers=BRAVO).status_code == 404
    assert client.delete(f"{URL}/{made['id']}", headers=BRAVO).status_code == 404
    assert client.get(f"{URL}/{made['id']}", headers=ALPHA).status_code == 200


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"query": "x"}, "'name' is required"),
        ({"name": "  ", "query": "x"}, "'name' is required"),
        ({"name": "x" * 201, "query": "x"}, "too long"),
        ({"name": "n"}, "'query' is required"),
        ({"name": "n", "query": 5}, "'query' is required"),
        ({"name": "n", "query": "x", "start": "yesterday"}, "invalid start"),
        ({"name": "n", "query": "x", "end": 5}, "'end' must be"),
        ({"name": "n", "query": "x", "start": "now", "end": "now-1h"}, "must be before"),
        ({"name": "n", "query": "x", "colour": "red"}, "unknown field 'colour'"),
    ],
)
def test_validation_errors_are_400(client: TestClient, body: dict[str, Any], expected: str) -> None:
    resp = client.post(URL, json=body)
    assert resp.status_code == 400
    assert expected in resp.json()["error"]


def test_malformed_bodies_are_400(client: TestClient) -> None:
    assert client.post(URL, content=b"{nope").status_code == 400
    assert client.post(URL, json=["name"]).status_code == 400


def test_a_malformed_query_is_400(client: TestClient) -> None:
    resp = create(client, query='level:error AND ("unclosed')
    assert resp.status_code == 400
    assert "invalid 'query'" in resp.json()["error"] and "column" in resp.json()["error"]


def test_saved_searches_survive_a_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with TestClient(create_app(config, run_maintenance=False)) as client:
        made = create(client).json()
    assert (Path(config.data_dir) / "meta.sqlite").exists()
    with TestClient(create_app(config, run_maintenance=False)) as client:
        assert client.get(f"{URL}/{made['id']}", headers=ALPHA).json() == made
