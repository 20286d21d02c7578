"""Schemathesis against /api/v1/openapi.json of the in-process app: no operation answers 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from starlette.applications import Starlette
from starlette.routing import Route

from logwarden.api.app import create_app
from logwarden.api.openapi import OPENAPI_PATH, openapi_json
from logwarden.config import load_config

# Bounded so that every operation together runs in well under a minute.
MAX_EXAMPLES = 25


@schemathesis.serializer("application/x-ndjson", "application/x-protobuf")
def _raw_bytes(ctx: object, value: object) -> bytes:
    # Ingest bodies are documented as strings; send them as they are (protobuf decoders get junk bytes).
    return value.encode() if isinstance(value, str) else str(value).encode()


# The schema is read from the route the server mounts; each test then runs a fresh app of its own, because
# schemathesis ends an ASGI app's lifespan after every test and the app's store does not reopen.
loaded = schemathesis.openapi.from_asgi(OPENAPI_PATH, Starlette(routes=[Route(OPENAPI_PATH, openapi_json)]))
# The live tail is an endless stream by design: it never completes a response to check.
schema = loaded.exclude(path="/api/v1/tail")


@pytest.fixture
def app(tmp_path: Path) -> Starlette:
    return create_app(load_config(None, env={}, overrides={"data_dir": str(tmp_path / "data")}), run_maintenance=False)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx(case: schemathesis.Case[Any], app: Starlette) -> None:
    case.call_and_validate(app=app, checks=[not_a_server_error])
