"""The HTTP endpoints see the server through `IngestHttpContext`; the api's Runtime satisfies it."""

from __future__ import annotations

from starlette.testclient import TestClient

from logwarden.ingest.http.context import IngestHttpContext


def test_the_app_runtime_is_an_ingest_context(client: TestClient) -> None:
    assert isinstance(client.app.state.runtime, IngestHttpContext)  # type: ignore[attr-defined]


def test_refusals_answer_as_api_errors_do(client: TestClient) -> None:
    resp = client.post("/api/v1/ingest", content=b'{"msg": "x"}\n', headers={"X-Scope-OrgID": "bad tenant"})
    assert resp.status_code == 400
    assert resp.json() == {
        "error": "invalid tenant in X-Scope-OrgID: tenant names are 1-64 characters of letters, digits, '_', '.', "
        "'-', starting with a letter or digit"
    }
    resp = client.post("/api/v1/ingest", content=b"{}", headers={"Content-Length": "x1"})
    assert resp.status_code == 400 and resp.json() == {"error": "invalid Content-Length"}
    resp = client.post("/api/v1/ingest", content=b"{}", headers={"Content-Encoding": "br"})
    assert resp.status_code == 415 and resp.json()["error"].startswith("unsupported Content-Encoding 'br'")
    refused = client.get("/metrics").text
    assert 'logwarden_refused_requests_total{route="/api/v1/ingest",status="415"} 1.0' in refused


def test_not_ready_is_503_with_retry_after(client: TestClient) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    runtime.ready = False
    try:
        resp = client.post("/api/v1/ingest", content=b'{"msg": "x"}\n')
    finally:
        runtime.ready = True
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "1"
    assert resp.json() == {"error": "logwarden is starting or stopping; retry shortly"}
