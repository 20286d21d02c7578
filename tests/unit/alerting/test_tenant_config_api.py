"""Per-tenant alerting configs over the API: a tenant's receivers and routes are its own (cross-tenant), only
admins change them, a bad config is a 400 naming the field, every change is audited, and a restart keeps them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from logwarden.api.runtime import runtime_of
from logwarden.auth.roles import Role
from tests.unit.alerting.capture import CaptureServer
from tests.unit.auth.conftest import AuthServer, started

RULE = {"name": "disk-full", "type": "threshold", "query": "event:disk_full", "window": "5m", "threshold": 0}
TOKEN = "s3cret-bearer-token"
# The capture servers listen on loopback, which tenants' receivers may not reach unless the operator allows it.
ALLOW_LOOPBACK = {"alerting.tenant_configs.allow_hosts": ["127.0.0.1"]}


def file_alerting(hook: str) -> dict[str, Any]:
    """The config file's section: the fallback for every tenant without its own."""
    return {
        "alerting.route": {"receiver": "ops", "group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h"},
        "alerting.receivers": [{"name": "ops", "webhook": {"url": f"{hook}/file"}}],
        **ALLOW_LOOPBACK,
    }


def tenant_config(hook: str, path: str = "/alpha", receiver: str = "ops") -> dict[str, Any]:
    return {
        "route": {"receiver": receiver, "group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": receiver, "webhook": {"url": f"{hook}{path}", "bearer_token": TOKEN}}],
    }


@pytest.fixture
def server(tmp_path: Path, hook: CaptureServer) -> Iterator[AuthServer]:
    with started(tmp_path, **file_alerting(hook.url)) as running:
        yield running


def put(server: AuthServer, tenant: str, body: Any, role: Role = Role.ADMIN, **headers: str) -> Any:
    content = body if isinstance(body, bytes | str) else orjson.dumps(body)
    return server.client.put(
        "/api/v1/alerting/config", content=content, headers=server.headers(tenant, role, **headers)
    )


def identity(server: AuthServer, tenant: str, role: Role) -> str:
    """How the audit log and `updated_by` name a key: `key:<its prefix>`."""
    return "key:" + "_".join(server.keys[(tenant, role)].split("_")[:2])


def fire(server: AuthServer, tenant: str) -> None:
    """A rule in `tenant` and a line that makes it fire."""
    made = server.client.post(
        "/api/v1/rules",
        json={"rule": {**RULE, "name": f"{tenant}-disk-full"}},
        headers=server.headers(tenant, Role.EDITOR),
    )
    assert made.status_code == 201, made.text
    line = {"ts": datetime.now(UTC).isoformat(), "event": "disk_full", "host": f"{tenant}-db", "message": "full"}
    sent = server.client.post("/api/v1/ingest", content=orjson.dumps(line), headers=server.headers(tenant, Role.INGEST))
    assert sent.status_code == 200, sent.text


