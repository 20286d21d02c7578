"""Fuzz every HTTP route family in-process and count 5xx answers: there must be none.

    python bench/fuzz.py                              # 100k cases per family (long)
    python bench/fuzz.py --cases 2000 --family query --family sql

The app runs in-process (httpx ASGITransport, with its lifespan) on a fresh temp data dir. Each case is a
random or mutated request: valid seeds with bytes flipped, inserted, deleted, duplicated or cut, random
bytes, and values at the edges of what times, numbers and JSON hold. The last line on stdout is one JSON
object: cases, status histogram, 5xx count with the first reproducers, and cases/s per family. The exit
status is 1 when any case answered 5xx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from logwarden.api.app import create_app
from logwarden.config import load_config
from logwarden.query.parser import PIPE_NAMES

MAX_REPRODUCERS = 5

EDGE_TIMES = [
    "99999999999999999999",
    "now-1000000d",
    "now+1000000d",
    "now-99999999999999999999d",
    "now+30d",
    "now-15m",
    "15m",
    "0",
    "-1",
    "1e21",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59.999999Z",
    "10000-01-01T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "now",
    "",
    "²",
    "9" * 5000,
]
EDGE_VALUES: list[Any] = [
    "10000-01-01T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    1e21,
    1e308,
    -1e308,
    10**30,
    "1" * 30,
    253402300800,
    True,
    None,
    [],
    {},
    "",
    "x" * 1000,
    "\u0000",
    "é",
]
DURATIONS = ["1s", "1m", "0s", "1ms", "9999999999999d", "36601d", "36600d", "1w", "-1m", "1.5h", "1y", "01m"]
QUERY_WORDS = [
    *PIPE_NAMES,
    *'|()[]{}-*:"=,',
    "TO",
    "AND",
    "OR",
    "NOT",
    "/x+/",
    "/(/",
    "level:",
    "level:error",
    "_time:",
    "_exists_:",
    "status:>=500",
    "count()",
    "avg(latency_ms)",
    "p99(x)",
    "by",
    "as",
    "span=1m",
    # query-time extraction (extract / json / logfmt / eval) and case-insensitive values
    '"from (?P<ip>\\S+) port (?P<port>\\d+)"',
    '"(?P<a>"',
    "pattern",
    '"<_> from <ip> <_>"',
    "from",
    "attrs.payload",
    "ip",
    "x =",
    'if(x > 1, "a", len(ip))',
    'case(ip = "a", 1 / 0, 2)',
    "nope(1)",
    "+",
    "*",
    "service:i(API)",
    "host:i(WEB-*)",
    "span=9999999999999d",
    "10.0.0.0/8",
    "2001:db8::/129",
    "now-1h",
    "now-1000000d",
    "==",
    "10001",
    "x",
    "attrs.a",
    "error",
]
SQL_WORDS = [
    "SELECT",
    "count(*)",
    "*",
    "FROM",
    "logs",
    "WHERE",
    "ts",
    ">",
    "'10000-01-01'::DATE",
    "'infinity'::TIMESTAMP",
    "1e308",
    "GROUP BY",
    "ORDER BY",
    "1",
    "LIMIT",
    "message",
    ",",
    "(",
    ")",
    ";",
    "'x'",
    "NULL",
    "range(3)",
    "interval 1 day",
    "9223372036854775807",
    "/",
    "0",
]

SQL_SEEDS = [
    "SELECT count(*) FROM logs",
    "SELECT * FROM logs LIMIT 5",
    "SELECT level, count(*) FROM logs GROUP BY 1 ORDER BY 2 DESC",
    "SELECT '10000-01-01'::DATE",
    "SELECT 'infinity'::TIMESTAMP",
    "SELECT 1e308 * 10",
    "SELECT 9223372036854775807 + 1",
    "SELECT [1, 2, 3], {'a': 1}",
    "SELECT ts, message FROM logs WHERE message LIKE '%line%'",
    "SELECT interval 1 day, 'x'::BLOB, 1.5::DECIMAL(10, 2)",
]


@dataclass
class Request:
    """One fuzz case: what to send."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def reproducer(self) -> str:
        """A curl line that sends the same request."""
        query = "&".join(f"{quote(k)}={quote(v)}" for k, v in self.params.items())
        url = "http://localhost:8080" + self.path + (f"?{query}" if query else "")
        parts = ["curl", "-sS", "-X", self.method, repr(url)]
        parts += [f"-H {k + ': ' + v!r}" for k, v in self.headers.items()]
        if self.body is not None:
            parts.append(f"--data-binary {self.body[:2000].decode('utf-8', 'backslashreplace')!r}")
        return " ".join(parts)


