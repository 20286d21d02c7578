"""A key of tenant alpha never reaches tenant bravo: not its lines, live tail, rules, alerts or silences."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from logwarden.auth.roles import Role
from tests.unit.auth.conftest import AuthServer, started

SECRET = "zq8-bravo-only"
RULE = {
    "name": "bravo-errors",
    "type": "threshold",
    "query": "level:error",
    "window": "5m",
    "threshold": 1,
}


def _seed(server: AuthServer) -> str:
    """Lines in both tenants, a rule and a silence in bravo; the silence's id."""
    client = server.client
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    for tenant, marker in (("alpha", "public"), ("bravo", SECRET)):
        body = orjson.dumps({"ts": now, "msg": f"hello {marker}", "service": "api", "level": "error"})
        resp = client.post("/api/v1/ingest", content=body, headers=server.headers(tenant, Role.INGEST))
        assert resp.status_code == 200, resp.text
    made = client.post("/api/v1/rules", json={"rule": RULE}, headers=server.headers("bravo", Role.EDITOR))
    assert made.status_code == 201, made.text
    silence = client.post(
        "/api/v1/silences",
        json={"matchers": ['service="api"'], "duration": "1h", "created_by": "bob", "comment": "maintenance"},
        headers=server.headers("bravo", Role.EDITOR),
    )
    assert silence.status_code == 201, silence.text
    return str(silence.json()["id"])


def test_an_editor_of_alpha_sees_nothing_of_bravo(server: AuthServer) -> None:
    silence_id = _seed(server)
    client = server.client
    alpha = server.headers("alpha", Role.EDITOR)
    # Bravo's own editor sees bravo's line: the data is there to leak.
    own = client.get(
        "/api/v1/search", params={"q": SECRET, "start": "1h"}, headers=server.headers("bravo", Role.EDITOR)
    )
    assert own.status_code == 200 and SECRET in own.text
    mine = client.get("/api/v1/search", params={"start": "1h"}, headers=alpha)
    assert mine.status_code == 200 and "hello public" in mine.text and SECRET not in mine.text
    query = client.post("/api/v1/query", json={"q": SECRET, "start": "1h"}, headers=alpha)
    assert query.status_code == 200 and SECRET not in query.text
    for name in ("/api/v1/rules", "/api/v1/silences", "/api/v1/alerts", "/api/v1/alerts/history"):
        resp = client.get(name, headers=alpha)
        assert resp.status_code == 200, (name, resp.text)
        assert "bravo-errors" not in resp.text and silence_id not in resp.text, name
    assert client.get("/api/v1/rules/bravo-errors", headers=alpha).status_code == 404
    assert client.get(f"/api/v1/silences/{silence_id}", headers=alpha).status_code == 404
    assert client.delete(f"/api/v1/silences/{silence_id}", headers=alpha).status_code == 404


def test_naming_another_tenant_in_the_header_is_refused(server: AuthServer) -> None:
    _seed(server)
    client = server.client
    alpha = server.headers("alpha", Role.EDITOR, **{"X-Scope-OrgID": "bravo"})
    for method, path, params in [
        ("GET", "/api/v1/search", {"q": SECRET}),
        ("GET", "/api/v1/tail", {"q": ""}),
        ("GET", "/api/v1/rules", {}),
        ("GET", "/api/v1/alerts", {}),
        ("GET", "/api/v1/silences", {}),
    ]:
        resp = client.request(method, path, params=params, headers=alpha)
        assert resp.status_code == 403, (path, resp.text)
        assert "scoped to tenant 'alpha'" in resp.json()["error"]
    ingest = server.headers("alpha", Role.INGEST, **{"X-Scope-OrgID": "bravo"})
    assert client.post("/api/v1/ingest", content=b'{"msg": "x"}', headers=ingest).status_code == 403


def test_an_admin_reads_another_tenant_only_by_naming_it(server: AuthServer) -> None:
    _seed(server)
    client = server.client
    home = client.get(
        "/api/v1/search", params={"q": SECRET, "start": "1h"}, headers=server.headers("alpha", Role.ADMIN)
    )
    assert home.status_code == 200 and SECRET not in home.text
    named = client.get(
        "/api/v1/search",
        params={"q": SECRET, "start": "1h"},
        headers=server.headers("alpha", Role.ADMIN, **{"X-Scope-OrgID": "bravo"}),
    )
    assert named.status_code == 200 and SECRET in named.text


def test_keys_of_a_trusted_role_may_route_by_header(tmp_path: Path) -> None:
    with started(tmp_path, **{"auth.trusted_tenant_header": ["ingest"]}) as server:
        client = server.client
        relay = server.headers("alpha", Role.INGEST, **{"X-Scope-OrgID": "bravo"})
        assert client.post("/api/v1/ingest", content=b'{"msg": "relayed zq8"}', headers=relay).status_code == 200
        found = client.get(
            "/api/v1/search", params={"q": "zq8", "start": "1h"}, headers=server.headers("bravo", Role.VIEWER)
        )
        assert "relayed zq8" in found.text
        # Only keys of the trusted role: a viewer of alpha still cannot read bravo by naming it.
        viewer = server.headers("alpha", Role.VIEWER, **{"X-Scope-OrgID": "bravo"})
        assert client.get("/api/v1/search", headers=viewer).status_code == 403


def test_log_metrics_show_every_tenant_only_to_an_admin(server: AuthServer) -> None:
    _seed(server)
    client = server.client
    deadline = time.monotonic() + 10  # the series take a moment to show the lines
    while True:
        every = client.get("/metrics/logs", headers=server.headers("alpha", Role.ADMIN))
        assert every.status_code == 200
        if ('tenant="alpha"' in every.text and 'tenant="bravo"' in every.text) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert 'tenant="alpha"' in every.text and 'tenant="bravo"' in every.text
    own = client.get("/metrics/logs", headers=server.headers("alpha", Role.EDITOR))
    assert own.status_code == 200 and 'tenant="alpha"' in own.text and 'tenant="bravo"' not in own.text
