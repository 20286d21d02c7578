"""The Elasticsearch calls shippers make on start: version info, license, health, index management."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient


def test_info_looks_like_an_elasticsearch_8_node(client: TestClient) -> None:
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.headers["X-Elastic-Product"] == "Elasticsearch"
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["tagline"] == "You Know, for Search"
    assert body["cluster_name"] == body["name"] == "logwarden"
    assert body["cluster_uuid"]
    version = body["version"]
    assert version["number"] == "8.11.0"
    assert version["build_flavor"] == "default"
    assert version["minimum_wire_compatibility_version"] == "7.17.0"


def test_head_root(client: TestClient) -> None:
    resp = client.head("/")
    assert resp.status_code == 200
    assert resp.headers["X-Elastic-Product"] == "Elasticsearch"
    assert resp.content == b""


def test_license_is_an_active_basic_one(client: TestClient) -> None:
    resp = client.get("/_license", params={"human": "false"})
    assert resp.status_code == 200
    license_ = resp.json()["license"]
    assert (license_["type"], license_["status"]) == ("basic", "active")
    assert license_["uid"]
    xpack = client.get("/_xpack").json()
    assert xpack["license"]["type"] == "basic"


def test_cluster_health_is_green(client: TestClient) -> None:
    for path in ("/_cluster/health", "/_cluster/health/logs-*"):
        resp = client.get(path)
        assert resp.status_code == 200
        assert resp.json()["status"] == "green"
        assert resp.headers["X-Elastic-Product"] == "Elasticsearch"


@pytest.mark.parametrize(
    "path",
    [
        "/_index_template/logs",
        "/_template/logstash",
        "/_component_template/ecs",
        "/_ilm/policy/filebeat",
        "/_ingest/pipeline/filebeat-8.11.0-system-syslog-pipeline",
        "/_data_stream/logs-generic-default",
        "/_alias/logstash",
    ],
)
def test_index_management_reads_404_and_writes_are_acknowledged(client: TestClient, path: str) -> None:
    missing = client.get(path)
    assert missing.status_code == 404
    assert missing.headers["X-Elastic-Product"] == "Elasticsearch"
    assert missing.json()["error"]["type"] == "resource_not_found_exception"
    assert client.head(path).status_code == 404
    put = client.put(path, json={"index_patterns": ["logs-*"], "template": {}})
    assert put.status_code == 200
    assert put.json() == {"acknowledged": True}
    assert client.delete(path).json() == {"acknowledged": True}


def test_every_index_exists_and_can_be_created(client: TestClient) -> None:
    head = client.head("/logs-app-2026.11.21")
    assert head.status_code == 200
    assert head.headers["X-Elastic-Product"] == "Elasticsearch"
    # Logstash's ILM bootstrap, URL-encoded as it sends it.
    created = client.put(
        "/%3Clogstash-%7Bnow%2Fd%7D-000001%3E", json={"aliases": {"logstash": {"is_write_index": True}}}
    )
    assert created.status_code == 200
    assert created.json() == {"acknowledged": True, "shards_acknowledged": True, "index": "<logstash-{now/d}-000001>"}
    assert client.put("/_unknown_api").status_code == 400


def test_probe_routes_do_not_shadow_the_api(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.head("/healthz").status_code == 200
    assert "X-Elastic-Product" not in client.get("/readyz").headers
    assert client.get("/api/v1/search").status_code == 200
    assert client.get("/_bulk").status_code == 405
