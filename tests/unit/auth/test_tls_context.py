"""The server's TLS context (checked files, reload that keeps the last good certificate), HSTS, and client
certificates mapped to principals."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from logwarden.api.app import create_app
from logwarden.auth.tls import ReloadableTls, TlsConfigError, build_context, peer_names
from logwarden.config.loader import ConfigError, load_config
from logwarden.config.security import TlsConfig
from tests.conftest import make_config
from tests.unit.auth.certs import Issued, issue, make_ca


@pytest.fixture
def ca(tmp_path: Path) -> Issued:
    return make_ca(tmp_path)


def test_a_missing_certificate_file_names_the_field_and_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.pem"
    with pytest.raises(TlsConfigError, match=r"conf.yaml: http.tls.cert_file \(.*absent.pem\): cannot read"):
        build_context(TlsConfig(cert_file=missing), "conf.yaml")


def test_a_key_that_is_not_the_certificates_is_refused(tmp_path: Path, ca: Issued) -> None:
    server = issue(ca, tmp_path, "s", server=True)
    other = issue(ca, tmp_path, "o", server=True)
    with pytest.raises(TlsConfigError, match=r"http.tls.key_file \(.*o.key\): cannot load the certificate"):
        build_context(TlsConfig(cert_file=server.cert_file, key_file=other.key_file))


def test_a_ca_bundle_that_is_not_pem_is_refused(tmp_path: Path, ca: Issued) -> None:
    server = issue(ca, tmp_path, "s", server=True)
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    tls = TlsConfig(cert_file=server.cert_file, key_file=server.key_file, client_auth="require", client_ca_file=junk)
    with pytest.raises(TlsConfigError, match=r"http.tls.client_ca_file \(.*ca.pem\)"):
        build_context(tls)


def test_reload_swaps_the_context_and_a_failed_one_keeps_it(
    tmp_path: Path, ca: Issued, caplog: pytest.LogCaptureFixture
) -> None:
    server = issue(ca, tmp_path, "s", server=True)
    tls = ReloadableTls(TlsConfig(cert_file=server.cert_file, key_file=server.key_file))
    assert tls.current is tls.context
    assert tls.reload() is True
    second = tls.current
    assert second is not tls.context and tls.reloads == 1
    server.cert_file.write_text("half-written\n")
    with caplog.at_level(logging.ERROR, logger="logwarden.auth.tls"):
        assert tls.reload() is False
    assert tls.current is second and tls.reloads == 1
    assert "TLS reload failed, keeping the previous certificate" in caplog.text
    assert "http.tls.cert_file" in caplog.text


def test_tls_settings_that_contradict_each_other_fail_at_load(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("http:\n  tls:\n    cert_file: s.pem\n    client_auth: require\n")
    with pytest.raises(ConfigError, match="client_ca_file: needed with client_auth: require"):
        load_config(config)
    config.write_text("http:\n  tls:\n    key_file: k.pem\n")
    with pytest.raises(ConfigError, match="cert_file: needed"):
        load_config(config)
    config.write_text("http:\n  tls:\n    cert_file: s.pem\n    client_principals: [{name: a, tenant: t}]\n")
    with pytest.raises(ConfigError, match="client_principals: needs client_auth"):
        load_config(config)


def test_peer_names_are_the_common_name_then_the_alternative_names() -> None:
    cert = {
        "subject": ((("countryName", "DE"),), (("commonName", "agent-1"),)),
        "subjectAltName": (("DNS", "agent-1.example"), ("IP Address", "10.0.0.1"), ("email", "ops@example")),
    }
    assert peer_names(cert) == ("agent-1", "agent-1.example", "ops@example")
    assert peer_names({}) == ()


def _with_client_cert(app: object, names: tuple[str, ...]) -> object:
    """The app as the TLS protocol would call it: the connection's verified client certificate in the scope."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "extensions": {**scope.get("extensions", {}), "tls": {"client_cert_names": names}}}
        await app(scope, receive, send)  # type: ignore[operator]

    return wrapped


def _tls_config(tmp_path: Path, ca: Issued) -> dict[str, object]:
    server = issue(ca, tmp_path, "s", server=True)
    return {
        "auth.enabled": True,
        "http.tls": {
            "cert_file": str(server.cert_file),
            "key_file": str(server.key_file),
            "client_auth": "optional",
            "client_ca_file": str(ca.cert_file),
            "client_principals": [{"name": "Agent-1.Example", "tenant": "acme", "role": "ingest"}],
        },
    }


def test_a_mapped_client_certificate_is_the_principal_and_an_unmapped_one_is_anonymous(
    tmp_path: Path, ca: Issued
) -> None:
    app = create_app(make_config(tmp_path, **_tls_config(tmp_path, ca)), run_maintenance=False)
    with TestClient(app) as lifespan:
        mapped = TestClient(_with_client_cert(app, ("agent-1", "agent-1.example")), base_url="https://testserver")  # type: ignore[arg-type]
        me = mapped.get("/api/v1/auth/me")
        assert me.status_code == 200, me.text
        assert {k: me.json()[k] for k in ("name", "kind", "tenant", "role", "via")} == {
            "name": "Agent-1.Example",
            "kind": "cert",
            "tenant": "acme",
            "role": "ingest",
            "via": "certificate",
        }
        assert mapped.post("/api/v1/ingest", content=b'{"msg": "m"}').status_code == 200
        assert mapped.get("/api/v1/search", params={"q": "m"}).status_code == 403
        # A wrong API key beside a mapped certificate: the presented credential is checked, 401.
        assert mapped.get("/api/v1/auth/me", headers={"Authorization": "Bearer lw_nope"}).status_code == 401
        unmapped = TestClient(_with_client_cert(app, ("someone-else",)), base_url="https://testserver")  # type: ignore[arg-type]
        assert unmapped.get("/api/v1/auth/me").status_code == 401
        assert lifespan.get("/readyz").status_code == 200


def test_hsts_is_sent_over_https_only(tmp_path: Path, ca: Issued) -> None:
    app = create_app(make_config(tmp_path, **_tls_config(tmp_path, ca)), run_maintenance=False)
    with TestClient(app, base_url="https://testserver") as https:
        resp = https.get("/healthz")
        assert resp.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        assert https.get("/api/v1/auth/me").headers["strict-transport-security"]  # a 401 carries it too
        plain = TestClient(app, base_url="http://testserver")
        assert "strict-transport-security" not in plain.get("/healthz").headers


def test_no_hsts_without_tls_or_with_max_age_zero(tmp_path: Path, ca: Issued) -> None:
    with TestClient(create_app(make_config(tmp_path), run_maintenance=False), base_url="https://testserver") as c:
        assert "strict-transport-security" not in c.get("/healthz").headers
    overrides = _tls_config(tmp_path, ca)
    overrides["http.tls"] = {**overrides["http.tls"], "hsts_max_age": "0s"}  # type: ignore[dict-item]
    app = create_app(make_config(tmp_path / "z", **overrides), run_maintenance=False)
    with TestClient(app, base_url="https://testserver") as c:
        assert "strict-transport-security" not in c.get("/healthz").headers
