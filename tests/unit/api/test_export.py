"""GET /api/v1/export: the query language (lines, pipes, tables), NDJSON and CSV contents, slices, the row cap,
client mistakes and the audit entry."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.api.routes import export
from logwarden.api.runtime import runtime_of
from logwarden.auth.audit import AuditLog
from logwarden.auth.roles import Role
from logwarden.plan.nodes import SearchPlan
from tests.conftest import make_config
from tests.unit.auth.conftest import started

HEADERS = {"X-Scope-OrgID": "acme"}


def _seed(client: TestClient, headers: dict[str, str], count: int = 3, step: timedelta = timedelta(minutes=1)) -> None:
    now = datetime.now(UTC)  # taken at the request, never at import
    lines = [
        {
            "ts": (now - step * (i + 1) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z"),
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
    # The same hits as the query route.
    query = client.get("/api/v1/query", params={"q": "disk", "start": "1h"}, headers=HEADERS).json()["hits"]
    assert hits == query


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
        assert entry.details["format"] == "csv" and entry.details["rows"] == 3 and entry.details["kind"] == "lines"


def test_bad_query_is_400_with_the_column(client: TestClient) -> None:
    resp = client.get("/api/v1/export", params={"q": "disk | bogus"}, headers=HEADERS)
    assert resp.status_code == 400, resp.text
    assert resp.json()["column"] == 8 and "unknown pipe 'bogus'" in resp.json()["error"]


def test_row_pipes_run_like_the_query_route(client: TestClient) -> None:
    q = 'disk | extract "\\"(?P<dev>sd\\w+)\\"" | where user != "u1" | eval twice = dev'
    resp = client.get("/api/v1/export", params={"q": q, "start": "1h"}, headers=HEADERS)
    assert resp.status_code == 200, resp.text
    hits = [orjson.loads(line) for line in resp.text.splitlines()]
    assert [(h["dev"], h["twice"]) for h in hits] == [("sda0", "sda0"), ("sda2", "sda2")]
    query = client.get("/api/v1/query", params={"q": q, "start": "1h"}, headers=HEADERS).json()["hits"]
    assert hits == query
    assert "x-logwarden-rows" not in resp.headers  # `where` drops lines: not known before the file
    csv_resp = client.get("/api/v1/export", params={"q": q, "start": "1h", "format": "csv"}, headers=HEADERS)
    rows = list(csv.reader(io.StringIO(csv_resp.text)))
    assert rows[0] == ["ts", "level", "service", "host", "message", "dev", "twice"]
    assert [r[5] for r in rows[1:]] == ["sda0", "sda2"]


def test_fields_pipe_makes_the_csv_columns(client: TestClient) -> None:
    params = {"q": "disk | fields message, user | sort +user", "start": "1h", "format": "csv"}
    resp = client.get("/api/v1/export", params=params, headers=HEADERS)
    assert resp.status_code == 200, resp.text
    rows = list(csv.reader(io.StringIO(resp.text)))
    assert rows == [["message", "user"], *[[f'disk full, "sda{i}"', f"u{i}"] for i in range(3)]]
    assert resp.headers["x-logwarden-rows"] == "3"


def test_a_stats_query_exports_its_table(client: TestClient) -> None:
    params = {"q": "* | stats count() as n by service, host", "start": "1h"}
    resp = client.get("/api/v1/export", params=params, headers=HEADERS)
    assert resp.status_code == 200, resp.text
    assert [orjson.loads(x) for x in resp.text.splitlines()] == [{"service": "api", "host": "h1", "n": 3}]
    resp = client.get("/api/v1/export", params={**params, "format": "csv"}, headers=HEADERS)
    assert list(csv.reader(io.StringIO(resp.text))) == [["service", "host", "n"], ["api", "h1", "3"]]
    assert resp.headers["x-logwarden-rows"] == "1"


def test_a_timechart_exports_every_bucket(client: TestClient) -> None:
    params = {"q": "* | timechart span=1m count()", "start": "10m", "end": "now", "format": "csv"}
    rows = list(csv.reader(io.StringIO(client.get("/api/v1/export", params=params, headers=HEADERS).text)))
    assert rows[0] == ["_time", "count"] and len(rows) - 1 in (10, 11)  # the buckets the 10 minutes touch
    assert sum(int(r[1]) for r in rows[1:]) == 3 and rows[1][0].endswith("Z")


def test_an_unknown_column_after_a_table_is_400(client: TestClient) -> None:
    params = {"q": "* | stats count() by service | sort -nope", "start": "1h"}
    resp = client.get("/api/v1/export", params=params, headers=HEADERS)
    assert resp.status_code == 400, resp.text
    assert "nope" in resp.json()["error"]


@pytest.mark.parametrize("spread", [timedelta(minutes=1), timedelta(seconds=1)])
def test_a_large_export_is_read_in_slices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spread: timedelta) -> None:
    """40 lines in slices of about 4 (one minute apart, or crowded in one histogram bucket): the same file."""
    reads: list[int] = []
    real = export.StoreBudget.execute

    async def counted(self: export.StoreBudget, store: Any, node: Any) -> Any:
        table = await real(self, store, node)
        if isinstance(node, SearchPlan):
            reads.append(table.num_rows)
        return table

    monkeypatch.setattr(export, "BATCH_ROWS", 4)
    monkeypatch.setattr(export.StoreBudget, "execute", counted)
    with TestClient(create_app(make_config(tmp_path), run_maintenance=False)) as running:
        _seed(running, HEADERS, count=40, step=spread)
        resp = running.get("/api/v1/export", params={"start": "2h", "limit": "35"}, headers=HEADERS)
        assert resp.status_code == 200, resp.text
        hits = [orjson.loads(line) for line in resp.text.splitlines()]
        assert [h["attrs"]["user"] for h in hits] == [f"u{i}" for i in range(35)]  # newest first, none twice
        assert resp.headers["x-logwarden-rows"] == "35"
        assert len(reads) >= 5 and max(reads) <= 16 and sum(reads) == 35, reads


def test_a_spent_budget_stops_the_reads() -> None:
    budget = export.StoreBudget(0.0)
    with pytest.raises(export.ExportTimeoutError):
        asyncio.run(budget.execute(cast(Any, None), SearchPlan("t", datetime.now(UTC), datetime.now(UTC))))


def test_a_time_clause_outside_the_range_exports_nothing(client: TestClient) -> None:
    params = {"q": "disk AND _time:[2001-01-01T00:00:00Z TO 2001-01-02T00:00:00Z]", "start": "1h", "format": "csv"}
    resp = client.get("/api/v1/export", params=params, headers=HEADERS)
    assert resp.status_code == 200, resp.text
    assert resp.text.strip() == '"ts","level","service","host","message"' and resp.headers["x-logwarden-rows"] == "0"
