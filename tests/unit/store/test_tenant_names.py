"""Tenants whose names differ only in case are two tenants, with separate storage and separate reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.api.runtime import runtime_of
from logwarden.model.schema import LOG_SCHEMA
from logwarden.store.base import PartitionKey
from logwarden.store.dedup import StreamDedup
from logwarden.store.duckdb import DuckDBStore
from logwarden.store.duckdb.partitions import decode_tenant, encode_tenant, parse_table_name, table_name
from tests.conftest import make_config

TENANTS = ("gamma", "Gamma")


def test_encoding_is_injective_even_ignoring_case() -> None:
    names = ["gamma", "Gamma", "GAMMA", "gAmma", "g.a-m_1", "G.A-M_1", "x", "X"]
    encoded = [encode_tenant(n) for n in names]
    assert len({e.lower() for e in encoded}) == len(names)
    assert [decode_tenant(e) for e in encoded] == names
    day = date(2026, 12, 6)
    assert table_name(PartitionKey("Gamma", day)) == "logs$^gamma$20261206"
    for name in names:
        assert parse_table_name(table_name(PartitionKey(name, day, "audit"))) == PartitionKey(name, day, "audit")
    # Old-style names (upper case written as is) are not partitions any more: the migration renames them.
    assert parse_table_name("logs$Gamma$20261206") is None
    assert parse_table_name("logs$^G$20261206") is None


def _lines(tenant: str, now: datetime) -> list[dict[str, Any]]:
    ts = (now - timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    return [
        {"ts": ts, "msg": f"{tenant} line {i}", "host": "h", "service": "s", "trace_id": "tr-1", "log_id": f"id-{i}"}
        for i in range(3)
    ]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_config(tmp_path), run_maintenance=False)) as c:
        yield c


def _window(now: datetime) -> dict[str, str]:
    return {"start": (now - timedelta(hours=2)).isoformat(), "end": (now + timedelta(minutes=5)).isoformat()}


@pytest.mark.parametrize("applied", [True, False])
def test_tenants_differing_in_case_see_only_their_own_lines(client: TestClient, applied: bool) -> None:
    now = datetime.now(UTC)
    for tenant in TENANTS:
        resp = client.post(
            "/api/v1/ingest", content=b"\n".join(orjson.dumps(x) for x in _lines(tenant, now)), headers=_h(tenant)
        )
        assert resp.status_code == 200 and resp.json()["accepted"] == 3, resp.text
    store = runtime_of(client).store
    assert store is not None
    if applied:
        store.flush_blocking()
        hot, _ = store.partitions()
        assert sorted({k.tenant for k in hot}) == sorted(TENANTS)
    window = _window(now)
    for tenant in TENANTS:
        own = sorted(f"{tenant} line {i}" for i in range(3))
        hits = client.post("/api/v1/query", json={"q": "", **window}, headers=_h(tenant)).json()["hits"]
        assert sorted(h["message"] for h in hits) == own
        ctx = client.get("/api/v1/context/id-1", params={**window, "before": 5, "after": 5}, headers=_h(tenant))
        assert ctx.status_code == 200, ctx.text
        assert sorted(x["message"] for x in ctx.json()["lines"]) == own
        trace = client.get("/api/v1/trace/tr-1", params=window, headers=_h(tenant)).json()
        assert sorted(x["message"] for x in trace["lines"]) == own
        histogram = client.get("/api/v1/histogram", params={"q": "", **window}, headers=_h(tenant)).json()
        assert histogram["total"] == 3
        fields = client.get("/api/v1/fields", params={"q": "", **window}, headers=_h(tenant)).json()
        assert fields["sampled"] == 3
        message = {f["name"]: f for f in fields["fields"]}["message"]
        assert message["count"] == 3


def _h(tenant: str) -> dict[str, str]:
    return {"X-Scope-OrgID": tenant}


def test_one_tenants_stream_ids_never_hide_another_tenants_lines(client: TestClient) -> None:
    now = datetime.now(UTC)
    window = _window(now)
    ts = (now - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    first = orjson.dumps({"ts": ts, "msg": "alpha's", "log_id": "x@100"})
    assert client.post("/api/v1/ingest", content=first, headers=_h("alpha")).json()["accepted"] == 1
    second = b"\n".join(orjson.dumps({"ts": ts, "msg": f"beta's {o}", "log_id": f"x@{o}"}) for o in (50, 100))
    answer = client.post("/api/v1/ingest", content=second, headers=_h("beta")).json()
    assert answer.get("duplicates", 0) == 0, answer  # beta's stream `x` is its own, whatever alpha sent
    store = runtime_of(client).store
    assert store is not None
    store.flush_blocking()
    hits = client.post("/api/v1/query", json={"q": "", **window}, headers=_h("beta")).json()["hits"]
    assert sorted(h["message"] for h in hits) == ["beta's 100", "beta's 50"]
    # Re-sends within a tenant are still dropped.
    again = client.post("/api/v1/ingest", content=second, headers=_h("beta")).json()
    assert again["duplicates"] == 2


def test_dedup_marks_are_per_tenant() -> None:
    dedup = StreamDedup()
    a = pa.table({"log_id": ["x@100"], "source": ["http"], "tenant": ["alpha"]})
    b = pa.table({"log_id": ["x@50", "x@100"], "source": ["http"] * 2, "tenant": ["beta"] * 2})
    assert dedup.filter(a)[1] == 0
    out, dropped = dedup.filter(b)
    assert dropped == 0 and out.num_rows == 2
    assert dedup.filter(b)[1] == 2


def _old_store(tmp_path: Path, day: date) -> Path:
    """A hot store as the previous format wrote it: `Gamma`'s rows landed in `gamma`'s table, and an
    upper-case table of its own; dedup marks keyed by stream only; no seq column."""
    config = make_config(tmp_path)
    data = Path(config.data_dir)
    data.mkdir(parents=True)
    con = duckdb.connect(str(data / "hot.duckdb"))
    ts = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=1)
    cols = ", ".join(f.name for f in LOG_SCHEMA)

    def rows(tenant: str, n: int, log_ids: list[str] | None = None) -> pa.Table:
        return pa.Table.from_pylist(
            [
                {
                    "ts": ts + timedelta(seconds=i),
                    "observed_ts": ts,
                    "tenant": tenant,
                    "message": f"{tenant} old {i}",
                    "source": "http",
                    "log_id": (log_ids or [f"{tenant}-{i}" for i in range(n)])[i],
                }
                for i in range(n)
            ],
            schema=LOG_SCHEMA,
        )

    ddl = (
        "(ts TIMESTAMPTZ NOT NULL, observed_ts TIMESTAMPTZ NOT NULL, tenant VARCHAR NOT NULL, service VARCHAR, "
        "host VARCHAR, level VARCHAR, severity TINYINT, message VARCHAR, trace_id VARCHAR, span_id VARCHAR, "
        "source VARCHAR NOT NULL, log_id VARCHAR NOT NULL, attrs VARCHAR, pattern_id VARCHAR)"
    )
    mixed = f"logs$gamma${day:%Y%m%d}"
    con.execute(f'CREATE TABLE "{mixed}" {ddl}')
    con.register("r1", pa.concat_tables([rows("gamma", 2), rows("Gamma", 3, ["s@1", "s@2", "s@3"])]))
    con.execute(f'INSERT INTO "{mixed}" SELECT {cols} FROM r1')
    upper = f"logs$DELTA${day:%Y%m%d}"
    con.execute(f'CREATE TABLE "{upper}" {ddl}')
    con.register("r2", rows("DELTA", 2))
    con.execute(f'INSERT INTO "{upper}" SELECT {cols} FROM r2')
    con.execute(
        "CREATE TABLE _stream_hwm (stream VARCHAR PRIMARY KEY, hwm BIGINT NOT NULL, updated TIMESTAMPTZ NOT NULL)"
    )
    con.execute("INSERT INTO _stream_hwm VALUES ('s', 3, now())")
    con.close()
    return tmp_path


async def test_an_old_store_is_split_by_tenant_at_open(tmp_path: Path) -> None:
    from logwarden.store.base import SearchQuery

    day = (datetime.now(UTC) - timedelta(days=1)).date()
    _old_store(tmp_path, day)
    store = DuckDBStore(make_config(tmp_path))
    try:
        hot, _ = store.partitions()
        assert sorted(hot, key=lambda k: k.tenant) == [
            PartitionKey("DELTA", day),
            PartitionKey("Gamma", day),
            PartitionKey("gamma", day),
        ]
        start = datetime.combine(day, datetime.min.time(), UTC)
        end = start + timedelta(days=1)

        async def messages(tenant: str) -> list[str]:
            result = await store.search(SearchQuery(tenant, start, end, limit=100))
            return sorted(h["message"] for h in result.hits)

        assert await messages("gamma") == ["gamma old 0", "gamma old 1"]
        assert await messages("Gamma") == ["Gamma old 0", "Gamma old 1", "Gamma old 2"]
        assert await messages("DELTA") == ["DELTA old 0", "DELTA old 1"]
        hits = (await store.search(SearchQuery("gamma", start, end, limit=100))).hits
        assert all(h["seq"] is None for h in hits)  # stored before the column existed
        cur = store._db.cursor()
        marks = cur.execute("SELECT tenant, stream, hwm FROM _stream_hwm").fetchall()
        cur.close()
        assert marks == [("Gamma", "s", 3)]  # rebuilt from the rows, now keyed by tenant
    finally:
        await store.close()
    # Idempotent: a second open changes nothing.
    store = DuckDBStore(make_config(tmp_path))
    try:
        assert len(store.partitions()[0]) == 3
    finally:
        await store.close()
