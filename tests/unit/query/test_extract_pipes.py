"""Query-time extraction on a real DuckDB store: `extract` (regex and pattern), `json`, `logfmt`, line
`where`, and multi-field `top`/`rare`; extracted fields work in later pipes like stored ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from logwarden.model.normalize import BatchContext, normalize
from logwarden.query.engine import run_query
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.filter import compile_filter
from logwarden.query.parser import PIPE_NAMES, parse
from logwarden.store.duckdb import DuckDBStore
from tests.conftest import make_config

DAY = datetime(2026, 11, 21, tzinfo=UTC)
END = DAY + timedelta(days=1)

SSH = [
    "Failed password for root from 10.0.0.1 port 22 ssh2",
    "Failed password for admin from 10.0.0.2 port 2222 ssh2",
    "Failed password for root from 10.0.0.1 port 22 ssh2",
    "Accepted password for bob from 10.0.0.9 port 22 ssh2",
]
JSON = ['{"status": 503, "path": "/pay", "user": {"name": "ann"}}', '{"status": 200, "path": "/"}', "not json"]
LOGFMT = ['method=GET duration=12 msg="hello \\"world\\""', "method=POST duration=30", "method= duration=x"]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DuckDBStore]:
    the_store = DuckDBStore(make_config(tmp_path))
    messages = SSH + JSON + LOGFMT
    ts = [(DAY + timedelta(minutes=i)).isoformat() for i in range(len(messages))]
    services = ["sshd"] * len(SSH) + ["api"] * len(JSON) + ["web"] * len(LOGFMT)
    hosts = ["h1", "h2", "h1", "h2", "h1", "h1", "h2", "h1", "h2", "h2"]
    path = [None] * len(SSH) + [None, None, None] + ["/stored", None, None]
    raw = pa.table({"ts": ts, "msg": messages, "service": services, "host": hosts, "path": path})
    await the_store.append(normalize(raw, BatchContext("default", "http", DAY)))
    await the_store.flush()
    try:
        yield the_store
    finally:
        await the_store.close()


async def rows(store: DuckDBStore, text: str) -> list[list[Any]]:
    result = await run_query(store, text, tenant="default", start=DAY, end=END)
    assert result.kind == "table"
    return result.rows


async def test_failed_logins_by_source_ip(store: DuckDBStore) -> None:
    text = r'"Failed password" | extract "from (?P<ip>\S+) port (?P<port>\d+)" | stats count() as n by ip'
    assert await rows(store, text) == [["10.0.0.1", 2], ["10.0.0.2", 1]]


async def test_pattern_form_and_top(store: DuckDBStore) -> None:
    text = '| extract pattern "<_> for <user> from <ip> port <port> <_>" | top 5 user'
    assert await rows(store, text) == [["root", 2, 50.0], ["admin", 1, 25.0], ["bob", 1, 25.0]]


async def test_extracted_numbers_filter_sort_and_aggregate(store: DuckDBStore) -> None:
    text = r'service:sshd | extract "port (?P<port>\d+)" | where port > 100 | stats sum(port) as s'
    assert await rows(store, text) == [[2222.0]]
    hits = await run_query(
        store,
        r'service:sshd | extract "port (?P<port>\d+)" | sort -port | limit 2',
        tenant="default",
        start=DAY,
        end=END,
    )
    assert [h["port"] for h in hits.hits] == ["2222", "22"]
    assert hits.total == 4 and hits.hits[0]["attrs"] == {}


async def test_fields_after_extract(store: DuckDBStore) -> None:
    text = r'service:sshd "Accepted" | extract "for (?P<user>\w+)" | fields user, host'
    hits = await run_query(store, text, tenant="default", start=DAY, end=END)
    assert hits.hits == [{"user": "bob", "host": "h2"}]


async def test_json_unpacks_keys_and_nested_paths(store: DuckDBStore) -> None:
    assert await rows(store, "service:api | json | where status >= 500 | top 3 path") == [["/pay", 1, 100.0]]
    assert await rows(store, "service:api | json | stats count() by user.name") == [[None, 2], ["ann", 1]]


async def test_logfmt_unpacks_quoted_and_bare_values(store: DuckDBStore) -> None:
    assert await rows(store, "service:web | logfmt | stats avg(duration) as d, count(method) as m") == [[21.0, 2]]
    text = 'service:web | logfmt | where method = "GET" | fields msg'
    hits = await run_query(store, text, tenant="default", start=DAY, end=END)
    assert hits.hits == [{"msg": 'hello "world"'}]


async def test_extracted_value_wins_else_stored_field_shows_through(store: DuckDBStore) -> None:
    # The logfmt line stored attrs path=/stored; its message has no path key.
    assert await rows(store, "| logfmt | top 3 path") == [["/stored", 1, 100.0]]


async def test_timechart_by_extracted_field(store: DuckDBStore) -> None:
    text = "service:web | logfmt | timechart span=1d count() by method"
    # `method=` (empty) is no value: its line counts in the null group.
    assert await rows(store, text) == [[DAY, "GET", 1], [DAY, "POST", 1], [DAY, None, 1]]


async def test_top_and_rare_over_several_fields(store: DuckDBStore) -> None:
    assert await rows(store, "| top 2 service, host") == [["api", "h1", 2, 20.0], ["sshd", "h1", 2, 20.0]]
    assert (await rows(store, "| rare 1 service, host"))[0][2] == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('| extract "(\\d+)"', "named groups"),
        ('| extract "(?P<host>\\S+)"', "cannot extract into 'host'"),
        ('| extract "(?P<a>["', "invalid regex"),
        ('| extract pattern "no captures"', "needs a <name>"),
        ('| extract pattern "<a> <a>"', "appears twice"),
        ("| stats count() | json", "come before stats"),
        ("| sort -x | logfmt", "come before sort"),
        ("| top 3 host, host", "appears twice"),
    ],
)
def test_bad_extraction_pipes_say_why(text: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError, match=message):
        parse(text)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("service:i(SSHD)", 4),
        ('service:i("Api")', 3),
        ("service:sshd", 4),
        ("service:SSHD", 0),
        ("host:i(H*)", 10),
        ("service:i(s?HD)", 4),
        ('service:i("s?HD")', 0),
        ("-service:i(WEB)", 7),
    ],
)
async def test_case_insensitive_field_values(store: DuckDBStore, text: str, count: int) -> None:
    result = await run_query(store, text, tenant="default", start=DAY, end=END)
    assert result.total == count


def test_case_insensitive_values_in_the_stream_filter() -> None:
    # Live tail and pipeline conditions compile the same node (query/filter.py).
    table = pa.table({"service": ["HDFS", "hdfs", "yarn", None], "attrs": ['{"u":"Ann"}', None, '{"u":"ann"}', None]})
    assert compile_filter("service:i(hdfs)").mask(table).to_pylist() == [True, True, False, False]
    assert compile_filter("u:i(ANN)").mask(table).to_pylist() == [True, False, True, False]


async def test_eval_arithmetic_and_functions(store: DuckDBStore) -> None:
    text = (
        r'service:sshd | extract "port (?P<port>\d+)" | eval p2 = port * 2 + 1 | eval who = upper(substr(host, 1, 1))'
        " | stats sum(p2) as s by who"
    )
    assert await rows(store, text) == [["H", 4 * 1 + (22 + 2222 + 22 + 22) * 2.0]]
    text = '| json | eval sev = case(status >= 500, "bad", status >= 200, "ok", "none") | top 3 sev'
    assert await rows(store, text) == [["none", 8, 80.0], ["bad", 1, 10.0], ["ok", 1, 10.0]]


async def test_eval_if_replace_len_and_division_by_zero(store: DuckDBStore) -> None:
    text = (
        "service:web | logfmt | eval d = duration / 0"
        ' | eval kind = if(len(method) > 3, "long", replace(method, "G", "g")) | fields method, d, kind'
    )
    hits = await run_query(store, text, tenant="default", start=DAY, end=END)
    assert sorted(hits.hits, key=str) == sorted(
        [
            {"method": "GET", "d": None, "kind": "gET"},
            {"method": "POST", "d": None, "kind": "long"},
            {"method": None, "d": None, "kind": None},
        ],
        key=str,
    )


async def test_eval_fields_appear_in_hits_and_filter(store: DuckDBStore) -> None:
    text = 'service:api | json | eval slow = status >= 500 | where slow = "true" | limit 5'
    hits = await run_query(store, text, tenant="default", start=DAY, end=END)
    assert [h["slow"] for h in hits.hits] == [True]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("| eval x = nope(1)", "unknown function 'nope'"),
        ("| eval x = substr(a)", "takes 2 to 3 arguments"),
        ("| eval service = 1", "core field"),
        ("| eval attrs.level = 1", "core field"),
        ("| eval x = 1 +", "unexpected end"),
        ("| eval x = " + "abs(" * 100 + "1" + ")" * 100, "nests expressions"),
        ("| stats count() | eval x = 1", "come before stats"),
    ],
)
def test_bad_eval_says_why(text: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError, match=message):
        parse(text)


@pytest.mark.parametrize(("text", "column"), [("| stats count() by x y", 22), ("error | json bar", 14)])
def test_errors_where_a_pipe_may_follow_list_every_pipe(text: str, column: int) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(text)
    assert caught.value.column == column
    assert caught.value.message.endswith(f"(a pipe is one of {', '.join(PIPE_NAMES)})")
    assert "extract" in PIPE_NAMES and "eval" in PIPE_NAMES


async def test_sorting_hits_by_a_constant_eval_keeps_the_default_order(store: DuckDBStore) -> None:
    hits = await run_query(store, "service:sshd | eval x = 0 | sort x", tenant="default", start=DAY, end=END)
    assert [h["x"] for h in hits.hits] == [0.0] * 4
    assert [h["message"] for h in hits.hits] == list(reversed(SSH))
