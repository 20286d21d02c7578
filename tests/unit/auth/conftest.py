"""An in-process server with authentication on, and API keys of every role in two tenants."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.api.runtime import runtime_of
from logwarden.auth.roles import Role
from logwarden.auth.store import AuthStore
from tests.conftest import make_config


@dataclass
class AuthServer:
    """The client, its repository, and `keys[(tenant, role)]` → the key's text."""

    client: TestClient
    store: AuthStore
    keys: dict[tuple[str, Role], str]

    def headers(self, tenant: str, role: Role, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[(tenant, role)]}", **extra}


@contextmanager
def started(tmp_path: Path, **overrides: Any) -> Iterator[AuthServer]:
    config = make_config(tmp_path, **{"auth.enabled": True, "auth.credential_cache": "0s", **overrides})
    with TestClient(create_app(config, run_maintenance=False)) as client:
        meta = runtime_of(client).meta
        assert meta is not None
        store = AuthStore(meta.engine)
        keys = {}
        for tenant in ("alpha", "bravo"):
            for role in Role:
                keys[(tenant, role)] = store.create_key(tenant=tenant, role=role, name=f"{tenant}-{role}")[1]
        yield AuthServer(client, store, keys)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AuthServer]:
    with started(tmp_path) as running:
        yield running
