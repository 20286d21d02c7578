"""A search for common words reads its total and its page's keys in one pass (`plan_sql.counted_page`), then the
page's lines by key: the same hits, in the same order, with the same total as the page and count statements."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.query.engine import run_query
from logwarden.query.parser import parse
from logwarden.query.planner import plan
from logwarden.store.duckdb import DuckDBStore, execute, plan_sql
from tests.conftest import make_config

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
DAY = date(2026, 11, 20)


def batch(start: int, n: int, second: int | None = None) -> Any:
    records = [
        {
            # `second` puts every line of the batch at one ts: its order is the stored order (seq) alone.
            "ts": f"{DAY.isoformat()}T10:{(second if second is not None else i) // 60 % 60:02d}:"
            f"{(second if second is not None else i) % 60:02d}Z",
            "msg": ["connection refused by peer", "request served", "disk full"][i % 3] + f" #{i}",
            "service": "api",
        }
        for i in range(start, start + n)
    ]
    decoded = decode_json_body(b"\n".join(orjson.dumps(r) for r in records))
    return normalize(decoded.records, BatchContext("default", "http", NOW))


def test_only_a_search_for_common_words_counts_in_one_pass() -> None:
    def compiled(query: str) -> plan_sql.CompiledSearch:
        planned = plan(parse(query), tenant="default", start=START, end=END, now=NOW).plan
        return plan_sql.compile_search(planned)  # type: ignore[arg-type]

    assert compiled('"connection refused"').counted is not None
    assert compiled("refused").counted is not None
    assert compiled("zq997x").counted is None  # a likely-rare word: one statement over its few blocks
    assert compiled("service:api").counted is None  # no words: newest-first windows of keys
    assert compiled("refused | sort service").counted is None  # another order than the page's keys


def test_counted_page_gives_no_keys_when_a_match_has_no_seq() -> None:
    keys = [{"ts": NOW, "seq": 7}]
    row = pa.table({"total": [3], "unsequenced": [1], "pg": [keys]})
    assert plan_sql.counted_page(row) == (3, None)
    total, page = plan_sql.counted_page(pa.table({"total": [3], "unsequenced": [0], "pg": [keys]}))
    assert total == 3 and page is not None and page.to_pylist() == keys
    assert plan_sql.counted_page(pa.table({"total": [0], "unsequenced": [0], "pg": [None]})) == (0, None)


@pytest.mark.parametrize(
    ("query", "limit", "total"),
    [
        ('"connection refused"', 50, 1300),  # more matches than the page
        ('"connection refused"', 5000, 1300),  # fewer: the page is every match
        ("refused -peer", 50, 0),  # no match at all
        ("refused OR served", 50, 2600),  # no word common to both branches: no index, the page and count statements
        ('"connection refused" | fields service, message', 50, 1300),  # the page's columns as the fields name them
    ],
)
async def test_the_same_hits_and_total_as_page_and_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, query: str, limit: int, total: int
) -> None:
    store = DuckDBStore(make_config(tmp_path))
    try:
        await store.append(batch(0, 3000))
        await store.append(batch(3000, 300, second=3599))  # the newest lines, all of one ts: ordered by seq alone
        await store.flush()
        await store.append(batch(3300, 600))  # not yet applied: read from memory

        async def hits() -> tuple[int, list[Any]]:
            result = await run_query(store, query, tenant="default", start=START, end=END, limit=limit, now=NOW)
            return result.total, result.hits  # every field of every hit, in order

        statements: list[str] = []
        fetch = execute.fetch_arrow
        monkeypatch.setattr(
            execute, "fetch_arrow", lambda cur, sql, params: statements.append(sql) or fetch(cur, sql, params)
        )
        counted = await hits()
        assert any("ARG_MAX" in s for s in statements) is (" OR " not in query)
        original = plan_sql.compile_search
        monkeypatch.setattr(
            plan_sql,
            "compile_search",
            lambda *a, **k: plan_sql.CompiledSearch(**{**_fields(original(*a, **k)), "counted": None}),
        )
        assert await hits() == counted
        assert counted[0] == total and len(counted[1]) == min(limit, total)
        assert len({orjson.dumps(h, option=orjson.OPT_SORT_KEYS) for h in counted[1]}) == len(counted[1])
    finally:
        await store.close()


def _fields(compiled: plan_sql.CompiledSearch) -> dict[str, Any]:
    return {name: getattr(compiled, name) for name in compiled.__slots__}  # type: ignore[attr-defined]
