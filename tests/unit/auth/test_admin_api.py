"""Users and keys through the API: admins of the tenant only, secrets shown once, revocation at once, audited."""

from __future__ import annotations

from pathlib import Path

from logwarden.auth.roles import Role
from tests.unit.auth.conftest import AuthServer, started


def test_an_admin_manages_the_tenants_keys(tmp_path: Path) -> None:
    # With the key cache on: revoking through the server must still take effect at once.
    with started(tmp_path, **{"auth.credential_cache": "1h"}) as server:
        client = server.client
        admin = server.headers("alpha", Role.ADMIN)
        made = client.post("/api/v1/keys", json={"role": "ingest", "name": "vector", "expires": "90d"}, headers=admin)
        assert made.status_code == 201, made.text
        key = made.json()["key"]
        assert made.json()["tenant"] == "alpha" and made.json()["expires"] is not None
        shipper = {"Authorization": f"Bearer {key}"}
        assert client.post("/api/v1/ingest", content=b'{"msg": "hi"}', headers=shipper).status_code == 200
        listed = client.get("/api/v1/keys", headers=admin).json()["keys"]
        assert made.json()["id"] in {k["id"] for k in listed} and key not in str(listed)
        other_tenant = client.delete(f"/api/v1/keys/{made.json()['id']}", headers=server.headers("bravo", Role.ADMIN))
        assert other_tenant.status_code == 404
        revoked = client.delete(f"/api/v1/keys/{made.json()['id']}", headers=admin)
        assert revoked.status_code == 200 and revoked.json()["revoked"] is not None
        assert client.post("/api/v1/ingest", content=b'{"msg": "hi"}', headers=shipper).status_code == 401
        bad = client.post("/api/v1/keys", json={"role": "owner"}, headers=admin)
        assert bad.status_code == 400 and "unknown role 'owner'" in bad.json()["error"]
        actions = [e["action"] for e in client.get("/api/v1/audit", headers=admin).json()["entries"]]
        assert actions == ["key.revoke", "key.create"]


def test_an_admin_adds_and_disables_users(server: AuthServer) -> None:
    client = server.client
    admin = server.headers("alpha", Role.ADMIN)
    made = client.post(
        "/api/v1/users", json={"name": "carol", "password": "long enough", "role": "editor"}, headers=admin
    )
    assert made.status_code == 201, made.text
    assert made.json() == {**made.json(), "name": "carol", "tenant": "alpha", "role": "editor", "disabled": False}
    assert "password" not in str(client.get("/api/v1/users", headers=admin).json())
    login = client.post("/api/v1/auth/login", json={"user": "carol", "password": "long enough"})
    assert login.status_code == 200
    assert client.put("/api/v1/users/carol", json={"disabled": True}, headers=admin).status_code == 200
    assert client.get("/api/v1/auth/me").status_code == 401  # carol's session ended
    assert (
        client.put(
            "/api/v1/users/carol", json={"disabled": False}, headers=server.headers("bravo", Role.ADMIN)
        ).status_code
        == 404
    )
    ingest_user = client.post(
        "/api/v1/users", json={"name": "d", "password": "long enough", "role": "ingest"}, headers=admin
    )
    assert ingest_user.status_code == 400
