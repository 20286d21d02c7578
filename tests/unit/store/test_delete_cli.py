"""`logwarden delete`: on a data dir with no server (the store opened by the command), and through a running
server's admin API; counts first, asks unless --yes, JSON output, audited."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from click.testing import CliRunner

from logwarden.auth.audit import AuditLog
from logwarden.cli import main
from logwarden.ingest.ndjson import decode_json_body
from logwarden.meta.db import MetaDB, default_url
from logwarden.model.normalize import BatchContext, normalize
from logwarden.query.engine import run_query
from logwarden.store.duckdb import DuckDBStore
from tests.conftest import make_config


def lines(n: int) -> list[dict[str, Any]]:
    return [{"msg": f"login by user{42 if i % 4 == 0 else 7}", "user_id": 42 if i % 4 == 0 else 7} for i in range(n)]


def stored(tmp_path: Path, n: int) -> None:
    async def run() -> None:
        store = DuckDBStore(make_config(tmp_path))
        try:
            decoded = decode_json_body(b"\n".join(orjson.dumps(r) for r in lines(n)))
            await store.append(normalize(decoded.records, BatchContext("acme", "http", datetime.now(UTC))))
        finally:
            await store.close()

    asyncio.run(run())


def count(tmp_path: Path, q: str) -> int:
    async def run() -> int:
        store = DuckDBStore(make_config(tmp_path))
        try:
            now = datetime.now(UTC)
            start = datetime(2000, 1, 1, tzinfo=UTC)
            result = await run_query(store, q, tenant="acme", start=start, end=now, now=now)
            return int(result.total or 0)
        finally:
            await store.close()

    return asyncio.run(run())


def delete(tmp_path: Path, *args: str) -> Any:
    base = ["delete", "--data-dir", str(tmp_path / "data"), "--tenant", "acme", "--where", "user_id:42"]
    return CliRunner().invoke(main, [*base, *args], catch_exceptions=False)


def test_on_a_data_dir_without_a_server(tmp_path: Path) -> None:
    stored(tmp_path, 40)
    dry = delete(tmp_path, "--dry-run", "--output", "json")
    assert dry.exit_code == 0, dry.output
    assert orjson.loads(dry.stdout)["lines"] == 10 and orjson.loads(dry.stdout)["dry_run"] is True
    asked = delete(tmp_path)  # not on a terminal and no --yes: refused, nothing deleted
    assert asked.exit_code == 2 and "--yes" in asked.stderr
    assert count(tmp_path, "user_id:42") == 10
    done = delete(tmp_path, "--yes")
    assert done.exit_code == 0, done.output
    assert "10 lines deleted" in done.stdout and "1 day tables" in done.stdout
    assert count(tmp_path, "user_id:42") == 0 and count(tmp_path, "user7") == 30
    meta = MetaDB(default_url(tmp_path / "data"))
    try:
        entries = AuditLog(meta.engine).search(tenant="acme", action="lines.delete")
    finally:
        meta.close()
    assert [e.details["dry_run"] for e in entries] == [False, True]
    assert entries[0].actor.startswith("cli:") and entries[0].details["hot_lines"] == 10
    bad = delete(tmp_path, "--yes", "--where", "user_id:(42")
    assert bad.exit_code == 2 and "column" in bad.stderr


def test_through_a_running_server(tmp_path: Path, server_factory: Callable[..., Any]) -> None:
    server = server_factory(tmp_path / "data")
    body = b"\n".join(orjson.dumps(r) for r in lines(40))
    sent = httpx.post(server.url + "/api/v1/ingest", content=body, headers={"X-Scope-OrgID": "acme"}, timeout=10)
    assert sent.status_code == 200, sent.text

    def total(q: str) -> int:
        found = httpx.get(
            server.url + "/api/v1/query", params={"q": q, "start": "1h"}, headers={"X-Scope-OrgID": "acme"}, timeout=10
        )
        return int(found.json()["total"])

    assert total("user_id:42") == 10
    done = delete(tmp_path, "--yes", "--output", "json", "--server", server.url)
    assert done.exit_code == 0, done.output
    report = orjson.loads(done.stdout)
    assert report["lines"] == 10 and report["dry_run"] is False
    assert total("user_id:42") == 0 and total("user7") == 30
    refused = delete(tmp_path, "--yes", "--where", "user_id:42 | stats count()", "--server", server.url)
    assert refused.exit_code == 2 and "400" in refused.stderr and "pipes" in refused.stderr
