"""Numeric ranges implied by a filter (store/duckdb/attr_ranges.py): which filters imply which ranges, and that
testing them on a table's typed column never changes an answer while the column does get the test."""

from __future__ import annotations

import math
import random
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.plan import filter as ast
from logwarden.query.engine import run_query
from logwarden.query.parser import parse
from logwarden.store.duckdb import DuckDBStore, attr_ranges
from logwarden.store.duckdb.attr_ranges import AttrRange, range_filters, required_ranges
from logwarden.store.duckdb.typed import TypedColumn
from tests.conftest import make_config

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
START, END = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
MAX = sys.float_info.max


def ranges_of(query: str) -> tuple[AttrRange, ...]:
    return required_ranges(parse(query).filter)


def test_comparisons_ranges_and_numeric_equality_imply_ranges() -> None:
    assert ranges_of("status:>=500") == (AttrRange("status", 500.0, MAX),)
    assert ranges_of("status:<=200") == (AttrRange("status", -MAX, 200.0),)
    (above,) = ranges_of("status:>500")
    assert above.low == math.nextafter(500.0, math.inf) and above.high == MAX
    assert ranges_of("status:[200 TO 300}") == (AttrRange("status", 200.0, math.nextafter(300.0, -math.inf)),)
    assert ranges_of("status:500") == (AttrRange("status", 500.0, 500.0),)
    assert ranges_of("status:>=500 AND latency:<1.5 AND error") == (
        AttrRange("status", 500.0, MAX),
        AttrRange("latency", -MAX, math.nextafter(1.5, -math.inf)),
    )


@pytest.mark.parametrize(
    "query",
    [
        "status:>=500 OR level:error",  # OR: a line may match without the range
        "NOT status:>=500",
        "-status:500",
        "status:abc",  # text
        "status:[a TO z]",
        "severity:>=9",  # a core column: no typed column
        "status:*",
    ],
)
def test_filters_that_imply_no_range(query: str) -> None:
    assert ranges_of(query) == ()


def test_the_typed_column_test_by_type() -> None:
    tables = {
        "t1": {
            "status": TypedColumn("status", "a$status", "BIGINT"),
            "ratio": TypedColumn("ratio", "a$ratio", "DOUBLE"),
            "path": TypedColumn("path", "a$path", "VARCHAR"),
        },
        "t2": {},
    }
    got = range_filters(
        tables,
        [AttrRange("status", 499.5, MAX), AttrRange("status", -MAX, 600.2), AttrRange("ratio", 0.5, 0.75)],
    )
    assert got == {"t1": '"a$status" BETWEEN 500 AND 600 AND "a$ratio" BETWEEN 0.5 AND 0.75'}
    assert range_filters(tables, [AttrRange("status", 500.2, 500.7)]) == {"t1": "false"}
    assert range_filters(tables, [AttrRange("path", 1.0, 2.0)]) == {}  # text columns keep the query's own test
    huge = range_filters(tables, [AttrRange("status", 1e300, MAX)])
    assert huge == {"t1": "false"}  # beyond BIGINT: no integer is in the range
    # Past 2^53 a BIGINT's DOUBLE is rounded (2^53 + 3 reads as 2^53 + 4): the integer bounds are widened.
    big = range_filters(tables, [AttrRange("status", 2.0**53 + 4, 2.0**53 + 4)])
    assert big == {"t1": f'"a$status" BETWEEN {2**53 + 4 - 2**11} AND {2**63 - 1}'}
    below = range_filters(tables, [AttrRange("status", -MAX, -(2.0**60))])
    assert below == {"t1": f'"a$status" BETWEEN {-(2**63)} AND {-(2**60) + 2**11}'}


def records(n: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    out: list[dict[str, Any]] = []
    for i in range(n):
        rec: dict[str, Any] = {"ts": f"2026-11-20T{i % 24:02d}:{i % 60:02d}:00Z", "msg": f"line {i}", "service": "s"}
        if i % 3:
            rec["status"] = rng.choice([200, 201, 304, 404, 499, 500, 502, 503])
            rec["ratio"] = rng.choice([0.25, 0.5, 0.75, 1.5, -2.5])  # not integral: a DOUBLE column
            rec["big"] = rng.choice([2**53 + 3, 2**53 + 1, 7])  # 2**53 + 3 reads as the DOUBLE 2**53 + 4
        out.append(rec)
    return out


def batch(recs: list[dict[str, Any]]) -> pa.Table:
    decoded = decode_json_body(b"\n".join(orjson.dumps(r) for r in recs))
    return normalize(decoded.records, BatchContext("default", "http", NOW))


def expected(recs: list[dict[str, Any]], test: Any) -> int:
    return sum(1 for r in recs if "status" in r and test(r))


QUERIES: list[tuple[str, Any]] = [
    ("status:>=500", lambda r: r["status"] >= 500),
    ("status:>499", lambda r: r["status"] > 499),
    ("status:<300", lambda r: r["status"] < 300),
    ("status:[300 TO 499}", lambda r: 300 <= r["status"] < 499),
    ("status:{200 TO 500]", lambda r: 200 < r["status"] <= 500),
    ("status:500", lambda r: r["status"] == 500),
    ("status:500.0", lambda r: False),  # compared as text: "500" is not "500.0"
    ("status:>=499.5", lambda r: r["status"] >= 499.5),
    ("status:>=1e300", lambda r: False),
    ("ratio:>0.5", lambda r: r["ratio"] > 0.5),
    ("ratio:[-2.5 TO 0.5}", lambda r: -2.5 <= r["ratio"] < 0.5),
    ("status:>=500 AND ratio:<1", lambda r: r["status"] >= 500 and r["ratio"] < 1),
    ("status:>=500 OR ratio:<0", lambda r: r["status"] >= 500 or r["ratio"] < 0),
    (f"big:>={2**53 + 4}", lambda r: float(r["big"]) >= 2.0**53 + 4),
    (f"big:{2**53 + 3}", lambda r: r["big"] == 2**53 + 3),
    ("big:<8", lambda r: r["big"] < 8),
]


async def test_answers_are_unchanged_and_the_typed_column_is_tested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recs = records(3000)
    store = DuckDBStore(make_config(tmp_path, **{"store.apply_interval": "1h"}))
    seen: list[str] = []
    real = attr_ranges.range_filters

    def spying(tables: Any, ranges: Any) -> dict[str, str]:
        found = real(tables, ranges)
        seen.extend(found.values())
        return found

    monkeypatch.setattr(attr_ranges, "range_filters", spying)
    try:
        await store.append(batch(recs[:2000]))
        await store.flush()
        await store.append(batch(recs[2000:]))  # not yet applied: read from memory, without typed columns
        for query, test in QUERIES:
            seen.clear()
            result = await run_query(store, query, tenant="default", start=START, end=END, limit=5000, now=NOW)
            assert result.total == expected(recs, test), query
            for stat in ("count()",):
                rows = await run_query(
                    store, f"{query} | stats {stat}", tenant="default", start=START, end=END, limit=10, now=NOW
                )
                assert rows.rows is not None and rows.rows[0][0] == expected(recs, test), query
            if ranges_of(query):
                assert seen and all("a$" in test_sql or test_sql == "false" for test_sql in seen), (query, seen)
            else:
                assert not seen, query
    finally:
        await store.close()


def test_a_range_needs_an_and_of_every_branch() -> None:
    node = ast.Or(
        (
            ast.Compare(ast.FieldRef("status", False), ">=", "500"),
            ast.Compare(ast.FieldRef("status", False), ">=", "400"),
        )
    )
    assert required_ranges(node) == ()
