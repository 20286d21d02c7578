"""Brute-force protection on login (429 with Retry-After) and the audit log of logins, changes and SQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from logwarden.auth.roles import Role
from tests.unit.auth.conftest import AuthServer, started


def test_repeated_failures_lock_the_user_out_and_are_audited(tmp_path: Path) -> None:
    with started(tmp_path, **{"auth.login_max_failures": 3}) as server:
        server.store.add_user("alice", "correct horse", tenant="alpha", role=Role.ADMIN)
        client = server.client
        for _ in range(3):
            assert client.post("/api/v1/auth/login", json={"user": "alice", "password": "nope"}).status_code == 401
        locked = client.post("/api/v1/auth/login", json={"user": "alice", "password": "correct horse"})
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) >= 1
        # The wait ends (the throttle's clock moves past it); then the right password works and clears the count.
        throttle = client.app.state.auth.throttle  # type: ignore[attr-defined]
        later = throttle.clock() + 2
        throttle.clock = lambda: later
        ok = client.post("/api/v1/auth/login", json={"user": "alice", "password": "correct horse"})
        assert ok.status_code == 200, ok.text
        entries = client.get("/api/v1/audit", params={"action": "login"}).json()["entries"]
        outcomes = [e["outcome"] for e in reversed(entries)]
        assert outcomes == ["failed", "failed", "failed", "denied", "ok"]
        assert {e["actor"] for e in entries} == {"user:alice"}


def test_changes_and_sql_are_audited_and_searchable(server: AuthServer) -> None:
    client = server.client
    editor = server.headers("alpha", Role.EDITOR)
    rule = {"name": "r1", "type": "threshold", "query": "level:error", "window": "1m", "threshold": 1}
    assert client.post("/api/v1/rules", json={"rule": rule}, headers=editor).status_code == 201
    assert client.delete("/api/v1/rules/r1", headers=editor).status_code == 204
    silence = {"matchers": ['service="api"'], "duration": "1h", "created_by": "bob", "comment": "deploy"}
    assert client.post("/api/v1/silences", json=silence, headers=editor).status_code == 201
    admin = server.headers("alpha", Role.ADMIN)
    entries = client.get("/api/v1/audit", headers=admin).json()["entries"]
    actions = [e["action"] for e in reversed(entries)]
    assert actions == ["rule.create", "rule.delete", "silence.create"]
    editor_id = server.keys[("alpha", Role.EDITOR)][: len("lw_") + 12]
    assert {e["actor"] for e in entries} == {f"key:{editor_id}"}
    rules_only = client.get("/api/v1/audit", params={"action": "rule."}, headers=admin).json()["entries"]
    assert [e["action"] for e in rules_only] == ["rule.delete", "rule.create"]
    assert client.get("/api/v1/audit", params={"actor": "key:lw_other"}, headers=admin).json()["entries"] == []
    assert client.get("/api/v1/audit", params={"since": "now+1h"}, headers=admin).json()["entries"] == []
    assert client.get("/api/v1/audit", params={"since": "yesterday"}, headers=admin).status_code == 400
    # A `before` no 64-bit id can be is the client's mistake (SQLite refused it: a 500 found by schemathesis).
    for before in ("9223372036854775808", "99999999999999999999999", "-1", "x"):
        assert client.get("/api/v1/audit", params={"before": before}, headers=admin).status_code == 400
    assert client.get("/api/v1/audit", params={"before": "9223372036854775807"}, headers=admin).status_code == 200
    # Another tenant's admin does not see alpha's entries.
    assert client.get("/api/v1/audit", headers=server.headers("bravo", Role.ADMIN)).json()["entries"] == []


@pytest.mark.slow  # the statement runs in an SQL worker process
def test_sql_statements_run_are_audited(server: AuthServer) -> None:
    text = "SELECT count(*) AS n FROM logs"
    resp = server.client.post("/api/v1/sql", json={"sql": text}, headers=server.headers("alpha", Role.EDITOR))
    assert resp.status_code == 200, resp.text
    entries = server.client.get("/api/v1/audit", headers=server.headers("alpha", Role.ADMIN)).json()["entries"]
    assert [(e["action"], e["target"], e["tenant"]) for e in entries] == [("sql.run", text, "alpha")]
