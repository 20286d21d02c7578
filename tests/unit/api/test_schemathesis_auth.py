"""Schemathesis against the OpenAPI document of an app with authentication on: with a valid admin key no operation
answers 5xx; without a credential no protected operation answers 2xx (the open ones: health, readiness, login,
the OpenAPI document and, with `auth.metrics_public`, /metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from starlette.applications import Starlette

from logwarden.api.app import create_app
from logwarden.auth.permissions import PUBLIC, need_of, route_needs
from logwarden.auth.roles import Role
from logwarden.auth.store import AuthStore
from logwarden.config import load_config
from logwarden.config.model import Config
from logwarden.config.security import AuthConfig
from logwarden.meta.db import MetaDB, default_url
from tests.unit.api.test_schemathesis import schema

# Small: every operation runs twice (with and without a key), each on an app of its own; the deep fuzzing is
# test_schemathesis.py's (auth off, the implicit admin). This file checks the auth layer.
MAX_EXAMPLES_WITH_KEY = 5
MAX_EXAMPLES_WITHOUT = 2


def _config(tmp_path: Path) -> Config:
    overrides = {"data_dir": str(tmp_path / "data"), "auth.enabled": True, "auth.credential_cache": "0s"}
    return load_config(None, env={}, overrides=overrides)


@pytest.fixture
def authed(tmp_path: Path) -> tuple[Starlette, str]:
    """An app with auth on, and an admin key of the default tenant made before it starts (as the CLI would)."""
    config = _config(tmp_path)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    db = MetaDB(default_url(config.data_dir))
    try:
        key = AuthStore(db.engine).create_key(tenant=config.ingest.default_tenant, role=Role.ADMIN, name="fuzz")[1]
    finally:
        db.close()
    return create_app(config, run_maintenance=False), key


@pytest.fixture
def anonymous(tmp_path: Path) -> Starlette:
    return create_app(_config(tmp_path), run_maintenance=False)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES_WITH_KEY, deadline=None, suppress_health_check=list(HealthCheck))
def test_with_a_valid_key_no_operation_answers_5xx(case: schemathesis.Case[Any], authed: tuple[Starlette, str]) -> None:
    app, key = authed
    response = case.call(app=app, headers={"Authorization": f"Bearer {key}"})
    case.validate_response(response, checks=[not_a_server_error])
    if case.operation.path != "/api/v1/auth/login":  # a wrong generated password is 401 there
        assert response.status_code != 401, (case.method, case.formatted_path, response.text)  # the key works


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES_WITHOUT, deadline=None, suppress_health_check=list(HealthCheck))
def test_without_a_credential_no_protected_operation_answers_2xx(
    case: schemathesis.Case[Any], anonymous: Starlette
) -> None:
    # Generated headers must not smuggle a credential in (they would be checked: 401 anyway, but not "none").
    for name in list(case.headers or {}):
        if name.lower() in ("authorization", "cookie"):
            del case.headers[name]
    response = case.call(app=anonymous)
    spec = route_needs(AuthConfig(enabled=True)).get(case.operation.path)
    if spec is not None and need_of(spec, case.method.upper()) == PUBLIC:
        assert response.status_code < 500, (case.method, case.path, response.status_code)
        return
    assert response.status_code in (401, 404, 405), (case.method, case.formatted_path, response.status_code)
    if response.status_code == 401:
        assert "www-authenticate" in {h.lower() for h in response.headers}
