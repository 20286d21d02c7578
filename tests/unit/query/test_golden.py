"""Golden files: query text → AST → plan → DuckDB SQL (store/duckdb/plan_sql.py) for every construct.

Regenerate after an intended change with `LOGWARDEN_UPDATE_GOLDEN=1 pytest tests/unit/query/test_golden.py`
and review the diff.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlglot

from logwarden.query.parser import parse
from logwarden.query.planner import plan
from logwarden.store.duckdb.plan_sql import query_statements

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
START = datetime(2026, 11, 21, 11, 0, tzinfo=UTC)
END = datetime(2026, 11, 21, 12, 5, tzinfo=UTC)

CASES: dict[str, str] = {
    "term": "timeout",
    "phrase": '"Connection Refused"',
    "prefix": "conn*",
    "inner_wildcard": "time*out",
    "terms_and": 'timeout "connection refused" conn*',
    "level": "level:warning",
    "service": "service:api",
    "attrs_prefixed": "attrs.user_id:42",
    "attrs_bare": "user_id:42",
    "attrs_core_name": "attrs.level:debug",
    "dotted_key": "http.status:500",
    "compare_ge": "status:>=500",
    "compare_lt": "latency_ms:<100",
    "compare_text": "version:>v2",
    "level_compare": "level:>=warn",
    "range_inclusive": "latency_ms:[100 TO 500]",
    "range_exclusive": "latency_ms:{100 TO 500}",
    "range_open": "latency_ms:[100 TO *]",
    "wildcard": "host:web-*",
    "wildcard_escape": "path:/api/v1_%*",
    "cidr_v4": "client_ip:10.0.0.0/8",
    "cidr_v6": "client_ip:2001:db8::/32",
    "exists": "_exists_:trace_id",
    "exists_attr": "_exists_:user_id",
    "quoted_value": 'service:"my svc"',
    "regex": "message:/time(out|d out)/",
    "regex_attr": "path:/^\\/api\\/v[0-9]+/",
    "boolean": "level:error AND (service:api OR service:web) AND NOT host:db-1",
    "minus": "timeout -service:api",
    "value_list": "level:(error OR fatal)",
    "time": "timeout _time:[now-30m TO now-5m]",
    "time_cmp": "_time:>=now-10m",
    "severity": "severity:>=17",
    "stats": "level:error | stats count() by service",
    "stats_all": (
        "| stats count(), avg(latency_ms), sum(bytes), min(latency_ms), max(latency_ms), p50(latency_ms), "
        "p95(latency_ms), p99(latency_ms), count_distinct(user_id) by service, host"
    ),
    "stats_alias_where": '| stats count() as n by service | where n > 10 and service != "api"',
    "top": "level:error | top 10 host",
    "rare": "| rare 5 user_agent",
    "patterns_pipe": "level:error | patterns 5",
    "pattern_alias": "pattern:0123456789abcdef",
    "timechart": "| timechart span=1m count() by level",
    "timechart_auto": "| timechart avg(latency_ms)",
    "sort_hits": "timeout | sort -latency_ms, +host",
    "limit": "timeout | limit 5",
    "fields": "timeout | fields service, user_id, attrs.level",
    "stats_sort_limit_fields": (
        "| stats count() as n, avg(latency_ms) as avg by service | sort -avg | limit 3 | fields service, avg"
    ),
    "top_multi": "| top 5 host, service",
    "rare_multi": "| rare 3 service, attrs.region",
    "extract_stats": (
        'sshd "Failed password" | extract "from (?P<ip>\\S+) port (?P<port>\\d+)" | stats count() as n by ip'
    ),
    "extract_pattern_top": '| extract pattern "<_> from <ip> port <port>" | top 5 ip',
    "extract_from_fields": '| extract "user=(?P<user>\\w+)" from attrs.raw | fields user, host',
    "extract_hits": '| extract "took (?P<ms>\\d+)ms" | where ms > 100 | sort -ms | limit 5',
    "json_where_top": "| json | where status >= 500 | top 3 path",
    "json_from": "| json from attrs.payload | stats avg(user.age) by user.name",
    "logfmt_timechart": "| logfmt | timechart span=5m avg(duration) by method",
    "nocase": 'service:i(HDFS) host:i(Web-*) user:i("Ann Lee")',
    "eval_case": (
        '| json | eval kind = case(status >= 500, "error", status >= 400, "client", "ok") '
        "| eval ms = round(duration / 1000, 1) | stats avg(ms) by kind"
    ),
    "eval_strings": (
        '| eval who = lower(concat(host, "/", substr(service, 1, 3))) | eval n = if(len(who) > 5, 1, 0) | fields who, n'
    ),
    "where_hits": '| where status >= 500 and service != "api"',
}


def render(text: str) -> str:
    query = parse(text)
    the_plan = plan(query, tenant="acme", start=START, end=END, limit=100, now=NOW)
    lines = [f"query: {text}", f"ast: {query!r}", f"range: {the_plan.start.isoformat()} .. {the_plan.end.isoformat()}"]
    select, count = query_statements(the_plan.plan)
    pretty = sqlglot.transpile(select.sql(dialect="duckdb"), read="duckdb", write="duckdb", pretty=True)[0]
    lines.append("sql: " + pretty)
    if count is not None:
        lines.append("count: " + count.sql(dialect="duckdb"))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    path = GOLDEN / f"{name}.txt"
    got = render(CASES[name])
    if os.environ.get("LOGWARDEN_UPDATE_GOLDEN"):
        path.write_text(got)
    assert path.exists(), f"missing golden file {path}; run with LOGWARDEN_UPDATE_GOLDEN=1"
    assert got == path.read_text()


def test_every_golden_file_has_a_case() -> None:
    assert {p.stem for p in GOLDEN.glob("*.txt")} == set(CASES)
