"""The OpenAPI document at /api/v1/openapi.json: valid OpenAPI 3.1, and exactly the app's routes."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate
from starlette.routing import Route
from starlette.testclient import TestClient

from logwarden.api.openapi import DOCUMENTED_OTHER_PATHS, OPENAPI_PATH

_METHODS = {"get", "put", "post", "delete", "patch", "options", "head"}


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in doc["paths"].items() for method in item if method in _METHODS}


def served(client: TestClient) -> set[tuple[str, str]]:
    operations = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        if not isinstance(route, Route):
            continue
        if route.path.startswith("/api/v1/") or route.path in DOCUMENTED_OTHER_PATHS:
            # Starlette answers HEAD for every GET route by itself.
            operations |= {(route.path, m) for m in route.methods or () if m != "HEAD"}
    return operations


def test_document_is_served_and_valid_openapi_3_1(client: TestClient) -> None:
    resp = client.get(OPENAPI_PATH)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    doc = resp.json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_document_lists_exactly_the_served_operations(client: TestClient) -> None:
    doc = client.get(OPENAPI_PATH).json()
    assert documented(doc) == served(client)
    for path in ("/api/v1/ingest", "/_bulk", "/loki/api/v1/push", "/v1/logs", "/healthz", "/readyz", "/metrics"):
        assert path in doc["paths"]


def test_every_operation_documents_its_path_parameters_and_a_success(client: TestClient) -> None:
    doc = client.get(OPENAPI_PATH).json()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            params = [*item.get("parameters", []), *operation.get("parameters", [])]
            names = {p["name"] for p in params if "name" in p and p.get("in") == "path"}
            wanted = {part[1:-1] for part in path.split("/") if part.startswith("{")}
            assert names == wanted, (path, method)
            assert any(code.startswith("2") for code in operation["responses"]), (path, method)
