"""Live tail with per-line pipes: extract, json, logfmt, eval, where and fields apply to each line as in a
search; pipes that need more than one line are a clear error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pytest

from logwarden.model.schema import LOG_SCHEMA
from logwarden.outputs.tail import TailHub, compile_tail
from logwarden.query.errors import QuerySyntaxError

TS = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def batch(*messages: str, attrs: str | None = None) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "ts": TS,
                "observed_ts": TS,
                "tenant": "acme",
                "service": "sshd",
                "host": "h1",
                "message": message,
                "source": "http",
                "log_id": f"id-{i}",
                "attrs": attrs,
            }
            for i, message in enumerate(messages)
        ],
        schema=LOG_SCHEMA,
    )


@pytest.fixture
async def hub() -> AsyncIterator[TailHub]:
    the_hub = TailHub()
    try:
        yield the_hub
    finally:
        the_hub.close()


async def tail(hub: TailHub, text: str, table: pa.Table) -> list[dict[str, Any]]:
    query = compile_tail(text)
    sub = hub.subscribe("acme", query.mask, query.shape)
    hub.publish(table)
    await hub.drain()
    lines = await sub.next_lines(0.01)
    sub.close()
    return [orjson.loads(line) for line in lines or []]


SSH = (
    "Failed password for root from 10.0.0.1 port 22 ssh2",
    "Failed password for admin from 10.0.0.2 port 2222 ssh2",
    "session opened for bob",
)


async def test_extract_and_where_apply_per_line(hub: TailHub) -> None:
    text = r'Failed | extract "from (?P<ip>\S+) port (?P<port>\d+)" | where port > 100'
    lines = await tail(hub, text, batch(*SSH))
    assert [(line["ip"], line["port"], line["message"]) for line in lines] == [("10.0.0.2", "2222", SSH[1])]
    assert lines[0]["ts"] == "2026-11-21T10:00:00Z" and lines[0]["attrs"] == {}


async def test_pattern_eval_and_fields(hub: TailHub) -> None:
    text = '| extract pattern "<_> for <user> from <_>" | eval who = upper(user) | fields who, host'
    # As in a search, a line the pattern does not match still matches the filter: its fields are null.
    assert await tail(hub, text, batch(*SSH)) == [
        {"who": "ROOT", "host": "h1"},
        {"who": "ADMIN", "host": "h1"},
        {"who": None, "host": "h1"},
    ]


async def test_json_and_logfmt(hub: TailHub) -> None:
    json_lines = batch('{"status":503,"path":"/p"}', '{"status":200}', "x")
    assert await tail(hub, "| json | where status >= 500 | fields path", json_lines) == [{"path": "/p"}]
    logfmt = batch('level=warn msg="disk full"', "level=info msg=ok")
    # `level` is the core column; the logfmt key of that name is `attrs.level`.
    assert await tail(hub, '| logfmt | where attrs.level = "warn" | fields msg', logfmt) == [{"msg": "disk full"}]
    assert await tail(hub, '| logfmt | where level = "WARN" | fields msg', logfmt) == []


async def test_same_answer_as_without_pipes_when_none_given(hub: TailHub) -> None:
    assert compile_tail("Failed").shape is None
    lines = await tail(hub, "Failed", batch(*SSH))
    assert [line["message"] for line in lines] == list(SSH[:2])


@pytest.mark.parametrize(
    ("text", "name", "column"),
    [
        ("x | stats count()", "stats", 5),
        ("| top 3 host", "top", 3),
        ('| extract "(?P<a>.)" | sort a', "sort", 24),
        ("| limit 5", "limit", 3),
        ("| timechart count()", "timechart", 3),
    ],
)
def test_pipes_over_many_lines_are_refused(text: str, name: str, column: int) -> None:
    with pytest.raises(QuerySyntaxError, match=f"\\| {name} cannot run on a live tail") as caught:
        compile_tail(text)
    assert caught.value.column == column
