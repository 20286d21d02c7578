"""Every read that touches `attrs` answers the same whether the lines are still in memory (whole attrs text), in a
split day table (attrs_split.py: typed keys only in their columns, `attrs` rebuilt) or archived to Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from logwarden.plan.nodes import ContextPlan
from logwarden.query.engine import run_query
from logwarden.store.base import SearchQuery, SqlRequest
from logwarden.store.duckdb import DuckDBStore, attrs_split
from tests.conftest import make_config
from tests.unit.store.test_attrs_split import ALL_TIME, KEY, NOW, TABLE, batch, records

START, END = ALL_TIME
QUERIES = [
    "*",
    "line",  # a needle: full rows of the hits
    "status:>=300",  # typed column
    "note:ctl",  # a key without a column: from the shape
    "inner.user:u1",
    "user2:x",
    'user:u7 OR path:"/a"',
    "* | fields message, user, note, inner.status",
    "* | stats count() AS n by note, user2",
    "* | top 5 inner.user",
    "* | top 5 user",
    '* | where note = "ctl" or user = "u5"',
    "* | stats count() AS n, sum(status) AS s by path",
]


def _value(v: object) -> str:
    """A hit's or row's value, comparable across reads (attrs decoded by the API already)."""
    return orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()


async def answers(store: DuckDBStore, anchor: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for text in QUERIES:
        result = await run_query(store, text, tenant="default", start=START, end=END, limit=10_000, now=NOW)
        if result.kind == "table":
            out[text] = sorted(_value(r) for r in result.rows)
        else:
            out[text] = (result.total, sorted(_value(h) for h in result.hits))
    search = await store.search(SearchQuery("default", START, END, terms=("line",), limit=10_000))
    out["search"] = sorted(_value(h) for h in search.hits)
    context = await store.execute(ContextPlan("default", START, END, anchor, 5, 5))
    out["context"] = sorted(_value(r) for r in context.select(["message", "attrs"]).to_pylist())
    sql = await store.run_sql(
        SqlRequest("default", START, END, "SELECT message, attrs, attrs->>'$.note' AS note FROM logs", 100_000, 30.0)
    )
    out["sql"] = sorted(_value(r) for r in orjson.loads(sql.rows_json))
    return out


async def test_reads_of_attrs_agree_in_memory_split_and_archived(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, **{"store.apply_interval": "1h", "archive.archive_after_days": 1, "store.retention_days": 7}
    )
    lines = batch(records(300))
    anchor = lines.column("log_id")[150].as_py()
    store = DuckDBStore(config)
    try:
        await store.append(lines)
        assert store.unapplied_bytes > 0
        in_memory = await answers(store, anchor)
        assert in_memory["context"] and in_memory["note:ctl"][0] == 1  # the reads found something
        await store.flush()
        assert store.unapplied_bytes == 0
        assert attrs_split.is_split(store._db, TABLE)
        assert await answers(store, anchor) == in_memory
        assert (await store.maintain(now=NOW)).archived == [KEY]
        assert await answers(store, anchor) == in_memory
    finally:
        store.close_sql()
        await store.close()