class Gen:
    """Random inputs from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def text(self, size: int = 20) -> str:
        alphabet = "abcxyz019 _-.:/|*?\"'()[]{}<>=!\\\u00e9\u0000\n\t%+#&"
        return "".join(self.r.choice(alphabet) for _ in range(self.r.randint(0, size)))

    def time(self) -> str:
        pick = self.r.random()
        if pick < 0.5:
            return self.r.choice(EDGE_TIMES)
        if pick < 0.7:
            return f"now{self.r.choice('+-')}{self.r.randint(0, 10 ** self.r.randint(1, 25))}{self.r.choice('smhdw')}"
        if pick < 0.85:
            return str(self.r.randint(-(10**12), 10 ** self.r.randint(1, 22)))
        return self.text()

    def value(self, depth: int = 0) -> Any:
        pick = self.r.random()
        if pick < 0.3:
            return self.r.choice(EDGE_VALUES)
        if pick < 0.45 and depth < 3:
            return [self.value(depth + 1) for _ in range(self.r.randint(0, 3))]
        if pick < 0.6 and depth < 3:
            return {self.text(8): self.value(depth + 1) for _ in range(self.r.randint(0, 3))}
        if pick < 0.75:
            return self.r.randint(-(2**70), 2**70)
        if pick < 0.85:
            return self.r.uniform(-1e20, 1e20)
        return self.text()

    def words(self, vocabulary: list[str], n: int = 10) -> str:
        return " ".join(self.r.choice(vocabulary) if self.r.random() < 0.8 else self.text(6) for _ in range(n))

    def mutate(self, seed: bytes) -> bytes:
        data = bytearray(seed)
        for _ in range(self.r.randint(1, 6)):
            op = self.r.choice(("flip", "insert", "delete", "truncate", "dup"))
            pos = self.r.randint(0, max(len(data) - 1, 0))
            if op == "flip" and data:
                data[pos] = self.r.randint(0, 255)
            elif op == "insert":
                data[pos:pos] = self.r.randbytes(self.r.randint(1, 8))
            elif op == "delete":
                del data[pos : pos + self.r.randint(1, 8)]
            elif op == "truncate":
                del data[pos:]
            else:
                data[pos:pos] = data[pos : pos + self.r.randint(1, 32)]
        return bytes(data)

    def body(self, seed: bytes) -> bytes:
        """The seed as is, mutated, or random bytes."""
        pick = self.r.random()
        if pick < 0.2:
            return seed
        if pick < 0.85:
            return self.mutate(seed)
        return self.r.randbytes(self.r.randint(0, 200))

    def maybe(self, params: dict[str, str | None]) -> dict[str, str]:
        """Each parameter present with probability 3/4."""
        return {k: v for k, v in params.items() if v is not None and self.r.random() < 0.75}


def dumps(value: Any) -> bytes:
    # json, not orjson: a careless client writes integers past 64 bits and Infinity.
    return json.dumps(value).encode()


def _ndjson(objects: list[Any]) -> bytes:
    return b"\n".join(dumps(x) for x in objects)


def _segment(value: str) -> str:
    return quote(value, safe="") or "_"


def native(g: Gen) -> Request:
    lines = [{"ts": g.value(), "msg": g.value(), "level": g.value()} for _ in range(g.r.randint(1, 5))]
    content_type = g.r.choice(["application/x-ndjson", "application/json", "text/plain", "", "x/y"])
    seed = dumps(lines) if g.r.random() < 0.2 else _ndjson(lines)
    return Request("POST", "/api/v1/ingest", body=g.body(seed), headers={"Content-Type": content_type})


def es_bulk(g: Gen) -> Request:
    actions = [{"index": {}}, {"create": {"_index": g.text(8)}}, {g.text(6): g.value()}]
    pairs = [x for _ in range(g.r.randint(1, 4)) for x in (g.r.choice(actions), {"@timestamp": g.value()})]
    path = "/_bulk" if g.r.random() < 0.7 else f"/{_segment(g.text(10))}/_bulk"
    return Request("POST", path, body=g.body(_ndjson(pairs) + b"\n"), headers={"Content-Type": "application/x-ndjson"})


def loki(g: Gen) -> Request:
    values = [[g.value(), g.value()] for _ in range(g.r.randint(0, 3))]
    seed = dumps({"streams": [{"stream": {g.text(6): g.value()}, "values": values}]})
    content_type = g.r.choice(["application/json", "application/x-protobuf", ""])
    return Request("POST", "/loki/api/v1/push", body=g.body(seed), headers={"Content-Type": content_type})


def otlp(g: Gen) -> Request:
    record = {"timeUnixNano": g.value(), "body": {"stringValue": g.value()}, "severityNumber": g.value()}
    seed = dumps({"resourceLogs": [{"resource": {"attributes": g.value()}, "scopeLogs": [{"logRecords": [record]}]}]})
    content_type = g.r.choice(["application/json", "application/x-protobuf", ""])
    return Request("POST", "/v1/logs", body=g.body(seed), headers={"Content-Type": content_type})


def query(g: Gen) -> Request:
    params = g.maybe(
        {"q": g.words(QUERY_WORDS, g.r.randint(0, 10)), "start": g.time(), "end": g.time(), "limit": g.time()}
    )
    pick = g.r.random()
    if pick < 0.3:
        return Request("POST", "/api/v1/query", body=g.body(dumps(params)))
    if pick < 0.5:
        path = g.r.choice(["/api/v1/search", "/api/v1/stats/count"])
        return Request("GET", path, params={**params, **g.maybe({"by": g.text(), "level": g.text(6)})})
    return Request("GET", "/api/v1/query", params=params)


def histogram(g: Gen) -> Request:
    params = g.maybe(
        {
            "q": g.words(QUERY_WORDS, g.r.randint(0, 6)),
            "start": g.time(),
            "end": g.time(),
            "interval": g.r.choice(DURATIONS) if g.r.random() < 0.7 else g.text(6),
            "buckets": str(g.r.randint(-5, 20_000)),
            "by": g.r.choice(["level", "service", "attrs.x", "", "ts", g.text(6)]),
        }
    )
    return Request("GET", "/api/v1/histogram", params=params)


def fields(g: Gen) -> Request:
    params = g.maybe({"q": g.words(QUERY_WORDS, g.r.randint(0, 6)), "start": g.time(), "end": g.time()})
    return Request("GET", "/api/v1/fields", params=params)


def sql(g: Gen) -> Request:
    extra = {k: g.value() if g.r.random() < 0.5 else g.time() for k in ("start", "end", "limit", "timeout")}
    statement = g.r.choice(SQL_SEEDS) if g.r.random() < 0.5 else g.words(SQL_WORDS, g.r.randint(0, 10))
    if g.r.random() < 0.3:
        statement = g.mutate(statement.encode()).decode("utf-8", "replace")
    body = {"sql": statement, **(g.maybe(extra) if g.r.random() < 0.3 else {})}
    return Request("POST", "/api/v1/sql", body=g.body(dumps(body)) if g.r.random() < 0.3 else dumps(body))


def _id(g: Gen) -> str:
    return g.r.choice(["id0", "id3", "t1", "x", g.text(12)])


def context(g: Gen) -> Request:
    params = g.maybe({"before": g.time(), "after": str(g.r.randint(-5, 10**6)), "start": g.time(), "end": g.time()})
    return Request("GET", f"/api/v1/context/{_segment(_id(g))}", params=params)


def trace(g: Gen) -> Request:
    params = g.maybe({"limit": str(g.r.randint(-5, 10**6)), "start": g.time(), "end": g.time()})
    return Request("GET", f"/api/v1/trace/{_segment(_id(g))}", params=params)


def saved_searches(g: Gen) -> Request:
    method = g.r.choice(["GET", "POST", "PUT", "DELETE"])
    path = "/api/v1/saved-searches" + ("" if method == "POST" or g.r.random() < 0.3 else f"/{_segment(_id(g))}")
    fields_ = g.maybe({"name": g.text(), "query": g.words(QUERY_WORDS, 4), "start": g.time(), "end": g.time()})
    body = {**fields_, **({g.text(5): g.value()} if g.r.random() < 0.2 else {})}
    return Request(method, path, body=g.body(dumps(body)) if method in ("POST", "PUT") else None)


FAMILIES: dict[str, Callable[[Gen], Request]] = {
    "native": native,
    "es_bulk": es_bulk,
    "loki": loki,
    "otlp": otlp,
    "query": query,
    "histogram": histogram,
    "fields": fields,
    "sql": sql,
    "context": context,
    "trace": trace,
    "saved_searches": saved_searches,
}


@dataclass
class FamilyReport:
    """What one family's cases got back."""

    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: int = 0
    reproducers: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "5xx": self.server_errors,
            "first_5xx": self.reproducers,
            "cases_per_second": round(self.cases / self.seconds, 1) if self.seconds else None,
        }


