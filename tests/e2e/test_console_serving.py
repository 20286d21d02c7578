"""`GET /` is the console for browsers and Elasticsearch's info for its clients; the whole ES API also lives
under `/es/`; console responses carry the security headers; the static assets ship in the package."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.console.routes import STATIC_DIR
from logwarden.console.shell import boot_data, render_shell
from tests.conftest import ServerProcess, make_config

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
BROWSER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


@pytest.fixture
def exposed_client(tmp_path: Path) -> Iterator[TestClient]:
    """Listening on every interface (allowed with authentication on)."""
    config = make_config(tmp_path, **{"http.host": "0.0.0.0", "auth.enabled": True})
    with TestClient(create_app(config, run_maintenance=False)) as c:
        yield c


def browser_get(client: TestClient, path: str = "/") -> httpx.Response:
    return client.get(path, headers={"Accept": BROWSER_ACCEPT, "User-Agent": BROWSER_AGENT})


def test_a_browser_gets_the_console_with_security_headers(client: TestClient) -> None:
    resp = browser_get(client)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert "X-Elastic-Product" not in resp.headers
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert '<script type="module" src="/console/static/js/app.js">' in resp.text
    assert 'id="lw-boot"' in resp.text
    assert "no authentication yet" not in resp.text  # bound to loopback


def test_the_banner_warns_when_the_server_is_reachable_without_authentication() -> None:
    exposed = render_shell("discover", boot_data(host="0.0.0.0", port=8080, default_tenant="t", auth_enabled=False))
    assert "no authentication yet" in exposed and "0.0.0.0:8080" in exposed
    for host in ("127.0.0.1", "::1", "localhost"):
        local = render_shell("discover", boot_data(host=host, port=8080, default_tenant="t", auth_enabled=False))
        assert "no authentication yet" not in local
        assert "no login · local only" in local


def test_with_authentication_on_the_shell_is_public_and_has_no_banner(exposed_client: TestClient) -> None:
    resp = browser_get(exposed_client)
    assert resp.status_code == 200
    assert "no authentication yet" not in resp.text and "no login" not in resp.text
    assert exposed_client.get("/console/static/js/app.js").status_code == 200
    assert exposed_client.post("/api/v1/query", json={"q": ""}).status_code == 401  # the data needs a login


@pytest.mark.parametrize(
    "headers",
    [
        {},  # httpx / curl: Accept */*
        {"Accept": "application/json"},
        # elasticsearch-py 8 (its Accept is vendored JSON; it also sends x-elastic-client-meta)
        {"Accept": "application/vnd.elasticsearch+json; compatible-with=8", "User-Agent": "elasticsearch-py/8.19.0"},
        {"Accept": BROWSER_ACCEPT, "x-elastic-client-meta": "es=8.19.0,py=3.11.9,t=8.17.1,ur=2.2.3"},
        {"Accept": BROWSER_ACCEPT, "User-Agent": "Filebeat/8.11.0 (amd64; linux)"},
        {"Accept": BROWSER_ACCEPT, "User-Agent": "Logstash/8.11 Manticore 0.9.1"},
        {"Accept": BROWSER_ACCEPT, "User-Agent": "Vector/0.42.0"},
        {"Accept": BROWSER_ACCEPT, "User-Agent": "Fluent-Bit"},
    ],
)
def test_elasticsearch_clients_still_get_the_cluster_info(client: TestClient, headers: dict[str, str]) -> None:
    resp = client.get("/", headers=headers)
    assert resp.status_code == 200
    assert resp.headers["X-Elastic-Product"] == "Elasticsearch"
    assert resp.json()["version"]["number"].startswith("8.")
    assert client.head("/", headers=headers).headers["X-Elastic-Product"] == "Elasticsearch"


def test_the_elasticsearch_api_is_served_under_es(client: TestClient) -> None:
    info = client.get("/es/")
    assert info.json()["tagline"] == "You Know, for Search"
    assert browser_get(client, "/es/").headers["content-type"].startswith("application/json")  # never the console
    assert client.get("/es/_license").json()["license"]["status"] == "active"
    assert client.head("/es/logs-app").status_code == 200
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    body = (
        '{"index": {"_index": "logs-shop", "_id": "es-prefix-1"}}\n'
        f'{{"@timestamp": "{ts}", "message": "via the es prefix", "log": {{"level": "warn"}}}}\n'
    )
    resp = client.post("/es/_bulk", content=body, headers={"Content-Type": "application/x-ndjson"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["errors"] is False
    resp = client.post(
        "/es/logs-other/_bulk",
        content=body.replace("es-prefix-1", "es-prefix-2").replace('"_index": "logs-shop", ', ""),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert resp.json()["errors"] is False
    hits = client.get("/api/v1/query", params={"q": '"via the es prefix"', "start": "now-1h"}).json()["hits"]
    assert {(h["log_id"], h["service"], h["level"]) for h in hits} == {
        ("es-prefix-1", "logs-shop", "WARN"),
        ("es-prefix-2", "logs-other", "WARN"),
    }


def test_static_assets_are_served_as_modules_with_the_headers(client: TestClient) -> None:
    app_js = client.get("/console/static/js/app.js")
    assert app_js.status_code == 200
    assert "javascript" in app_js.headers["content-type"]
    assert app_js.headers["X-Content-Type-Options"] == "nosniff"
    assert app_js.headers["Cache-Control"] == "no-cache"
    etag = app_js.headers["etag"]
    assert client.get("/console/static/js/app.js", headers={"If-None-Match": etag}).status_code == 304
    uplot = client.get("/console/static/vendor/uplot/uPlot.esm.js")
    assert uplot.status_code == 200 and "export" in uplot.text
    assert client.get("/console/static/nope.js").status_code == 404
    assert client.get("/console/static/../routes.py").status_code == 404


def test_every_module_import_resolves_to_a_shipped_file() -> None:
    """No build step: each relative `import … from "./x.js"` must name a file in static/ (a typo is a blank page)."""
    import re

    for module in STATIC_DIR.rglob("*.js"):
        if "vendor" in module.parts:
            continue
        for target in re.findall(r'^import .* from "(\.{1,2}/[^"]+)";$', module.read_text(), re.MULTILINE):
            assert (module.parent / target).resolve().is_file(), f"{module.relative_to(STATIC_DIR)} imports {target}"
    assert (STATIC_DIR / "vendor" / "uplot" / "LICENSE").read_text().startswith("The MIT License")


@pytest.mark.slow
def test_the_elasticsearch_client_works_against_the_es_prefix_of_a_real_server(tmp_path: Path) -> None:
    from elasticsearch import Elasticsearch, helpers

    server = ServerProcess(tmp_path / "data")
    try:
        server.wait_ready()
        tenant = "t-" + uuid.uuid4().hex[:8]
        # The browser and the client at the same address.
        page = httpx.get(server.url + "/", headers={"Accept": BROWSER_ACCEPT, "User-Agent": BROWSER_AGENT})
        assert page.headers["content-type"].startswith("text/html")
        with Elasticsearch(server.url, headers={"X-Scope-OrgID": tenant}, request_timeout=30) as es:
            assert es.info()["version"]["number"].startswith("8.")
        with Elasticsearch(server.url + "/es", headers={"X-Scope-OrgID": tenant}, request_timeout=30) as es:
            assert es.info()["tagline"] == "You Know, for Search"
            ts = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
            actions = [
                {"_index": "logs-es", "_id": f"d{i}", "_source": {"@timestamp": ts, "message": f"doc {i}"}}
                for i in range(50)
            ]
            assert helpers.bulk(es, actions) == (50, [])
        resp = httpx.get(
            server.url + "/api/v1/query",
            params={"q": "service:logs-es", "start": "now-1h", "limit": "1000"},
            headers={"X-Scope-OrgID": tenant},
            timeout=30,
        )
        assert resp.json()["total"] == 50
    finally:
        server.close()
