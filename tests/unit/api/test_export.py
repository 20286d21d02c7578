"""GET /api/v1/export: NDJSON and CSV contents, the row cap, client mistakes, and the audit entry."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.api.runtime import runtime_of
from logwarden.auth.audit import AuditLog
from logwarden.auth.roles import Role
from tests.conftest import make_config
from tests.unit.auth.conftest import started

HEADERS = {"X-Scope-OrgID": "acme"}


def _seed(client: TestClient, headers: dict[str, str], count: int = 3) -> None:
    now = datetime.now(UTC)  # taken at the request, never at import
    lines = [
        {
            "ts": (now - timedelta(minutes=i + 1)).isoformat().replace("+00:00", "Z"),
            "msg": f'disk full, "sda{i}"',
            "service": "api",
            "host": "h1",
            "level": "error",
            "user": f"u{i}",
        }
        for i in range(count)
    ]
    body = b"\n".join(orjson.dumps(x) for x in lines)
    resp = client.post("/api/v1/ingest", content=body, headers=headers)
    assert resp.status_code == 200, resp.text


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_config(tmp_path), run_maintenance=False)) as running:
        _seed(running, HEADERS)
        yield running


def test_ndjson_holds_one_hit_per_line_as_an_attachment(client: TestClient) -> None:
    resp = client.get("/api/v1/export", params={"q": "disk", "start": "1h"}, headers=HEADERS)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/x-ndjson")
    disposition = resp.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="logwarden-acme-') and disposition.endswith('.ndjson"')
    hits = [orjson.loads(line) for line in resp.text.splitlines()]
    assert [h["message"] for h in hits] == ['disk full, "sda0"', 'disk full, "sda1"', 'disk full, "sda2"']
    assert hits[0]["attrs"] == {"user": "u0"} and hits[0]["ts"].endswith("Z")
    # The same hits as the search route.
    search = client.get("/api/v1/search", params={"q": "disk", "start": "1h"}, headers=HEADERS).json()["hits"]
    assert hits == search


def test_csv_has_the_core_columns_then_the_asked_fields(client: TestClient) -> None:
    resp = client.get("/api/v1/export", params={"start": "1h", "format": "csv", "fields": "user"}, headers=HEADERS)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["content-disposition"].endswith('.csv"')
    rows = list(csv.reader(io.StringIO(resp.text)))
    assert rows[0] == ["ts", "level", "service", "host", "message", "user"]
    assert rows[1][1:] == ["ERROR", "api", "h1", 'disk full, "sda0"', "u0"]
    assert len(rows) == 4 and rows[1][0].endswith("Z")


def test_csv_of_nothing_is_the_header(client: TestClient) -> None:
    resp = client.get("/api/v1/export", params={"q": "absent", "format": "csv"}, headers=HEADERS)
    assert resp.status_code == 200, resp.text
    assert resp.text.strip() == '"ts","level","service","host","message"'


def test_limit_cuts_the_file(client: TestClient) -> None:
    resp = client.get("/api/v1/export", params={"start": "1h", "limit": "2"}, headers=HEADERS)
    assert resp.status_code == 200 and len(resp.text.splitlines()) == 2
    assert resp.headers["x-logwarden-rows"] == "2"


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"format": "xml"}, "use ndjson or csv"),
        ({"limit": "1000001"}, "1 to 1000000"),
        ({"start": "not-a-time"}, "start"),
        ({"level": "loud"}, "unknown level"),
        ({"format": "csv", "fields": "message"}, "always exported"),
    ],
)
def test_client_mistakes_are_400(client: TestClient, params: dict[str, str], needle: str) -> None:
    resp = client.get("/api/v1/export", params=params, headers=HEADERS)
    assert resp.status_code == 400, resp.text
    assert needle in resp.json()["error"]


def test_role_cap_lowers_the_default_and_refuses_more(tmp_path: Path) -> None:
    with started(tmp_path, **{"limits.roles.viewer.max_rows": 2}) as server:
        _seed(server.client, server.headers("alpha", Role.INGEST))
        viewer = server.headers("alpha", Role.VIEWER)
        capped = server.client.get("/api/v1/export", params={"start": "1h"}, headers=viewer)
        assert capped.status_code == 200 and len(capped.text.splitlines()) == 2
        over = server.client.get("/api/v1/export", params={"start": "1h", "limit": "3"}, headers=viewer)
        assert over.status_code == 400 and "limits.roles.viewer.max_rows" in over.json()["error"]


def test_each_export_is_audited(tmp_path: Path) -> None:
    with started(tmp_path) as server:
        _seed(server.client, server.headers("alpha", Role.INGEST))
        viewer = server.headers("alpha", Role.VIEWER)
        resp = server.client.get("/api/v1/export", params={"q": "disk", "format": "csv"}, headers=viewer)
        assert resp.status_code == 200, resp.text
        meta = runtime_of(server.client).meta
        assert meta is not None
        [entry] = AuditLog(meta.engine).search(tenant="alpha", action="search.export")
        assert entry.target == "disk" and entry.tenant == "alpha" and entry.actor.startswith("key:")
        assert entry.details["format"] == "csv" and entry.details["rows"] == 3
