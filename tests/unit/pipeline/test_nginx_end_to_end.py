"""Issue 4's end-to-end case: nginx access lines in over HTTP, searchable by status, country and browser,
with the email in the message redacted. The config is the issue's example plus geoip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.config import load_config
from tests.conftest import TEST_RETENTION_DAYS
from tests.unit.pipeline.enrich.conftest import write_mmdb

LINES = [
    # Firefox from Germany, 404, an email in the query string.
    '81.2.69.160 - - [21/Nov/2026:10:00:01 +0000] "GET /reset?email=jane.doe@example.com HTTP/1.1" 404 153 '
    '"https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"',
    # Chrome from Japan, 200.
    '175.16.199.7 - alice [21/Nov/2026:10:00:02 +0000] "POST /api/cart HTTP/1.1" 200 2326 "-" '
    '"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 '
    'Safari/537.36"',
    # A bot from Germany, 500, a card number in the path.
    '81.2.69.200 - - [21/Nov/2026:10:00:03 +0000] "GET /pay?card=4111111111111111 HTTP/1.1" 500 0 "-" '
    '"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"',
]

CONFIG = """\
pipelines:
  - name: nginx
    match: {{service: nginx}}
    processors:
      - {{type: grok, field: message, pattern: '%{{COMBINEDAPACHELOG}}'}}
      - {{type: convert, fields: {{response: int, bytes: int}}}}
      - {{type: timestamp, field: timestamp, formats: [HTTPDATE]}}
      - {{type: user_agent, field: agent}}
      - {{type: redact, detectors: [email, credit_card]}}
      - {{type: rename, fields: {{response: status, clientip: client_ip}}}}
      - {{type: geoip, field: client_ip, database: {mmdb}}}
"""


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    mmdb = write_mmdb(
        tmp_path / "city.mmdb",
        "GeoLite2-City",
        {
            "81.2.69.0/24": {"country": {"iso_code": "DE", "names": {"en": "Germany"}}},
            "175.16.199.0/24": {"country": {"iso_code": "JP", "names": {"en": "Japan"}}},
        },
    )
    path = tmp_path / "logwarden.yaml"
    path.write_text(CONFIG.format(mmdb=mmdb))
    overrides = {"data_dir": str(tmp_path / "data"), "store.retention_days": TEST_RETENTION_DAYS}
    config = load_config(path, env={}, overrides=overrides)
    with TestClient(create_app(config, run_maintenance=False, config_path=path)) as c:
        body = b"\n".join(orjson.dumps({"service": "nginx", "host": "web-1", "message": line}) for line in LINES)
        r = c.post("/api/v1/ingest", content=body)
        assert r.status_code == 200, r.text
        yield c


def query(client: TestClient, q: str) -> list[dict[str, Any]]:
    r = client.post("/api/v1/query", json={"q": q, "start": "2026-11-21T00:00:00Z", "end": "2026-11-22T00:00:00Z"})
    assert r.status_code == 200, r.text
    hits: list[dict[str, Any]] = r.json()["hits"]
    return hits


def test_searchable_by_status_country_and_browser(client: TestClient) -> None:
    (hit,) = query(client, "status:404 geo.country_code:DE user_agent.browser:Firefox")
    assert hit["attrs"]["client_ip"] == "81.2.69.160"
    assert hit["attrs"]["geo.country_name"] == "Germany"
    assert hit["ts"] == "2026-11-21T10:00:01Z"
    assert [h["attrs"]["status"] for h in query(client, "status:>=500")] == [500]
    assert {h["attrs"]["client_ip"] for h in query(client, "geo.country_code:DE")} == {"81.2.69.160", "81.2.69.200"}
    (bot,) = query(client, "user_agent.is_bot:true")
    assert bot["attrs"]["status"] == 500
    (chrome,) = query(client, "user_agent.browser:Chrome geo.country_code:JP")
    assert chrome["attrs"]["auth"] == "alice"


def test_pii_is_redacted_in_the_message_and_fields(client: TestClient) -> None:
    (hit,) = query(client, "status:404")
    assert "jane.doe@example.com" not in orjson.dumps(hit).decode()
    assert "[REDACTED:email]" in hit["message"]
    assert "[REDACTED:email]" in hit["attrs"]["request"]
    (paid,) = query(client, "status:500")
    assert "4111111111111111" not in orjson.dumps(paid).decode()
    assert "[REDACTED:credit_card]" in paid["message"]
    assert query(client, '"jane.doe@example.com"') == []


def test_pipeline_metrics_count_every_processor(client: TestClient) -> None:
    text = client.get("/metrics").text
    for step in ("grok#1", "convert#2", "timestamp#3", "user_agent#4", "redact#5", "rename#6", "geoip#7"):
        assert f'logwarden_pipeline_lines_total{{pipeline="nginx",processor="{step}"}} 3.0' in text
    assert 'logwarden_pipeline_redactions_total{detector="email",pipeline="nginx",processor="redact#5"}' in text
