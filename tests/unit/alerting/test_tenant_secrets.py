"""Kept secrets: a PUT that sends back a GET's `**********` keeps the stored secret (Grafana's behaviour) when the
receiver and integration still exist under the same name and the destination did not change; otherwise a 400
naming the field. The audit log says "changed" only when a secret really changed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from logwarden.auth.roles import Role
from tests.unit.alerting.capture import CaptureServer
from tests.unit.alerting.test_tenant_config_api import ALLOW_LOOPBACK, TOKEN, put, tenant_config
from tests.unit.auth.conftest import AuthServer, started

MARK = "**********"


@pytest.fixture
def server(tmp_path: Path, hook: CaptureServer) -> Iterator[AuthServer]:
    with started(tmp_path, **ALLOW_LOOPBACK) as running:
        assert put(running, "alpha", tenant_config(hook.url)).status_code == 200
        yield running


def shown(server: AuthServer) -> dict[str, Any]:
    """What GET shows alpha's admin: secrets (the webhook URL and its token) as the marker."""
    got = server.client.get("/api/v1/alerting/config", headers=server.headers("alpha", Role.ADMIN)).json()
    assert got["config"]["receivers"][0]["webhook"][0]["bearer_token"] == MARK
    return dict(got["config"])


def sent_token(server: AuthServer, hook: CaptureServer) -> str:
    """The bearer token the receiver `ops` sends now (through the test endpoint)."""
    before = len(hook.requests)
    resp = server.client.post("/api/v1/receivers/ops/test", headers=server.headers("alpha", Role.ADMIN))
    assert resp.json()["results"][0]["outcome"] == "delivered", resp.text
    return hook.wait_for(before + 1)[-1].headers["authorization"]


def last_update(server: AuthServer) -> dict[str, Any]:
    audit = server.client.get(
        "/api/v1/audit", params={"action": "alerting.config.update"}, headers=server.headers("alpha", Role.ADMIN)
    )
    return dict(audit.json()["entries"][0]["details"])


def test_a_gets_answer_sent_back_keeps_the_secrets_and_changes_nothing(server: AuthServer, hook: CaptureServer) -> None:
    config = shown(server)
    config["route"]["group_wait"] = "5s"  # a change elsewhere, secrets sent back as the marker
    resp = put(server, "alpha", config)
    assert resp.status_code == 200, resp.text
    assert resp.json()["receivers_changed"] == [] and last_update(server)["receivers_changed"] == []
    assert sent_token(server, hook) == f"Bearer {TOKEN}"
    assert [r.path for r in hook.requests] == ["/alpha"]  # the kept URL (a secret too) is the stored one


def test_a_new_secret_beside_a_kept_one_is_a_change(server: AuthServer, hook: CaptureServer) -> None:
    config = shown(server)
    config["receivers"][0]["webhook"][0]["bearer_token"] = "a-new-token"  # the URL stays the marker
    resp = put(server, "alpha", config)
    assert resp.status_code == 200, resp.text
    assert resp.json()["receivers_changed"] == ["ops"]
    assert sent_token(server, hook) == "Bearer a-new-token"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c["receivers"][0].update(name="renamed") or c["route"].update(receiver="renamed"),
            "receivers.0.webhook.0.bearer_token: ********** keeps the stored secret, but the tenant's stored",
        ),
        (
            lambda c: c["receivers"][0].update(
                webhook=[{"url": "https://ok.example/"}, c["receivers"][0]["webhook"][0]]
            ),
            "receivers.0.webhook.1.bearer_token: ********** keeps the stored secret, but the tenant's stored",
        ),
        (
            lambda c: c["receivers"][0]["webhook"][0].update(url="https://elsewhere.example/hook"),
            "receivers.0.webhook.0.bearer_token: ********** keeps the stored secret only where it was sent before,"
            " and receivers.0.webhook.0.url changed",
        ),
    ],
)
def test_a_marker_without_its_stored_secret_is_a_400_naming_the_field(
    server: AuthServer, hook: CaptureServer, change: Any, message: str
) -> None:
    config = shown(server)
    change(config)
    resp = put(server, "alpha", config)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"].startswith(f"alerting config: {message}")
    assert sent_token(server, hook) == f"Bearer {TOKEN}"  # nothing stored


def test_a_marker_outside_a_receiver_is_still_refused(server: AuthServer) -> None:
    config = shown(server)
    config["route"]["receiver"] = MARK
    resp = put(server, "alpha", config)
    assert resp.status_code == 400 and "route.receiver: ********** is how GET hides a secret" in resp.json()["error"]
