"""A key of tenant alpha exports alpha's lines only, whatever it asks for."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from logwarden.auth.roles import Role
from tests.unit.auth.conftest import AuthServer

SECRET = "zq7-bravo-export"


def test_alpha_export_never_holds_bravo_lines(server: AuthServer) -> None:
    client = server.client
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    for tenant, marker in (("alpha", "public"), ("bravo", SECRET)):
        body = orjson.dumps({"ts": now, "msg": f"hello {marker}", "service": "api"})
        resp = client.post("/api/v1/ingest", content=body, headers=server.headers(tenant, Role.INGEST))
        assert resp.status_code == 200, resp.text
    own = client.get(
        "/api/v1/export", params={"q": SECRET, "start": "1h"}, headers=server.headers("bravo", Role.VIEWER)
    )
    assert own.status_code == 200 and SECRET in own.text  # the line is there to leak
    alpha = server.headers("alpha", Role.VIEWER)
    for fmt in ("ndjson", "csv"):
        mine = client.get("/api/v1/export", params={"start": "1h", "format": fmt}, headers=alpha)
        assert mine.status_code == 200 and "hello public" in mine.text and SECRET not in mine.text
        assert 'filename="logwarden-alpha-' in mine.headers["content-disposition"]
    searched = client.get("/api/v1/export", params={"q": SECRET, "start": "1h"}, headers=alpha)
    assert searched.status_code == 200 and searched.text == ""
    named = client.get("/api/v1/export", params={"q": SECRET}, headers={**alpha, "X-Scope-OrgID": "bravo"})
    assert named.status_code == 403
    assert client.get("/api/v1/export", params={"start": "1h"}).status_code == 401
    ingest_only = client.get("/api/v1/export", headers=server.headers("alpha", Role.INGEST))
    assert ingest_only.status_code == 403