async def _seed_lines(client: httpx.AsyncClient) -> None:
    # Lines of the moment with known ids, so context and trace sometimes find one.
    now = datetime.now(UTC)
    lines = [{"ts": (now - timedelta(seconds=i)).isoformat(), "msg": f"line {i}", "trace_id": "t1", "log_id": f"id{i}"}
             for i in range(5)]  # fmt: skip
    resp = await client.post("/api/v1/ingest", content=_ndjson(lines))
    resp.raise_for_status()


async def run_family(client: httpx.AsyncClient, name: str, cases: int, seed: int) -> FamilyReport:
    """Send `cases` generated requests one after another and tally the answers."""
    make = FAMILIES[name]
    gen = Gen(seed)
    report = FamilyReport()
    began = time.perf_counter()
    for _ in range(cases):
        req = make(gen)
        try:
            resp = await client.request(
                req.method, req.path, params=req.params, content=req.body, headers=req.headers, timeout=30
            )
            status, text = resp.status_code, resp.text[:300]
        except (httpx.InvalidURL, httpx.LocalProtocolError, UnicodeEncodeError):
            continue  # the client library refused to send it: not a request the server can see
        except Exception as exc:  # the ASGI app raised instead of answering: a 500 on a real server
            status, text = 500, f"{type(exc).__name__}: {exc}"
        report.cases += 1
        report.statuses[status] += 1
        if status >= 500:
            report.server_errors += 1
            if len(report.reproducers) < MAX_REPRODUCERS:
                report.reproducers.append({"status": status, "answer": text, "curl": req.reproducer()})
    report.seconds = time.perf_counter() - began
    return report


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="logwarden-fuzz-") as tmp:
        config = load_config(None, env={}, overrides={"data_dir": str(Path(tmp) / "data")})
        app = create_app(config, run_maintenance=False)
        families: dict[str, Any] = {}
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
            async with httpx.AsyncClient(transport=transport, base_url="http://fuzz") as client:
                await _seed_lines(client)
                for i, name in enumerate(args.family or list(FAMILIES)):
                    print(f"fuzzing {name}: {args.cases} cases", file=sys.stderr, flush=True)
                    report = await run_family(client, name, args.cases, args.seed + i)
                    families[name] = report.to_json()
                    # Progress on stderr, so a long run that is cut short still says what it found.
                    print(json.dumps({name: families[name]}), file=sys.stderr, flush=True)
    total_5xx = sum(f["5xx"] for f in families.values())
    return {
        "benchmark": "fuzz",
        "cases_per_family": args.cases,
        "seed": args.seed,
        "cases": sum(f["cases"] for f in families.values()),
        "5xx": total_5xx,
        "families": families,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000, help="cases per family (default 100000)")
    parser.add_argument("--family", action="append", choices=sorted(FAMILIES), help="only these (repeatable)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args()
    # The server logs every refused line and internal error; the JSON summary is what matters here.
    logging.basicConfig(level=logging.CRITICAL)
    summary = asyncio.run(main_async(args))
    print(json.dumps(summary))
    return 1 if summary["5xx"] else 0


if __name__ == "__main__":
    sys.exit(main())
