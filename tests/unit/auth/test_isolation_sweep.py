"""Tenant isolation, route by route: SQL (crafted statements too), context, trace, patterns, explain, dashboards,
saved searches, audit and live tail. Keys of tenant alpha never see a byte of tenant bravo's; bravo's own keys
do (the data is there to leak)."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from logwarden.auth.roles import Role
from logwarden.model.tenants import is_tenant
from logwarden.store.base import PartitionKey
from logwarden.store.duckdb.partitions import table_name
from tests.unit.auth.conftest import AuthServer, started

SECRET = "zq8-bravo-only"
TRACE = "trace-bravo-1"


def _seed(server: AuthServer) -> None:
    """Lines in both tenants (bravo's carry SECRET, a trace and known log ids)."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    for tenant, marker in (("alpha", "public"), ("bravo", SECRET)):
        body = b"\n".join(
            orjson.dumps(
                {
                    "ts": now,
                    "msg": f"user {i} failed {marker}",
                    "service": "api",
                    "host": "h1",
                    "level": "error",
                    "trace_id": TRACE if tenant == "bravo" else "trace-alpha-1",
                    "log_id": f"{tenant}-{i}",
                    "note": marker,
                }
            )
            for i in range(3)
        )
        resp = server.client.post("/api/v1/ingest", content=body, headers=server.headers(tenant, Role.INGEST))
        assert resp.status_code == 200, resp.text


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[AuthServer]:
    with started(tmp_path) as server:
        _seed(server)
        yield server


def _sql(server: AuthServer, tenant: str, text: str) -> Any:
    return server.client.post(
        "/api/v1/sql", json={"sql": text, "start": "1h"}, headers=server.headers(tenant, Role.EDITOR)
    )


def test_sql_reads_only_the_callers_tenant(seeded: AuthServer) -> None:
    own = _sql(seeded, "bravo", "SELECT message FROM logs")
    assert own.status_code == 200 and SECRET in own.text  # bravo's lines are there
    for text in (
        "SELECT message, tenant FROM logs",
        "SELECT message FROM logs WHERE tenant = 'bravo'",
        "SELECT count(*) AS n FROM logs",
        "SELECT DISTINCT tenant FROM logs",
    ):
        resp = _sql(seeded, "alpha", text)
        assert resp.status_code == 200, (text, resp.text)
        assert SECRET not in resp.text and "bravo" not in resp.text, text
    assert _sql(seeded, "alpha", "SELECT count(*) FROM logs").json()["rows"] == [[3]]


def test_crafted_sql_is_refused(seeded: AuthServer, tmp_path: Path) -> None:
    day = datetime.now(UTC).date()
    partition = table_name(PartitionKey("bravo", day))
    data = tmp_path / "data"
    crafted = [
        f'SELECT * FROM "{partition}"',
        f'SELECT * FROM main."{partition}"',
        f'WITH x AS (SELECT * FROM "{partition}") SELECT * FROM x',
        f'SELECT * FROM logs UNION ALL SELECT * FROM "{partition}"',
        f"SELECT * FROM query('SELECT * FROM \"{partition}\"')",
        f"SELECT * FROM query_table('{partition}')",
        f"SELECT * FROM read_parquet('{data}/archive/**/*.parquet')",
        f"SELECT * FROM '{data}/archive/tenant=bravo/*.parquet'",
        f"SELECT * FROM parquet_scan('{data}/archive/**/*.parquet')",
        f"SELECT * FROM glob('{data}/*')",
        f"SELECT * FROM read_text('{data}/attr_keys.json')",
        f"ATTACH '{data}/logs.duckdb' AS stolen",
        f'SELECT * FROM stolen.main."{partition}"',
        "SELECT * FROM duckdb_tables()",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM pragma_database_list()",
        "SELECT current_setting('temp_directory')",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
    ]
    for text in crafted:
        resp = _sql(seeded, "alpha", text)
        assert resp.status_code == 400, (text, resp.status_code, resp.text)
        assert SECRET not in resp.text, text


def test_context_and_trace_of_another_tenant_are_not_found(seeded: AuthServer) -> None:
    client = seeded.client
    bravo, alpha = seeded.headers("bravo", Role.VIEWER), seeded.headers("alpha", Role.VIEWER)
    own = client.get("/api/v1/context/bravo-1", params={"start": "1h"}, headers=bravo)
    assert own.status_code == 200 and SECRET in own.text
    assert client.get(f"/api/v1/trace/{TRACE}", params={"start": "1h"}, headers=bravo).status_code == 200
    other = client.get("/api/v1/context/bravo-1", params={"start": "1h"}, headers=alpha)
    assert other.status_code == 404 and SECRET not in other.text
    trace = client.get(f"/api/v1/trace/{TRACE}", params={"start": "1h"}, headers=alpha)
    assert trace.status_code == 404 and SECRET not in trace.text
    # Even an alpha line's context never reaches into bravo's lines (same host and service).
    mine = client.get("/api/v1/context/alpha-1", params={"start": "1h"}, headers=alpha)
    assert mine.status_code == 200 and SECRET not in mine.text


def test_patterns_explain_fields_and_histograms_stay_in_the_tenant(tmp_path: Path) -> None:
    with started(tmp_path, **{"patterns.enabled": True}) as server:
        _seed(server)
        client = server.client
        bravo, alpha = server.headers("bravo", Role.VIEWER), server.headers("alpha", Role.VIEWER)
        marker = "bravo-only"  # what survives the miner's masks in bravo's template
        deadline = time.monotonic() + 20  # patterns are recorded by a bus subscriber, a moment after ingest
        while marker not in client.get("/api/v1/patterns", params={"start": "1h"}, headers=bravo).text:
            assert time.monotonic() < deadline, "bravo's pattern never showed"
            time.sleep(0.1)
        for path, params in (
            ("/api/v1/patterns", {"start": "1h"}),
            ("/api/v1/explain", {"q": "level:error", "window": "15m", "baseline": "1h"}),
            ("/api/v1/fields", {"start": "1h"}),
            ("/api/v1/histogram", {"start": "1h", "by": "note"}),
            ("/api/v1/stats/count", {"start": "1h", "by": "note"}),
            ("/api/v1/query", {"q": "* | stats count() by note, trace_id, pattern_id", "start": "1h"}),
        ):
            resp = client.get(path, params=params, headers=alpha)
            assert resp.status_code == 200, (path, resp.text)
            assert marker not in resp.text and TRACE not in resp.text, path


def test_dashboards_and_saved_searches_of_another_tenant_are_invisible(seeded: AuthServer) -> None:
    client = seeded.client
    bravo, alpha = seeded.headers("bravo", Role.EDITOR), seeded.headers("alpha", Role.EDITOR)
    board = client.post(
        "/api/v1/dashboards",
        json={"name": f"board {SECRET}", "panels": [{"title": "t", "viz": "bar", "query": "level:error"}]},
        headers=bravo,
    )
    assert board.status_code == 201, board.text
    saved = client.post("/api/v1/saved-searches", json={"name": f"saved {SECRET}", "query": SECRET}, headers=bravo)
    assert saved.status_code == 201, saved.text
    changes = {
        "/api/v1/dashboards": {"name": "mine now", "panels": []},
        "/api/v1/saved-searches": {"name": "x", "query": "x"},
    }
    for url, made in (("/api/v1/dashboards", board.json()), ("/api/v1/saved-searches", saved.json())):
        assert SECRET in client.get(url, headers=bravo).text
        listed = client.get(url, headers=alpha)
        assert listed.status_code == 200 and SECRET not in listed.text
        item = f"{url}/{made['id']}"
        assert client.get(item, headers=alpha).status_code == 404
        assert client.put(item, json=changes[url], headers=alpha).status_code == 404
        assert client.put(item, json=changes[url], headers=bravo).status_code == 200  # the same change is valid
        assert client.delete(item, headers=alpha).status_code == 404
        assert client.get(item, headers=bravo).status_code == 200  # not deleted


def test_a_tenant_admin_reads_only_its_tenants_audit(tmp_path: Path) -> None:
    with started(tmp_path) as server:
        _seed(server)
        client = server.client
        server.store.add_user("bob", "bravo-password", tenant="bravo", role=Role.VIEWER)
        assert client.post("/api/v1/auth/login", json={"user": "bob", "password": "wrong-one"}).status_code == 401
        assert client.post("/api/v1/auth/login", json={"user": "nobody", "password": "wrong-one"}).status_code == 401
        assert _sql(server, "bravo", f"SELECT '{SECRET}' AS s").status_code == 200
        bravo = client.get("/api/v1/audit", headers=server.headers("bravo", Role.ADMIN)).json()["entries"]
        assert {(e["action"], e["target"]) for e in bravo} >= {("login", "bob"), ("sql.run", f"SELECT '{SECRET}' AS s")}
        alpha = client.get("/api/v1/audit", headers=server.headers("alpha", Role.ADMIN))
        assert alpha.status_code == 200
        # Neither bravo's statements nor its users' failed logins, nor logins of names that match no user.
        assert SECRET not in alpha.text and "bob" not in alpha.text and "nobody" not in alpha.text
        assert {e["tenant"] for e in alpha.json()["entries"]} <= {"alpha"}
        # The server's operators (admins of ingest.default_tenant) see the logins of unknown names.
        server.store.add_user("root", "root-password", tenant="default", role=Role.ADMIN)
        assert is_tenant("default")
        login = client.post("/api/v1/auth/login", json={"user": "root", "password": "root-password"})
        assert login.status_code == 200
        ops = client.get("/api/v1/audit", params={"action": "login"})  # with the session cookie just set
        assert "nobody" in ops.text and "bob" not in ops.text


class _Tail:
    """GET /api/v1/tail over a real socket with a key; data events collected in a thread."""

    def __init__(self, port: int, key: str) -> None:
        self.lines: list[str] = []
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.connect()
        self.sock = self.conn.sock
        self.conn.request("GET", "/api/v1/tail?q=", headers={"Authorization": f"Bearer {key}"})
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, self.resp.read()
        assert self.resp.readline().startswith(b": connected")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while line := self.resp.readline():
                if line.startswith(b"data: "):
                    self.lines.append(line.decode())
        except (OSError, http.client.HTTPException):
            pass

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(10)
        self.conn.close()


def test_live_tail_streams_only_the_keys_tenant(tmp_path: Path) -> None:
    from logwarden.api.app import create_app
    from logwarden.api.runtime import Runtime
    from logwarden.auth.store import AuthStore
    from tests.conftest import free_port, make_config
    from tests.live_server import LiveServer

    config = make_config(tmp_path, **{"auth.enabled": True, "auth.credential_cache": "0s"})
    port = free_port()
    live = LiveServer(create_app(config, run_maintenance=False), port)
    live.start()
    try:
        runtime = live.app.state.runtime
        assert isinstance(runtime, Runtime) and runtime.meta is not None
        store = AuthStore(runtime.meta.engine)
        keys = {(t, r): store.create_key(tenant=t, role=r, name="k")[1] for t in ("alpha", "bravo") for r in Role}
        alpha, bravo = _Tail(port, keys[("alpha", Role.VIEWER)]), _Tail(port, keys[("bravo", Role.VIEWER)])
        try:
            import httpx

            for tenant, text in (("bravo", SECRET), ("alpha", "public line")):
                resp = httpx.post(
                    f"{live.url}/api/v1/ingest",
                    content=orjson.dumps({"msg": text}),
                    headers={"Authorization": f"Bearer {keys[(tenant, Role.INGEST)]}"},
                )
                assert resp.status_code == 200, resp.text
            deadline = time.monotonic() + 10
            while not (alpha.lines and bravo.lines) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert bravo.lines and SECRET in "".join(bravo.lines)
            assert alpha.lines and "public line" in "".join(alpha.lines)
            assert SECRET not in "".join(alpha.lines)
        finally:
            alpha.close()
            bravo.close()
    finally:
        live.stop()
