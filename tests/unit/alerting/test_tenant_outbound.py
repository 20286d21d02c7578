"""The outbound guard on tenants' receivers (SSRF): internal destinations are refused when a tenant sets its config
(400 naming the field) and at every connection on the resolved address, unless the operator allows them; the
config file's receivers are never checked."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from logwarden.alerting.config import AlertingConfig, TenantConfigsSettings
from logwarden.alerting.notify.outbound import OutboundPolicy, guarded_client, refused_range, set_policy
from logwarden.api.runtime import runtime_of
from logwarden.auth.roles import Role
from tests.unit.alerting.capture import CaptureServer
from tests.unit.alerting.test_tenant_config_api import delivery_attempts, fire, put, tenant_config
from tests.unit.auth.conftest import AuthServer, started

ROUTE = {"receiver": "ops", "group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h"}


@pytest.fixture
def server(tmp_path: Path, hook: CaptureServer) -> Iterator[AuthServer]:
    """A server whose own file routes to loopback, with no `allow_hosts` (the default)."""
    file = {"alerting.route": ROUTE, "alerting.receivers": [{"name": "ops", "webhook": {"url": f"{hook.url}/file"}}]}
    with started(tmp_path, **file) as running:
        yield running


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.100.100.200", "shared"),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ],
)
def test_internal_ranges_are_refused_and_public_ones_are_not(address: str, why: str | None) -> None:
    assert refused_range(ipaddress.ip_address(address)) == why


def test_the_operator_allows_networks_and_host_names() -> None:
    policy = OutboundPolicy.from_settings(["10.2.0.0/16", "Hooks.Internal.Example", "::1"])
    assert policy.address_refusal(ipaddress.ip_address("10.2.9.9")) is None
    assert policy.address_refusal(ipaddress.ip_address("10.3.0.1")) == "10.3.0.1 is a private address"
    assert policy.address_refusal(ipaddress.ip_address("::1")) is None
    policy.check_url("https://hooks.internal.example./x", "url")  # allowed by name: not resolved at all
    with pytest.raises(ValueError, match=r"^url: 10\.3\.0\.1 is a private address.*tenant_configs\.allow_hosts"):
        policy.check_url("http://10.3.0.1/x", "url")
    with pytest.raises(ValueError, match="http:// or https://"):
        policy.check_url("gopher://example.com/", "url")


@pytest.mark.parametrize("entry", ["", "10.0.0.0/33", "a b", "http://x/"])
def test_a_bad_allow_hosts_entry_fails_naming_it(entry: str) -> None:
    with pytest.raises(ValidationError, match=r"tenant_configs\.allow_hosts"):
        AlertingConfig.model_validate({"tenant_configs": {"allow_hosts": ["ok.example", entry]}})


def test_the_guarded_client_checks_the_resolved_address(hook: CaptureServer) -> None:
    port = hook.url.rsplit(":", 1)[1]
    with guarded_client(OutboundPolicy()) as client:
        with pytest.raises(httpx.ConnectError, match=r"refused: localhost resolves to .*loopback"):
            client.post(f"http://localhost:{port}/x", json={})
        set_policy(client, OutboundPolicy.from_settings(["127.0.0.0/8"]))  # a reload of the operator's setting
        assert client.post(f"http://127.0.0.1:{port}/x", json={}).status_code == 200
    assert [r.path for r in hook.requests] == ["/x"]


@pytest.mark.parametrize(
    ("receiver", "field"),
    [
        ({"webhook": {"url": "http://127.0.0.1:9/hook"}}, "receivers.0.webhook.0.url"),
        ({"webhook": [{"url": "https://ok.example/"}, {"url": "http://[::1]/"}]}, "receivers.0.webhook.1.url"),
        ({"slack": {"url": "http://169.254.169.254/latest/meta-data"}}, "receivers.0.slack.0.url"),
        ({"telegram": {"bot_token": "1:a", "chat_id": "1", "api_url": "http://10.0.0.1"}},
         "receivers.0.telegram.0.api_url"),
        ({"email": {"host": "127.0.0.1", "from": "a@b.example", "to": ["c@d.example"]}}, "receivers.0.email.0.host"),
        ({"apprise": {"urls": ["json://example.com/"]}}, "receivers.0.apprise.0.urls.0"),
    ],
)  # fmt: skip
def test_a_tenant_receiver_to_an_internal_address_is_a_400_naming_the_field(
    server: AuthServer, receiver: dict[str, Any], field: str
) -> None:
    body = {"route": {"receiver": "ops"}, "receivers": [{"name": "ops", **receiver}]}
    resp = put(server, "alpha", body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"].startswith(f"alerting config: {field}: ")


def test_a_loopback_receiver_is_delivered_when_the_operator_allows_it(tmp_path: Path, hook: CaptureServer) -> None:
    with started(tmp_path, **{"alerting.tenant_configs.allow_hosts": ["127.0.0.0/8"]}) as server:
        assert put(server, "alpha", tenant_config(hook.url)).status_code == 200
        resp = server.client.post("/api/v1/receivers/ops/test", headers=server.headers("alpha", Role.ADMIN))
        assert resp.json()["results"][0]["outcome"] == "delivered"
        assert [r.path for r in hook.wait_for(1)] == ["/alpha"]


def test_a_name_resolving_to_loopback_is_refused_when_sending(server: AuthServer, hook: CaptureServer) -> None:
    port = hook.url.rsplit(":", 1)[1]
    assert put(server, "alpha", tenant_config(f"http://localhost:{port}")).status_code == 200  # a name: allowed
    test = server.client.post("/api/v1/receivers/ops/test", headers=server.headers("alpha", Role.ADMIN))
    (result,) = test.json()["results"]
    assert result["outcome"] == "retriable" and "refused: localhost resolves to" in result["answer"]
    fire(server, "alpha")
    fire(server, "bravo")  # the file's receiver to loopback still delivers: the operator's file is trusted
    (delivered,) = hook.wait_for(1, timeout=30)
    assert delivered.path == "/file" and delivered.json()["alerts"][0]["labels"]["tenant"] == "bravo"
    attempts = delivery_attempts(server, "alpha")
    assert attempts and attempts[0]["outcome"] == "retriable"
    assert "refused: localhost resolves to" in attempts[0]["answer"] and "allow_hosts" in attempts[0]["answer"]
    assert [r.path for r in hook.requests] == ["/file"]


def test_allowing_the_name_lets_it_through(tmp_path: Path, hook: CaptureServer) -> None:
    port = hook.url.rsplit(":", 1)[1]
    with started(tmp_path, **{"alerting.tenant_configs.allow_hosts": ["localhost"]}) as server:
        assert put(server, "alpha", tenant_config(f"http://localhost:{port}")).status_code == 200
        fire(server, "alpha")
        (request,) = hook.wait_for(1, timeout=30)
        assert request.path == "/alpha"


def test_a_tenant_may_not_set_the_allow_list(server: AuthServer, hook: CaptureServer) -> None:
    body = {**tenant_config("https://hooks.example"), "tenant_configs": {"allow_hosts": ["127.0.0.1"]}}
    resp = put(server, "alpha", body)
    assert resp.status_code == 400 and "tenant_configs: a server-wide setting" in resp.json()["error"]


def test_a_reload_of_the_allow_list_applies_to_the_next_connection(server: AuthServer, hook: CaptureServer) -> None:
    port = hook.url.rsplit(":", 1)[1]
    assert put(server, "alpha", tenant_config(f"http://localhost:{port}")).status_code == 200
    service = runtime_of(server.client).alerting
    assert service is not None

    def test_outcome() -> str:
        resp = server.client.post("/api/v1/receivers/ops/test", headers=server.headers("alpha", Role.ADMIN))
        return str(resp.json()["results"][0]["outcome"])

    assert test_outcome() == "retriable"
    allowed = service.config.model_copy(update={"tenant_configs": TenantConfigsSettings(allow_hosts=["localhost"])})
    assert service.reload(allowed) == "applied"
    assert test_outcome() == "delivered" and [r.path for r in hook.requests] == ["/alpha"]
