"""POST /api/v1/admin/delete: admins only, dry run, the delete itself, 400 with the position for a bad filter,
and an audit entry with the filter and the counts."""

from __future__ import annotations

from pathlib import Path

import orjson

from logwarden.auth.roles import Role
from tests.unit.auth.conftest import AuthServer, started

PATH = "/api/v1/admin/delete"


def ingest(server: AuthServer, tenant: str, n: int) -> None:
    lines = [
        {"msg": f"login by {'zq42secret' if i % 4 == 0 else 'someone'}", "user_id": 42 if i % 4 == 0 else 7}
        for i in range(n)
    ]
    body = b"\n".join(orjson.dumps(line) for line in lines)
    answer = server.client.post("/api/v1/ingest", content=body, headers=server.headers(tenant, Role.INGEST))
    assert answer.status_code == 200, answer.text


def total(server: AuthServer, tenant: str, q: str) -> int:
    answer = server.client.get(
        "/api/v1/query", params={"q": q, "start": "1h"}, headers=server.headers(tenant, Role.VIEWER)
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["total"])


def test_only_admins_delete_and_every_call_is_audited(tmp_path: Path) -> None:
    with started(tmp_path) as server:
        client = server.client
        ingest(server, "alpha", 40)
        ingest(server, "bravo", 40)
        assert client.post(PATH, json={"where": "user_id:42"}).status_code == 401
        for role in (Role.VIEWER, Role.EDITOR, Role.INGEST):
            refused = client.post(PATH, json={"where": "user_id:42"}, headers=server.headers("alpha", role))
            assert refused.status_code == 403, role
        admin = server.headers("alpha", Role.ADMIN)
        dry = client.post(PATH, json={"where": "user_id:42", "dry_run": True}, headers=admin)
        assert dry.status_code == 200, dry.text
        assert dry.json()["dry_run"] is True and dry.json()["lines"] == 10 and dry.json()["tenant"] == "alpha"
        assert total(server, "alpha", "user_id:42") == 10
        done = client.post(PATH, json={"where": "user_id:42"}, headers=admin)
        assert done.status_code == 200 and done.json()["hot_lines"] == 10 and done.json()["dry_run"] is False
        assert total(server, "alpha", "user_id:42") == 0 and total(server, "alpha", "zq42secret") == 0
        assert total(server, "alpha", "someone") == 30
        assert total(server, "bravo", "user_id:42") == 10  # another tenant's lines are not touched
        entries = client.get("/api/v1/audit", params={"action": "lines.delete"}, headers=admin).json()["entries"]
        assert [e["details"]["dry_run"] for e in entries] == [False, True]
        assert entries[0]["details"] == {
            **entries[0]["details"],
            "where": "user_id:42",
            "hot_lines": 10,
            "archive_lines": 0,
        }
        assert entries[0]["actor"].startswith("key:") and entries[0]["tenant"] == "alpha"


def test_bad_requests_are_400_with_the_position(tmp_path: Path) -> None:
    with started(tmp_path) as server:
        admin = server.headers("alpha", Role.ADMIN)
        bad = server.client.post(PATH, json={"where": "user_id:(42"}, headers=admin)
        assert bad.status_code == 400 and bad.json()["column"] >= 1
        piped = server.client.post(PATH, json={"where": "user_id:42 | stats count()"}, headers=admin)
        assert piped.status_code == 400 and "pipes" in piped.json()["error"]
        for body in ({}, {"where": ""}, {"where": "x", "dry_run": "yes"}, {"where": "x", "tenant": "no way"}, []):
            assert server.client.post(PATH, json=body, headers=admin).status_code == 400, body
        assert server.client.post(PATH, content=b"{", headers=admin).status_code == 400