def delivery_attempts(server: AuthServer, tenant: str, timeout: float = 30) -> list[dict[str, Any]]:
    """The tenant's delivery attempts, once there is one (or `[]` after `timeout` seconds)."""
    service = runtime_of(server.client).alerting
    assert service is not None
    deadline = time.monotonic() + timeout
    while not (attempts := service.queue.attempts(tenant)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return attempts


def tenants_by_path(hook: CaptureServer) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for request in hook.requests:
        for alert in request.json()["alerts"]:
            out.setdefault(request.path, set()).add(alert["labels"]["tenant"])
    return out


def test_a_tenants_alerts_go_only_through_its_own_receivers(server: AuthServer, hook: CaptureServer) -> None:
    # Same receiver name as the file's: a receiver name may exist in two tenants.
    done = put(server, "alpha", tenant_config(hook.url))
    assert done.status_code == 200, done.text
    assert done.json()["receivers_changed"] == ["ops"] and done.json()["version"] == 1
    fire(server, "alpha")
    fire(server, "bravo")
    hook.wait_for(2, timeout=30)
    time.sleep(0.5)  # anything else on its way arrives too
    assert tenants_by_path(hook) == {"/alpha": {"alpha"}, "/file": {"bravo"}}
    (alpha_request,) = [r for r in hook.requests if r.path == "/alpha"]
    assert alpha_request.headers["authorization"] == f"Bearer {TOKEN}"
    # Each tenant lists its own effective receivers and notifications only.
    alpha = server.client.get("/api/v1/receivers", headers=server.headers("alpha", Role.VIEWER)).json()
    bravo = server.client.get("/api/v1/receivers", headers=server.headers("bravo", Role.VIEWER)).json()
    assert "/alpha" in alpha["receivers"][0]["integrations"][0]["target"]
    assert "/file" in bravo["receivers"][0]["integrations"][0]["target"] and "/alpha" not in str(bravo)
    assert alpha["receivers"][0]["integrations"][0]["delivered"] == 1
    assert bravo["receivers"][0]["integrations"][0]["delivered"] == 1


def test_get_shows_the_effective_config_redacted_and_whether_it_is_the_fallback(
    server: AuthServer, hook: CaptureServer
) -> None:
    client = server.client
    before = client.get("/api/v1/alerting/config", headers=server.headers("alpha", Role.VIEWER)).json()
    assert before["fallback"] is True and before["config"]["receivers"][0]["name"] == "ops"
    assert put(server, "alpha", tenant_config(hook.url, receiver="alpha-team")).status_code == 200
    mine = client.get("/api/v1/alerting/config", headers=server.headers("alpha", Role.VIEWER))
    assert mine.status_code == 200
    body = mine.json()
    assert (
        body["fallback"] is False
        and body["version"] == 1
        and body["updated_by"] == identity(server, "alpha", Role.ADMIN)
    )
    assert body["config"]["route"]["receiver"] == "alpha-team"
    assert TOKEN not in mine.text and "/alpha" not in mine.text  # secrets (the URL too) are redacted
    assert body["config"]["receivers"][0]["webhook"][0]["bearer_token"] == "**********"
    # Bravo still has the file's, and never sees alpha's.
    other = client.get("/api/v1/alerting/config", headers=server.headers("bravo", Role.ADMIN))
    assert other.json()["fallback"] is True and "alpha-team" not in other.text
    assert "alpha-team" not in client.get("/api/v1/receivers", headers=server.headers("bravo", Role.ADMIN)).text
    # Back to the fallback.
    gone = client.delete("/api/v1/alerting/config", headers=server.headers("alpha", Role.ADMIN))
    assert gone.status_code == 200 and gone.json()["receivers_removed"] == ["alpha-team"]
    after = client.get("/api/v1/alerting/config", headers=server.headers("alpha", Role.VIEWER)).json()
    assert after["fallback"] is True and after["config"]["route"]["receiver"] == "ops"
    assert client.delete("/api/v1/alerting/config", headers=server.headers("alpha", Role.ADMIN)).status_code == 404


def test_only_admins_change_a_tenants_alerting_config(server: AuthServer, hook: CaptureServer) -> None:
    body = tenant_config(hook.url)
    for role in (Role.VIEWER, Role.EDITOR, Role.INGEST):
        assert put(server, "alpha", body, role).status_code == 403, role
        resp = server.client.delete("/api/v1/alerting/config", headers=server.headers("alpha", role))
        assert resp.status_code == 403, role
    for role in (Role.VIEWER, Role.EDITOR, Role.ADMIN):
        resp = server.client.get("/api/v1/alerting/config", headers=server.headers("alpha", role))
        assert resp.status_code == 200, role
    assert server.client.get("/api/v1/alerting/config", headers=server.headers("alpha", Role.INGEST)).status_code == 403
    assert server.client.put("/api/v1/alerting/config", content=orjson.dumps(body)).status_code == 401
    # An editor naming another tenant is refused before the permission is even considered.
    assert put(server, "alpha", body, Role.EDITOR, **{"X-Scope-OrgID": "bravo"}).status_code == 403
    assert put(server, "alpha", body).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"route": {"receiver": "nobody"}, "receivers": [{"name": "ops"}]}, "route.receiver: no receiver named"),
        ({"receivers": [{"name": "ops", "webhook": {"url": "not a url"}}]}, "receivers.0.webhook.0.url"),
        ({"receivers": [{"name": "ops", "webhok": {}}]}, "receivers.0.webhok"),
        ({"delivery": {"workers": 64}}, "delivery: a server-wide setting"),
        ({"route": {"receiver": "ops", "group_wait": "soon"}, "receivers": [{"name": "ops"}]}, "route.group_wait"),
        ("route: [unclosed", "not valid YAML or JSON at line 1"),
        ("[1, 2]", "must be an object"),
        ('{"\\ud800\\udc00": null}', "\U00010000: unknown setting"),  # schemathesis found these two (500s)
        ('{"x": "\\ud800"}', "not valid Unicode"),
        (
            {"receivers": [{"name": "ops", "webhook": {"url": "http://x/", "bearer_token": "**********"}}]},
            "receivers.0.webhook.0.bearer_token: ********** keeps the stored secret, but the tenant's stored config",
        ),
    ],
)
def test_a_bad_config_is_a_400_naming_the_field(server: AuthServer, body: Any, message: str) -> None:
    resp = put(server, "alpha", body)
    assert resp.status_code == 400, resp.text
    assert message in resp.json()["error"]
    # Nothing was stored or applied.
    got = server.client.get("/api/v1/alerting/config", headers=server.headers("alpha", Role.ADMIN)).json()
    assert got["fallback"] is True


