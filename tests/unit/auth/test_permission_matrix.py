"""Every route of the app × every role (and no credential): 401, 403 or through, as ROUTE_NEEDS says.

The app's routes are walked (mounts included), so a route added without an entry in the table fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from logwarden.api.app import create_app
from logwarden.auth.permissions import AUTHENTICATED, PUBLIC, app_paths, need_of, route_needs
from logwarden.auth.roles import Permission, Role, allows
from logwarden.config.security import AuthConfig
from tests.conftest import make_config
from tests.unit.auth.conftest import AuthServer

_PARAM = re.compile(r"\{[^}]+\}")
# Requests that get past the gate must end quickly: a live tail with a bad query answers 400 instead of streaming.
_QUERY = {"/api/v1/tail": {"q": "("}}


def _concrete(path: str) -> str:
    return _PARAM.sub("x", path)


def test_every_route_of_the_app_is_in_the_table(tmp_path: Path) -> None:
    app = create_app(make_config(tmp_path, **{"auth.enabled": True}))
    table = route_needs(AuthConfig(enabled=True))
    missing = []
    for path, methods in app_paths(app.routes):
        spec = table.get(path)
        if spec is None:
            missing.append(path)
        elif isinstance(spec, dict):
            missing.extend(f"{m} {path}" for m in sorted(methods - {"HEAD"}) if m not in spec)
    assert missing == [], "add these to auth/permissions.py ROUTE_NEEDS"
    served = {path for path, _ in app_paths(app.routes)}
    assert sorted(set(table) - served) == [], "entries for routes the app does not serve"


def test_every_role_on_every_route(server: AuthServer) -> None:
    table = route_needs(AuthConfig(enabled=True))
    client = server.client
    checked = 0
    for path, methods in app_paths(client.app.routes):  # type: ignore[attr-defined]
        spec = table[path]
        url = _concrete(path) + ("/app.js" if methods == {"*"} else "")
        for method in sorted(methods - {"HEAD"} if methods != {"*"} else {"GET"}):
            need = need_of(spec, method)
            body = b"{}" if method in ("POST", "PUT") else None
            params = _QUERY.get(path, {})
            anonymous = client.request(method, url, content=body, params=params)
            if need == PUBLIC:
                assert anonymous.status_code not in (401, 403), (method, path, anonymous.text)
            else:
                assert anonymous.status_code == 401, (method, path, anonymous.text)
                assert "Bearer" in anonymous.headers["www-authenticate"]
            for role in Role:
                resp = client.request(method, url, content=body, params=params, headers=server.headers("alpha", role))
                allowed = need in (PUBLIC, AUTHENTICATED) or allows(role, Permission(need))
                if allowed:
                    assert resp.status_code not in (401, 403), (role, method, path, resp.text)
                else:
                    assert resp.status_code == 403, (role, method, path, resp.text)
                    assert str(need) in resp.json()["error"]
                checked += 1
    assert checked > 400


@pytest.mark.parametrize("metrics_public", [True, False])
def test_metrics_need_a_credential_only_when_configured(tmp_path: Path, metrics_public: bool) -> None:
    from tests.unit.auth.conftest import started

    with started(tmp_path, **{"auth.metrics_public": metrics_public}) as server:
        anonymous = server.client.get("/metrics")
        assert anonymous.status_code == (200 if metrics_public else 401)
        viewer = server.client.get("/metrics", headers=server.headers("alpha", Role.VIEWER))
        assert viewer.status_code == (200 if metrics_public else 403)
        admin = server.client.get("/metrics", headers=server.headers("alpha", Role.ADMIN))
        assert admin.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "lowest"),
    [
        ("GET", "/api/v1/search", Role.VIEWER),
        ("GET", "/api/v1/tail", Role.VIEWER),
        ("POST", "/api/v1/sql", Role.EDITOR),
        ("POST", "/api/v1/rules", Role.EDITOR),
        ("POST", "/api/v1/silences", Role.EDITOR),
        ("POST", "/api/v1/alerts/{fingerprint}/ack", Role.EDITOR),
        ("GET", "/api/v1/audit", Role.ADMIN),
        ("POST", "/api/v1/ingest", Role.ADMIN),
    ],
)
def test_the_table_gives_what_the_issue_asks(method: str, path: str, lowest: Role) -> None:
    """Independent of the table: the least role for a few routes, and `ingest` reaching nothing but ingest."""
    need = need_of(route_needs(AuthConfig())[path], method)
    order = [Role.VIEWER, Role.EDITOR, Role.ADMIN]
    for role in order:
        assert allows(role, Permission(need)) == (order.index(role) >= order.index(lowest)), role
    assert allows(Role.INGEST, Permission(need)) == (path == "/api/v1/ingest")
