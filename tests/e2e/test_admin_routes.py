"""The server side of the console's admin pages (in-process): a user's role changes over the API (never one's
own), and the audit log pages back with the `next` cursor."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.e2e.test_login_routes import PASSWORD, log_in


def csrf(client: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies["lw_csrf"]}


def test_an_admin_changes_a_users_role_and_the_user_gets_it_at_its_next_request(auth_client: TestClient) -> None:
    viewer = TestClient(auth_client.app)
    viewer.post("/api/v1/auth/login", json={"user": "vic", "password": PASSWORD})
    assert viewer.post("/api/v1/rules", json={}, headers=csrf(viewer)).status_code == 403
    log_in(auth_client, "ana")
    resp = auth_client.put("/api/v1/users/vic", json={"role": "editor"}, headers=csrf(auth_client))
    assert resp.status_code == 200 and resp.json()["role"] == "editor"
    assert viewer.get("/api/v1/auth/me").json()["role"] == "editor"  # the same session, the new role
    entry = auth_client.get("/api/v1/audit", params={"action": "user.role"}).json()["entries"][0]
    assert (entry["target"], entry["actor"], entry["details"]) == (
        "vic",
        "user:ana",
        {"role": "editor", "was": "viewer"},
    )
    for body, message in (
        ({"role": "ingest"}, "ingest is for API keys"),
        ({"role": "root"}, "unknown role 'root'"),
        ({}, 'send {"disabled"'),
        ({"disabled": "yes"}, 'send {"disabled"'),
    ):
        refused = auth_client.put("/api/v1/users/vic", json=body, headers=csrf(auth_client))
        assert refused.status_code == 400 and message in refused.json()["error"], body
    viewer.close()


def test_an_admin_cannot_demote_or_disable_itself(auth_client: TestClient) -> None:
    log_in(auth_client, "ana")
    for body in ({"role": "viewer"}, {"disabled": True}):
        resp = auth_client.put("/api/v1/users/ana", json=body, headers=csrf(auth_client))
        assert resp.status_code == 400 and "ask another admin" in resp.json()["error"]
    assert auth_client.put("/api/v1/users/ana", json={"role": "admin"}, headers=csrf(auth_client)).status_code == 200
    assert auth_client.get("/api/v1/auth/me").json()["role"] == "admin"


def test_the_audit_log_pages_back_with_next(auth_client: TestClient) -> None:
    log_in(auth_client, "ana")
    for i in range(5):
        auth_client.post("/api/v1/keys", json={"role": "ingest", "name": f"k{i}"}, headers=csrf(auth_client))
    seen: list[str] = []
    before: int | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"action": "key.", "limit": 2, **({"before": before} if before else {})}
        answer = auth_client.get("/api/v1/audit", params=params).json()
        seen += [e["details"]["name"] for e in answer["entries"]]
        pages += 1
        before = answer["next"]
        if before is None:
            break
    assert seen == ["k4", "k3", "k2", "k1", "k0"] and pages == 3  # newest first, no entry twice or missed
    bad = auth_client.get("/api/v1/audit", params={"before": "x1"})
    assert bad.status_code == 400 and "invalid 'before'" in bad.json()["error"]
