"""Secure defaults: no auth means loopback only, one implicit admin, and a refusal to start anywhere else."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.auth.exposure import ExposedWithoutAuthError, check_exposure, is_loopback
from logwarden.cli import main
from tests.conftest import make_config


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        *[("127.0.0.1", True), ("127.9.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True)],
        *[("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("example.com", False)],
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_public_bind_without_auth_is_refused_naming_the_settings(tmp_path: Path) -> None:
    with pytest.raises(ExposedWithoutAuthError) as refused:
        check_exposure(make_config(tmp_path, **{"http.host": "0.0.0.0"}))
    assert "auth.enabled" in str(refused.value) and "logwarden users add" in str(refused.value)
    check_exposure(make_config(tmp_path, **{"http.host": "0.0.0.0", "auth.enabled": True}))


def test_serve_refuses_to_start_on_a_public_address_without_auth(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["serve", "--data-dir", str(tmp_path / "data"), "--http-host", "0.0.0.0", "--http-port", "0"]
    )
    assert result.exit_code == 2, result.output
    assert "refusing to listen on 0.0.0.0 without authentication" in result.output
    assert "auth.enabled" in result.output


def test_on_loopback_without_auth_every_request_is_the_local_admin(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="logwarden.auth.exposure"):
        app = create_app(make_config(tmp_path))
    assert "implicit local admin" in caplog.text
    with TestClient(app) as client:
        me = client.get("/api/v1/auth/me").json()
        assert (me["kind"], me["role"], me["tenant"], me["auth_enabled"]) == ("local", "admin", "default", False)
        # A credential is still checked: a wrong key is refused, not ignored.
        assert client.get("/api/v1/auth/me", headers={"Authorization": "Bearer lw_000000000000_x"}).status_code == 401