def test_yaml_bodies_and_the_pasted_file_section_are_taken(server: AuthServer, hook: CaptureServer) -> None:
    text = f"""\
alerting:
  route: {{receiver: team}}
  receivers:
    - name: team
      webhook_configs: [{{url: '{hook.url}/team'}}]
"""
    resp = put(server, "alpha", text, **{"Content-Type": "application/yaml"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["receivers_added"] == ["team"] and resp.json()["receivers_removed"] == ["ops"]


def test_every_change_is_audited_without_secrets(server: AuthServer, hook: CaptureServer) -> None:
    client = server.client
    assert put(server, "alpha", tenant_config(hook.url)).status_code == 200
    changed = tenant_config(hook.url)
    changed["receivers"][0]["webhook"]["bearer_token"] = "another-token"
    changed["receivers"].append({"name": "extra", "webhook": {"url": f"{hook.url}/extra"}})
    assert put(server, "alpha", changed).json()["version"] == 2
    assert client.delete("/api/v1/alerting/config", headers=server.headers("alpha", Role.ADMIN)).status_code == 200
    audit = client.get(
        "/api/v1/audit", params={"action": "alerting.config."}, headers=server.headers("alpha", Role.ADMIN)
    )
    assert audit.status_code == 200
    entries = list(reversed(audit.json()["entries"]))
    assert [e["action"] for e in entries] == [
        "alerting.config.update",
        "alerting.config.update",
        "alerting.config.delete",
    ]
    assert all(e["tenant"] == "alpha" and e["actor"] == identity(server, "alpha", Role.ADMIN) for e in entries)
    assert entries[0]["details"]["receivers_changed"] == ["ops"]  # the file's ops → alpha's ops
    assert entries[1]["details"] == {
        "version": 2,
        "receivers_added": ["extra"],
        "receivers_removed": [],
        "receivers_changed": ["ops"],  # only the token changed: still a change, never shown
    }
    assert entries[2]["details"]["receivers_removed"] == ["extra"]
    assert TOKEN not in audit.text and "another-token" not in audit.text and hook.url not in audit.text
    bravo = client.get("/api/v1/audit", params={"action": "alerting."}, headers=server.headers("bravo", Role.ADMIN))
    assert bravo.status_code == 200 and bravo.json()["entries"] == []


def test_a_restart_keeps_the_tenants_config(tmp_path: Path, hook: CaptureServer) -> None:
    with started(tmp_path, **file_alerting(hook.url)) as first:
        assert put(first, "alpha", tenant_config(hook.url, receiver="alpha-team")).status_code == 200
    with started(tmp_path, **file_alerting(hook.url)) as second:
        got = second.client.get("/api/v1/alerting/config", headers=second.headers("alpha", Role.VIEWER)).json()
        assert got["fallback"] is False and got["version"] == 1
        service = runtime_of(second.client).alerting
        assert service is not None and service.effective("alpha")[0].route is not None
        assert service.effective("alpha")[0].route.receiver == "alpha-team"  # type: ignore[union-attr]
        fire(second, "alpha")
        (request,) = hook.wait_for(1, timeout=30)
        assert request.path == "/alpha" and request.json()["receiver"] == "alpha-team"


def test_a_tenant_routes_even_when_the_file_has_no_route(tmp_path: Path, hook: CaptureServer) -> None:
    with started(tmp_path, **ALLOW_LOOPBACK) as server:
        assert runtime_of(server.client).alerting.router is None  # type: ignore[union-attr]
        assert put(server, "alpha", tenant_config(hook.url)).status_code == 200
        fire(server, "alpha")
        fire(server, "bravo")  # the file routes nothing: bravo's alert is listed, never sent
        hook.wait_for(1, timeout=30)
        time.sleep(0.5)
        assert tenants_by_path(hook) == {"/alpha": {"alpha"}}


def test_a_test_notification_goes_through_the_tenants_own_receiver(server: AuthServer, hook: CaptureServer) -> None:
    assert put(server, "alpha", tenant_config(hook.url, receiver="team")).status_code == 200
    client = server.client
    resp = client.post("/api/v1/receivers/team/test", headers=server.headers("alpha", Role.ADMIN))
    assert resp.status_code == 200, resp.text
    (result,) = resp.json()["results"]
    assert result["integration"] == "webhook[0]" and result["outcome"] == "delivered" and result["status"] == 200
    (request,) = hook.wait_for(1)
    assert request.path == "/alpha" and request.json()["alerts"][0]["labels"]["tenant"] == "alpha"
    # Bravo has no receiver `team` (it has the file's `ops`); editors may not send.
    assert client.post("/api/v1/receivers/team/test", headers=server.headers("bravo", Role.ADMIN)).status_code == 404
    assert client.post("/api/v1/receivers/team/test", headers=server.headers("alpha", Role.EDITOR)).status_code == 403
    bravo = client.post("/api/v1/receivers/ops/test", headers=server.headers("bravo", Role.ADMIN))
    assert bravo.status_code == 200 and hook.wait_for(2)[1].path == "/file"
    audit = client.get("/api/v1/audit", params={"action": "receiver."}, headers=server.headers("alpha", Role.ADMIN))
    (entry,) = audit.json()["entries"]
    assert entry["target"] == "team" and entry["details"] == {"outcomes": ["delivered"]}
