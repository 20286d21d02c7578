"""Dashboards CRUD over HTTP: the built-in Overview, validation (400), missing (404), names (409), tenants, roles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.auth.roles import Role
from logwarden.meta.dashboards import OVERVIEW_PANELS
from tests.conftest import make_config
from tests.unit.auth.conftest import started

URL = "/api/v1/dashboards"
ALPHA = {"X-Scope-OrgID": "alpha"}
BRAVO = {"X-Scope-OrgID": "bravo"}
PANEL = {"title": "Errors by service", "viz": "bar", "query": "level:error | stats count() by service"}


def create(client: TestClient, headers: dict[str, str] = ALPHA, **fields: Any) -> Any:
    body = {"name": "checkout", "panels": [PANEL], **fields}
    return client.post(URL, json=body, headers=headers)


def test_the_overview_is_listed_first_and_read_only(client: TestClient) -> None:
    listed = client.get(URL, headers=ALPHA).json()["dashboards"]
    assert [(d["id"], d["name"], d["builtin"]) for d in listed] == [("overview", "Overview", True)]
    one = client.get(f"{URL}/overview", headers=ALPHA).json()
    assert one == listed[0] and len(one["panels"]) == len(OVERVIEW_PANELS)
    assert {p["source"] for p in one["panels"]} == {"metric", "alerts", "query", "self"}
    assert {p["viz"] for p in one["panels"]} >= {"timeseries", "pie", "bar", "stat"}
    resp = client.put(f"{URL}/overview", json={"name": "mine", "panels": []}, headers=ALPHA)
    assert resp.status_code == 400 and "save a copy" in resp.json()["error"]
    assert client.delete(f"{URL}/overview", headers=ALPHA).status_code == 400
    assert create(client, name="overview").status_code == 409


def test_every_overview_panel_passes_the_api_validation(client: TestClient) -> None:
    resp = create(client, name="copy of the overview", panels=list(OVERVIEW_PANELS))
    assert resp.status_code == 201, resp.text
    assert resp.json()["panels"] == list(OVERVIEW_PANELS)


def test_create_get_list_update_delete(client: TestClient) -> None:
    resp = create(client, description="the shop", refresh="30s")
    assert resp.status_code == 201, resp.text
    made = resp.json()
    assert made["name"] == "checkout" and made["description"] == "the shop" and made["refresh"] == "30s"
    assert made["panels"] == [{**PANEL, "source": "query", "width": 1}] and made["builtin"] is False
    assert made["created"] == made["updated"] and made["created"].endswith("Z")
    assert client.get(f"{URL}/{made['id']}", headers=ALPHA).json() == made
    create(client, name="api")
    names = [d["name"] for d in client.get(URL, headers=ALPHA).json()["dashboards"]]
    assert names == ["Overview", "api", "checkout"]

    panels = [PANEL, {"title": "Volume", "viz": "timeseries", "source": "metric", "metric": "logs_total", "width": 3}]
    resp = client.put(f"{URL}/{made['id']}", json={"name": "shop", "panels": panels}, headers=ALPHA)
    assert resp.status_code == 200, resp.text
    updated = resp.json()
    assert updated["name"] == "shop" and updated["refresh"] is None and updated["description"] == ""
    assert updated["panels"][1] == {**panels[1], "fn": "rate", "by": []}
    assert updated["created"] == made["created"] and updated["updated"] >= made["updated"]

    assert client.delete(f"{URL}/{made['id']}", headers=ALPHA).status_code == 204
    assert client.get(f"{URL}/{made['id']}", headers=ALPHA).status_code == 404
    assert client.delete(f"{URL}/{made['id']}", headers=ALPHA).status_code == 404


def test_names_are_unique_per_tenant(client: TestClient) -> None:
    assert create(client).status_code == 201
    resp = create(client)
    assert resp.status_code == 409 and "already exists" in resp.json()["error"]
    assert create(client, headers=BRAVO).status_code == 201  # same name, another tenant


def test_tenant_b_cannot_read_or_change_tenant_as_dashboard(client: TestClient) -> None:
    made = create(client).json()
    assert [d["id"] for d in client.get(URL, headers=BRAVO).json()["dashboards"]] == ["overview"]
    assert client.get(f"{URL}/{made['id']}", headers=BRAVO).status_code == 404
    assert client.put(f"{URL}/{made['id']}", json={"name": "x"}, headers=BRAVO).status_code == 404
    assert client.delete(f"{URL}/{made['id']}", headers=BRAVO).status_code == 404
    assert client.get(f"{URL}/{made['id']}", headers=ALPHA).json() == made


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"panels": []}, "'name' is required"),
        ({"name": "x" * 201}, "too long"),
        ({"name": "n", "colour": "red"}, "unknown field 'colour'"),
        ({"name": "n", "panels": {}}, "'panels' must be a list"),
        ({"name": "n", "refresh": "7s"}, "invalid 'refresh'"),
        ({"name": "n", "panels": [PANEL] * 49}, "too many panels"),
        ({"name": "n", "panels": ["x"]}, "panels[0] must be an object"),
        ({"name": "n", "panels": [{**PANEL, "viz": "gauge"}]}, "panels[0].viz 'gauge' is unknown"),
        ({"name": "n", "panels": [PANEL, {**PANEL, "title": ""}]}, "panels[1].title is required"),
        ({"name": "n", "panels": [{**PANEL, "width": 4}]}, "panels[0].width"),
        ({"name": "n", "panels": [{**PANEL, "source": "sql"}]}, "panels[0].source 'sql' is unknown"),
        ({"name": "n", "panels": [{**PANEL, "query": 'level:error AND ("x'}]}, "invalid panels[0].query"),
        ({"name": "n", "panels": [{**PANEL, "metric": "logs_total"}]}, "unknown key 'metric' for a query panel"),
        ({"name": "n", "panels": [{"title": "t", "viz": "bar", "source": "metric"}]}, "panels[0].metric is required"),
        (
            {"name": "n", "panels": [{"title": "t", "viz": "bar", "source": "metric", "metric": "m", "fn": "median"}]},
            "panels[0].fn 'median'",
        ),
        (
            {
                "name": "n",
                "panels": [
                    {"title": "t", "viz": "bar", "source": "metric", "metric": "m", "transform": "error_percent"}
                ],
            },
            "needs the series by level",
        ),
        ({"name": "n", "panels": [{"title": "t", "viz": "stat", "source": "self", "figure": "cpu"}]}, "figure 'cpu'"),
    ],
)
def test_validation_errors_are_400(client: TestClient, body: dict[str, Any], expected: str) -> None:
    resp = client.post(URL, json=body)
    assert resp.status_code == 400
    assert expected in resp.json()["error"]


def test_malformed_bodies_are_400(client: TestClient) -> None:
    assert client.post(URL, content=b"{nope").status_code == 400
    assert client.post(URL, json=["name"]).status_code == 400


def test_dashboards_survive_a_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with TestClient(create_app(config, run_maintenance=False)) as client:
        made = create(client).json()
    with TestClient(create_app(config, run_maintenance=False)) as client:
        assert client.get(f"{URL}/{made['id']}", headers=ALPHA).json() == made


def test_viewers_read_editors_write_and_keys_stay_in_their_tenant(tmp_path: Path) -> None:
    with started(tmp_path) as server:
        client = server.client
        body = {"name": "team", "panels": [PANEL]}
        assert client.post(URL, json=body, headers=server.headers("alpha", Role.VIEWER)).status_code == 403
        made = client.post(URL, json=body, headers=server.headers("alpha", Role.EDITOR))
        assert made.status_code == 201, made.text
        item = f"{URL}/{made.json()['id']}"
        assert client.get(item, headers=server.headers("alpha", Role.VIEWER)).status_code == 200
        assert client.delete(item, headers=server.headers("alpha", Role.VIEWER)).status_code == 403
        # The tenant comes from the key, not from a header the caller adds (only an admin may name another).
        spoofed = server.headers("bravo", Role.EDITOR, **{"X-Scope-OrgID": "alpha"})
        assert client.get(item, headers=spoofed).status_code in (403, 404)
        assert client.get(item, headers=server.headers("bravo", Role.EDITOR)).status_code == 404
        assert client.delete(item, headers=server.headers("bravo", Role.EDITOR)).status_code == 404
        assert client.delete(item, headers=server.headers("alpha", Role.EDITOR)).status_code == 204
