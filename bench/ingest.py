#!/usr/bin/env python3
"""Ingest throughput benchmark: a real `logwarden serve` against a bare pyarrow/polars + DuckDB baseline.

    python bench/ingest.py [--clients 8] [--duration 20] [--batch-lines 1000] [--line-bytes 220] [--gzip]

Steps: build a deterministic pool of NDJSON request bodies; start the server on a free loopback port
with a fresh data dir; from a separate process, send the bodies over `--clients` keep-alive
connections for a warm-up and then `--duration` seconds, timing each ack; sample the server's RSS
every 100 ms; stop it with SIGTERM and measure its data dir; then parse + insert the same bodies
with the fastest bare baseline in this process. Progress goes to stderr; the LAST stdout line is
one JSON object (see bench/README.md for the keys).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import itertools
import json
import math
import multiprocessing as mp
import os
import random
import resource
import shlex
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

from _common import ResourceSampler, Server, ServerError, dir_bytes, free_port, log, percentile
from protocols import PROTOCOLS, encode

MB = 1_000_000
# Per-client progress counters shared with the parent (each client thread writes only its own slots).
SLOTS = 4
LINES_SLOT, RETRIES_SLOT, ERRORS_SLOT, DROPPED_SLOT = range(SLOTS)
INGEST_PATH = "/api/v1/ingest"

# --------------------------------------------------------------------------------------------
# Data generation
# --------------------------------------------------------------------------------------------

# service -> (host name prefix, host count, uppercase levels?, message kinds with weights)
SERVICES: dict[str, tuple[str, int, bool, tuple[tuple[str, int], ...]]] = {
    "checkout": ("web", 8, False, (("http", 6), ("db", 2), ("error", 1), ("cache", 1))),
    "cart": ("web", 8, False, (("http", 6), ("cache", 3), ("db", 1))),
    "payments": ("pay", 4, True, (("http", 4), ("db", 2), ("error", 2), ("auth", 1))),
    "inventory": ("inv", 4, False, (("db", 5), ("kafka", 3), ("error", 1))),
    "search": ("search", 6, False, (("http", 5), ("cache", 3), ("gc", 1))),
    "auth": ("auth", 3, False, (("auth", 5), ("http", 4), ("cache", 1))),
    "shipping": ("worker", 5, False, (("kafka", 4), ("file", 3), ("error", 1))),
    "notifier": ("worker", 5, True, (("kafka", 5), ("http", 2), ("error", 1))),
    "gateway": ("edge", 6, False, (("http", 9), ("error", 1))),
    "reports": ("batch", 2, False, (("file", 4), ("db", 4), ("gc", 2))),
    "recommend": ("ml", 3, False, (("http", 3), ("gc", 3), ("cache", 2))),
    "ledger": ("db-proxy", 2, True, (("db", 6), ("error", 1))),
}
SERVICE_NAMES = list(SERVICES)
SERVICE_WEIGHTS = [12, 10, 6, 8, 9, 6, 5, 4, 14, 2, 3, 3]

ROUTES = (
    "/api/v1/orders/{id}",
    "/api/v1/orders/{id}/items",
    "/api/v1/cart/{id}",
    "/api/v2/products/{id}/reviews",
    "/api/v1/users/{id}/sessions",
    "/api/v1/search",
    "/healthz",
    "/api/v1/payments/{id}/capture",
)
METHODS = ("GET", "GET", "GET", "POST", "POST", "PUT", "DELETE")
STATUSES = (200,) * 30 + (201, 204, 301, 304, 400, 401, 403, 404, 404, 409, 429, 500, 502, 503)
QUERIES = ("orders_by_user", "stock_for_sku", "insert_ledger_entry", "sessions_by_token", "daily_totals")
TOPICS = ("orders.created", "orders.paid", "shipments", "inventory.delta", "emails.outbox")
ERRORS = (
    ("TimeoutError", "timeout after {n}ms calling inventory-svc at http://inventory.internal:8080/reserve"),
    ("ConnectionResetError", "connection reset by peer while reading from redis-{k}.cache.internal:6379"),
    ("ValueError", "invalid currency code {code!r} in order {id}"),
    ("KeyError", "missing field 'sku' in payload from /var/spool/{svc}/in/{hex}.json"),
    ("IntegrityError", 'duplicate key value violates unique constraint "ledger_pkey" (id={id})'),
)
REGIONS = ("eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1")
TRACED_KINDS = frozenset(("http", "db", "error", "auth"))
PAD_WORDS = (
    "retrying",
    "upstream",
    "request",
    "handler",
    "session",
    "payload",
    "cached",
    "deadline",
    "partial",
    "fallback",
    "replica",
    "shard",
    "flushed",
    "queued",
    "batch",
    "client",
    "closed",
    "rejected",
)
PAD_KEYS = ("user", "zone", "attempt", "req", "shard", "tenant", "pool", "cid", "node", "build")


@dataclass(slots=True)
class Body:
    """One pre-built request: the raw NDJSON, what goes on the wire, and its line count."""

    raw: bytes
    wire: bytes
    lines: int
    path: str | None = None  # HTTP path; None for syslog
    content_type: str | None = None


class LineGenerator:
    """Deterministic (given the seed) realistic log records of about `line_bytes` bytes each."""

    def __init__(
        self, seed: int, line_bytes: int, start_epoch: float, span_s: float, n_lines: int, ordered: bool = False
    ) -> None:
        self.rng = random.Random(seed)
        # Padding as a logfmt logger writes it (one key order, then filler words in one order), so that lines
        # of one kind share masked pattern forms; by default keys and words come in random order and number.
        self.ordered = ordered
        self.target = line_bytes
        self.start = start_epoch
        self.step = span_s / max(1, n_lines)
        self.i = 0
        self.total = 0
        self._sec_cache: dict[int, str] = {}
        self._hosts = {
            name: [f"{prefix}-{k:02d}" for k in range(1, count + 1)]
            for name, (prefix, count, _upper, _kinds) in SERVICES.items()
        }
        self._kinds = {
            name: ([k for k, _ in kinds], [w for _, w in kinds]) for name, (_p, _c, _u, kinds) in SERVICES.items()
        }

    def _ts(self) -> str:
        t = self.start + self.i * self.step
        sec = int(t)
        prefix = self._sec_cache.get(sec)
        if prefix is None:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
            self._sec_cache = {sec: prefix}
        return f"{prefix}.{int((t - sec) * 1e3):03d}Z"

    def _record(self) -> dict[str, Any]:
        rng = self.rng
        service = rng.choices(SERVICE_NAMES, SERVICE_WEIGHTS)[0]
        _prefix, _count, upper, _ = SERVICES[service]
        kinds, weights = self._kinds[service]
        kind = rng.choices(kinds, weights)[0]
        level = "info"
        rec: dict[str, Any] = {"ts": self._ts(), "level": level, "service": service}
        rec["host"] = rng.choice(self._hosts[service])
        latency = int(rng.lognormvariate(2.6, 1.1))
        attrs: dict[str, Any] = {}
        if kind == "http":
            method = rng.choice(METHODS)
            route = rng.choice(ROUTES)
            status = rng.choice(STATUSES)
            path = route.replace("{id}", str(rng.randint(1, 999_999)))
            msg = f"{method} {path} {status} in {latency}ms"
            level = "error" if status >= 500 else "warn" if status in (429, 409) else "info"
            attrs = {"latency_ms": latency, "http": {"method": method, "status": status}}
        elif kind == "db":
            query = rng.choice(QUERIES)
            rows = int(rng.expovariate(1 / 40))
            msg = f"query {query} took {latency}ms rows={rows}"
            level = "warn" if latency > 200 else "debug" if rng.random() < 0.3 else "info"
            attrs = {"latency_ms": latency, "db_rows": rows}
        elif kind == "cache":
            msg = f"cache {'miss' if rng.random() < 0.3 else 'hit'} key=session:{rng.getrandbits(32):08x}"
            level = "debug"
        elif kind == "kafka":
            topic = rng.choice(TOPICS)
            part = rng.randrange(12)
            lag = int(rng.expovariate(1 / 300))
            msg = f"consumer lag topic={topic} partition={part} offset={rng.randint(10**6, 10**8)} lag={lag}"
            level = "warn" if lag > 1500 else "info"
            attrs = {"topic": topic, "partition": part}
        elif kind == "file":
            n = rng.randint(100, 5_000_000)
            msg = f"wrote {n} bytes to /var/lib/{service}/spool/{rng.getrandbits(48):012x}.tmp"
            attrs = {"bytes": n}
        elif kind == "auth":
            ok = rng.random() < 0.85
            user = f"u_{rng.randint(1, 250_000)}"
            msg = f"login {'ok' if ok else 'failed: invalid password'} for {user}"
            level = "info" if ok else "warn"
            attrs = {"user_id": user}
        elif kind == "gc":
            heap = rng.randint(200, 4000)
            msg = f"GC pause {latency}ms heap {rng.randint(50, heap)}MB/{heap}MB"
            level = "warn" if latency > 100 else "debug"
            attrs = {"latency_ms": latency}
        else:
            err, template = rng.choice(ERRORS)
            msg = template.format(
                n=latency * 100,
                k=rng.randrange(6),
                code=rng.choice(("EUR", "XXX", "", "usd")),
                id=rng.randint(1, 10**7),
                svc=service,
                hex=f"{rng.getrandbits(40):010x}",
            )
            level = "error"
            attrs = {"error_kind": err, "latency_ms": latency * 100}
        rec["level"] = level.upper() if upper else level
        rec["msg"] = msg
        if kind in TRACED_KINDS and rng.random() < 0.75:
            rec["trace_id"] = f"{rng.getrandbits(128):032x}"
        rec.update(attrs)
        if rng.random() < 0.1:
            rec["region"] = rng.choice(REGIONS)
        return rec

    def line(self) -> bytes:
        """One JSON line (no newline); its length including the newline averages `line_bytes`."""
        rng = self.rng
        rec = self._record()
        out = orjson.dumps(rec)
        # Steer the running mean to the target: a spread of sizes around it, corrected for the deficit.
        target = self.target
        self.i += 1
        correction = max(-0.3 * target, min(0.3 * target, target * (self.i - 1) - self.total))
        want = rng.uniform(0.6 * target, 1.4 * target) + correction - 1
        if len(out) < want:
            msg = rec["msg"]
            parts = [msg]
            grow = want - len(out)
            keys = list(PAD_KEYS[::-1]) if self.ordered else rng.sample(PAD_KEYS, len(PAD_KEYS))
            words = 0
            while grow > 0:
                if keys:
                    key = keys.pop()
                    value = rng.choice((rng.randint(0, 9999), f"{rng.getrandbits(rng.choice((16, 32))):x}"))
                    token = f" {key}={value}"
                elif self.ordered:
                    token = " " + PAD_WORDS[words % len(PAD_WORDS)]
                    words += 1
                else:
                    token = " " + rng.choice(PAD_WORDS)
                parts.append(token)
                grow -= len(token)
            rec["msg"] = "".join(parts)
            out = orjson.dumps(rec)
        self.total += len(out) + 1
        return out


def corpus_lines(n_lines: int, seed: int, start_epoch: float, span_s: float) -> list[bytes]:
    """`--messages corpus`: records whose messages are the labeled pattern corpus's ordinary logs
    (tests/patterns_corpus.py, all families, in runs of 1000 lines per service as sources send them)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.patterns_corpus import FAMILIES, family_lines

    rng = random.Random(seed)
    per = n_lines // len(FAMILIES) + 1
    pools = {name: [m for m, _ in family_lines(name, per, seed=seed)] for name in FAMILIES}
    pairs = [
        (name, m) for start in range(0, per, 1000) for name, pool in pools.items() for m in pool[start : start + 1000]
    ]
    out = []
    for i, (service, message) in enumerate(pairs[:n_lines]):
        t = start_epoch + i * span_s / n_lines
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
        level = rng.choice(("info", "info", "info", "warn", "error", "debug"))
        host = f"{service}-{rng.randint(1, 8)}"
        out.append(orjson.dumps({"ts": ts, "level": level, "service": service, "host": host, "msg": message}))
    return out


def build_bodies(
    *,
    pool_lines: int,
    batch_lines: int,
    line_bytes: int,
    seed: int,
    use_gzip: bool,
    protocol: str = "native",
    messages: str = "generated",
) -> tuple[list[Body], float]:
    """The request pool and the mean line size in bytes (newline included)."""
    n_bodies = max(1, math.ceil(pool_lines / batch_lines))
    n_lines = n_bodies * batch_lines
    # Event times: the last five minutes, so that no record is old enough to be archived or dropped.
    now = time.time()
    gen = LineGenerator(seed, line_bytes, now - 300.0, 299.0, n_lines, ordered=messages == "ordered")
    corpus = corpus_lines(n_lines, seed, now - 300.0, 299.0) if messages == "corpus" else None
    bodies: list[Body] = []
    for b in range(n_bodies):
        if corpus is None:
            lines = [gen.line() for _ in range(batch_lines)]
        else:
            lines = corpus[b * batch_lines : (b + 1) * batch_lines]
            gen.total += sum(len(line) + 1 for line in lines)
        raw = b"\n".join(lines) + b"\n"
        encoded = encode(protocol, lines)
        wire = encoded.payload
        if use_gzip and encoded.path is not None:
            wire = gzip.compress(wire, compresslevel=6, mtime=0)
        bodies.append(Body(raw, wire, batch_lines, encoded.path, encoded.content_type))
    return bodies, gen.total / n_lines


# --------------------------------------------------------------------------------------------
# Sender (runs in its own process)
# --------------------------------------------------------------------------------------------


class HttpError(Exception):
    pass


def _request_head(port: int, body: Body, use_gzip: bool) -> bytes:
    head = (
        f"POST {body.path or INGEST_PATH} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Content-Type: {body.content_type or 'application/x-ndjson'}\r\n"
        f"Content-Length: {len(body.wire)}\r\n"
    )
    if use_gzip:
        head += "Content-Encoding: gzip\r\n"
    return (head + "\r\n").encode()


class RawConnection:
    """A minimal keep-alive HTTP/1.1 client over one socket: the least client CPU per request."""

    def __init__(self, port: int, timeout: float) -> None:
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = b""

    def connect(self) -> None:
        self.close()
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.buf = b""

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None

    def _fill(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("server closed the connection")
        self.buf += chunk

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _read_line(self) -> bytes:
        while (i := self.buf.find(b"\r\n")) < 0:
            self._fill()
        line, self.buf = self.buf[:i], self.buf[i + 2 :]
        return line

    def roundtrip(self, head: bytes, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send one request, read the whole response: (status, lower-cased headers, body)."""
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        self.sock.sendall(head)
        self.sock.sendall(body)
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._fill()
        head_lines = self.buf[:end].decode("latin-1").split("\r\n")
        self.buf = self.buf[end + 4 :]
        parts = head_lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise HttpError(f"bad status line {head_lines[0]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in head_lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status in (204, 304) or 100 <= status < 200:
            payload = b""  # no body by definition (Loki answers 204 without Content-Length)
        elif "content-length" in headers:
            payload = self._read_exact(int(headers["content-length"]))
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while (size := int(self._read_line().split(b";")[0], 16)) > 0:
                chunks.append(self._read_exact(size))
                self._read_exact(2)
            while self._read_line():  # trailers
                pass
            payload = b"".join(chunks)
        else:
            while True:
                try:
                    self._fill()
                except ConnectionResetError:
                    break
            payload, self.buf = self.buf, b""
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, payload


@dataclass(slots=True)
class Ack:
    done: float  # monotonic time the final response arrived
    latency: float  # seconds from the first send of the body to its final response
    lines: int
    raw_bytes: int
    wire_bytes: int
    accepted: int
    rejected: int


@dataclass
class SenderConfig:
    port: int
    clients: int
    warmup: float
    duration: float
    use_gzip: bool
    timeout: float = 60.0
    protocol: str = "native"
    syslog_port: int = 0


def _syslog_loop(
    idx: int, *, cfg: SenderConfig, bodies: list[Body], order: itertools.count[int], window_end: float, counters: Any
) -> None:
    """Stream RFC 5424 frames (octet counting) over one TCP connection; syslog has no acknowledgements."""
    n = len(bodies)
    try:
        with socket.create_connection(("127.0.0.1", cfg.syslog_port), timeout=cfg.timeout) as sock:
            while time.monotonic() < window_end:
                body = bodies[next(order) % n]
                sock.sendall(body.wire)
                counters[SLOTS * idx + LINES_SLOT] += body.lines
    except OSError:
        counters[SLOTS * idx + ERRORS_SLOT] += 1


def _client_loop(
    idx: int,
    *,
    cfg: SenderConfig,
    requests: list[tuple[bytes, Body]],
    order: itertools.count[int],
    window_end: float,
    acks: list[Ack],
    counters: Any,
    problems: list[str],
) -> None:
    conn = RawConnection(cfg.port, cfg.timeout)
    n = len(requests)
    consecutive_errors = 0
    retries = errors = 0
    try:
        while time.monotonic() < window_end:
            head, body = requests[next(order) % n]
            started = time.monotonic()
            while True:
                try:
                    status, headers, payload = conn.roundtrip(head, body.wire)
                except (OSError, HttpError, ValueError) as exc:
                    conn.close()
                    errors += 1
                    consecutive_errors += 1
                    counters[SLOTS * idx + ERRORS_SLOT] = errors
                    if len(problems) < 20:
                        problems.append(f"client {idx}: {type(exc).__name__}: {exc}")
                    if consecutive_errors >= 5 or time.monotonic() >= window_end:
                        return
                    time.sleep(0.2)
                    continue
                consecutive_errors = 0
                if status == 429:
                    retries += 1
                    counters[SLOTS * idx + RETRIES_SLOT] = retries
                    try:
                        delay = float(headers.get("retry-after", "1"))
                    except ValueError:
                        delay = 1.0
                    if time.monotonic() + delay >= window_end:
                        # The retry would only go out after the window: give the body up, stop this client.
                        counters[SLOTS * idx + DROPPED_SLOT] += 1
                        return
                    time.sleep(delay)
                    continue
                if status in (200, 204):  # Loki answers 204
                    done = time.monotonic()
                    try:
                        result = orjson.loads(payload)
                        accepted, rejected = int(result["accepted"]), int(result["rejected"])
                    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                        accepted, rejected = body.lines, 0  # other protocols answer in their own shape
                    latency = done - started
                    acks.append(Ack(done, latency, body.lines, len(body.raw), len(body.wire), accepted, rejected))
                    counters[SLOTS * idx + LINES_SLOT] += body.lines
                else:
                    errors += 1
                    counters[SLOTS * idx + ERRORS_SLOT] = errors
                    if len(problems) < 20:
                        problems.append(f"client {idx}: HTTP {status}: {payload[:200]!r}")
                break
    finally:
        conn.close()


def sender_main(cfg: SenderConfig, bodies: list[Body], counters: Any, pipe: Connection) -> None:
    """Entry point of the sender process: wait for 'go', send, return a summary through `pipe`."""
    requests = [(_request_head(cfg.port, b, cfg.use_gzip), b) for b in bodies]
    pipe.send("ready")
    if pipe.recv() != "go":
        return
    acks: list[list[Ack]] = [[] for _ in range(cfg.clients)]
    problems: list[str] = []
    order = itertools.count()
    t_start = time.monotonic()
    window_start = t_start + cfg.warmup
    window_end = window_start + cfg.duration
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    syslog_kwargs = {"cfg": cfg, "bodies": bodies, "order": order, "window_end": window_end, "counters": counters}
    threads = [
        threading.Thread(target=_syslog_loop, kwargs=syslog_kwargs, args=(i,), name=f"client-{i}", daemon=True)
        if cfg.protocol == "syslog-tcp"
        else threading.Thread(
            target=_client_loop,
            kwargs={
                "cfg": cfg,
                "requests": requests,
                "order": order,
                "window_end": window_end,
                "acks": acks[i],
                "counters": counters,
                "problems": problems,
            },
            args=(i,),
            name=f"client-{i}",
            daemon=True,
        )
        for i in range(cfg.clients)
    ]
    for t in threads:
        # Stagger the start so the connections do not stay in lock step.
        t.start()
        time.sleep(0.01)
    for t in threads:
        t.join(cfg.warmup + cfg.duration + 2 * cfg.timeout)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    flat = [a for per in acks for a in per]
    pipe.send(
        {
            "window_start": window_start,
            "window_end": window_end,
            "acks": [(a.done, a.latency, a.lines, a.raw_bytes, a.wire_bytes, a.accepted, a.rejected) for a in flat],
            "retries_429": sum(counters[SLOTS * i + RETRIES_SLOT] for i in range(cfg.clients)),
            "errors": sum(counters[SLOTS * i + ERRORS_SLOT] for i in range(cfg.clients)),
            "dropped_after_429": sum(counters[SLOTS * i + DROPPED_SLOT] for i in range(cfg.clients)),
            "problems": problems,
            "client_cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
            "client_wall_s": time.monotonic() - t_start,
            "stuck_threads": sum(t.is_alive() for t in threads),
        }
    )


# --------------------------------------------------------------------------------------------
# Baseline: parse + one INSERT/commit per body into a bare DuckDB table, one Python thread
# --------------------------------------------------------------------------------------------


def _baseline_one(method: str, bodies: list[Body], db_path: Path, seconds: float) -> dict[str, Any]:
    import duckdb
    import polars as pl
    import pyarrow.json as pj

    parse: Callable[[bytes], Any]
    if method == "pyarrow":

        def parse(raw: bytes) -> Any:
            return pj.read_json(io.BytesIO(raw))

    else:

        def parse(raw: bytes) -> Any:
            return pl.read_ndjson(io.BytesIO(raw)).to_arrow()

    con = duckdb.connect(str(db_path))
    try:
        first = parse(bodies[0].raw)
        con.register("batch", first)
        con.execute("CREATE TABLE logs AS SELECT * FROM batch LIMIT 0")
        con.unregister("batch")
        columns = set(first.column_names)
        lines = nbytes = inserts = 0
        i = 0
        started = time.perf_counter()
        deadline = started + seconds
        while True:
            body = bodies[i % len(bodies)]
            i += 1
            batch = parse(body.raw)
            con.register("batch", batch)
            if not columns.issuperset(batch.column_names):
                for name in batch.column_names:
                    if name not in columns:
                        ctype = con.execute(f'DESCRIBE SELECT "{name}" FROM batch').fetchall()[0][1]
                        con.execute(f'ALTER TABLE logs ADD COLUMN "{name}" {ctype}')
                        columns.add(name)
            con.execute("INSERT INTO logs BY NAME SELECT * FROM batch")  # autocommit: one commit per body
            con.unregister("batch")
            lines += body.lines
            nbytes += len(body.raw)
            inserts += 1
            if time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - started
        stored = con.execute("SELECT count(*) FROM logs").fetchall()[0][0]
    finally:
        con.close()
    if stored != lines:
        raise RuntimeError(f"baseline {method}: inserted {lines} lines but the table holds {stored}")
    return {
        "lines_per_s": lines / elapsed,
        "mb_per_s": nbytes / elapsed / MB,
        "inserts": inserts,
        "seconds": elapsed,
    }


BASELINE_LABELS = {"pyarrow": "pyarrow.json.read_json", "polars": "polars.read_ndjson"}


def run_baseline(bodies: list[Body], work_dir: Path, seconds: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    work_dir.mkdir(parents=True, exist_ok=True)
    for method in ("pyarrow", "polars"):
        db_path = work_dir / f"baseline-{method}.duckdb"
        results[method] = _baseline_one(method, bodies, db_path, seconds)
        log(
            f"baseline {BASELINE_LABELS[method]} -> DuckDB: {results[method]['lines_per_s']:,.0f} lines/s "
            f"({results[method]['inserts']} inserts in {results[method]['seconds']:.1f}s)"
        )
        shutil.rmtree(work_dir, ignore_errors=True)
        work_dir.mkdir(parents=True, exist_ok=True)
    best = max(results, key=lambda m: results[m]["lines_per_s"])
    return {"method": best, **results}


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=8, help="concurrent keep-alive connections (default 8)")
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds (default 20)")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before (default 3)")
    p.add_argument("--batch-lines", type=int, default=1000, help="lines per request body (default 1000)")
    p.add_argument("--line-bytes", type=int, default=220, help="target mean line size (default 220)")
    p.add_argument(
        "--pool-lines",
        type=int,
        default=200_000,
        help="distinct lines generated; the bodies are sent round-robin (default 200000)",
    )
    p.add_argument("--seed", type=int, default=20240601, help="generator seed")
    p.add_argument("--gzip", action="store_true", help="send bodies gzip-compressed (Content-Encoding: gzip)")
    p.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="native",
        help="wire protocol: native NDJSON, Elasticsearch _bulk, Loki push (protobuf+snappy), OTLP/HTTP "
        "(protobuf) or syslog over TCP (RFC 5424, octet counting); default native",
    )
    p.add_argument(
        "--messages",
        choices=("generated", "ordered", "corpus"),
        default="generated",
        help="generated: padded lines of varied size, the padding's key=value pairs and words in random order and "
        "number (about one line in four a new pattern form); ordered: the same with the padding in one order, as "
        "a logfmt logger writes it; corpus: the pattern corpus's ordinary logs (tests/patterns_corpus.py), to "
        "measure pattern mining on ordinary text",
    )
    p.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARGS",
        help="extra args for `logwarden serve`, shell-split; repeatable (--server-arg='--config x.yaml')",
    )
    p.add_argument(
        "--server-cmd",
        default=None,
        help="command that starts the server (default: `<python> -m logwarden serve`)",
    )
    p.add_argument("--baseline-seconds", type=float, default=5.0, help="seconds per baseline method (default 5)")
    p.add_argument("--keep-data", action="store_true", help="keep the temp dir (data dir, server log)")
    args = p.parse_args(argv)
    if args.clients < 1 or args.batch_lines < 1 or args.line_bytes < 40 or args.duration <= 0:
        p.error("--clients and --batch-lines must be >= 1, --line-bytes >= 40, --duration > 0")
    return args


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    extra_args = [a for chunk in args.server_arg for a in shlex.split(chunk)]

    t = time.perf_counter()
    bodies, mean_line = build_bodies(
        pool_lines=args.pool_lines,
        batch_lines=args.batch_lines,
        line_bytes=args.line_bytes,
        seed=args.seed,
        use_gzip=args.gzip,
        protocol=args.protocol,
        messages=args.messages,
    )
    raw_pool = sum(len(b.raw) for b in bodies)
    wire_pool = sum(len(b.wire) for b in bodies)
    log(
        f"generated {len(bodies)} bodies x {args.batch_lines} lines in {time.perf_counter() - t:.1f}s: "
        f"mean line {mean_line:.1f} bytes (target {args.line_bytes}), pool {raw_pool / MB:.1f} MB raw"
        + (f", {wire_pool / MB:.1f} MB gzip" if args.gzip else "")
    )

    syslog_port = free_port() if args.protocol == "syslog-tcp" else 0
    if syslog_port:
        extra_args += ["--syslog-tcp-port", str(syslog_port)]
    tmp = Path(tempfile.mkdtemp(prefix="logwarden-bench-"))
    server = Server(tmp / "data", tmp / "server.log", extra_args=extra_args, command=args.server_cmd)
    ctx = mp.get_context("spawn")
    counters = ctx.Array("q", SLOTS * args.clients, lock=False)  # each client writes only its own slots
    parent_end, child_end = ctx.Pipe()
    cfg = SenderConfig(
        server.port,
        args.clients,
        args.warmup,
        args.duration,
        args.gzip,
        protocol=args.protocol,
        syslog_port=syslog_port,
    )
    sender = ctx.Process(target=sender_main, args=(cfg, bodies, counters, child_end), name="sender")
    sampler: ResourceSampler | None = None
    threads: ThreadCpuSampler | None = None
    exit_status = 0
    try:
        sender.start()  # starts (imports, builds request heads) while the server boots
        server.start()
        sampler = ResourceSampler(server.pid, 0.1)
        sampler.start()
        threads = ThreadCpuSampler(server.pid)
        threads.start()
        try:
            ready_s = server.wait_ready(60.0)
        except ServerError as exc:
            log(f"{exc}; server log tail:\n{server.log_tail()}")
            return 2
        log(f"server ready on 127.0.0.1:{server.port} after {ready_s:.1f}s (pid {server.pid})")
        if not parent_end.poll(30) or parent_end.recv() != "ready":
            log("sender process did not start")
            return 2
        stored_samples: list[tuple[float, float]] = []
        stop_sampling = threading.Event()
        if syslog_port:
            # Syslog has no acknowledgements: follow the server's own count of stored syslog lines.
            threading.Thread(
                target=_sample_stored_lines,
                args=(server.port, "syslog", stored_samples, stop_sampling),
                daemon=True,
            ).start()
        parent_end.send("go")
        log(f"sending: {args.clients} clients, {args.warmup:g}s warm-up + {args.duration:g}s measured")
        result = _wait_for_sender(
            parent_end, sender=sender, server=server, sampler=sampler, counters=counters, args=args
        )
        if result is None:
            log(f"sender gave no result; server log tail:\n{server.log_tail()}")
            return 2
        if syslog_port:
            _wait_until_stable(stored_samples)
            stop_sampling.set()
            result["acks"] = _acks_from_samples(stored_samples, result["window_start"], result["window_end"], bodies)
        log("stopping server (SIGTERM)")
        code = server.stop(120.0)
        sampler.stop()
        threads.stop()
        log(f"server exited with {code} after {server.shutdown_s or 0:.1f}s")
        if code != 0:
            log(f"server log tail:\n{server.log_tail()}")
            exit_status = 1
        disk_apparent, disk_alloc, disk_files = dir_bytes(server.data_dir)

        log(f"baseline: {args.baseline_seconds:g}s each for pyarrow.json and polars.read_ndjson")
        baseline = run_baseline(bodies, tmp / "baseline", args.baseline_seconds)

        summary = _summarize(
            args,
            result=result,
            sampler=sampler,
            server=server,
            mean_line=mean_line,
            baseline=baseline,
            disk=(disk_apparent, disk_alloc, disk_files),
            threads=threads,
        )
        for problem in result["problems"][:10]:
            log(f"problem: {problem}")
        if result["stuck_threads"]:
            log(f"{result['stuck_threads']} client threads were still waiting for a response at the end")
        if summary["lines_acked"] == 0:
            exit_status = 1
        if args.keep_data:
            log(f"kept {tmp} (data/, server.log)")
        print(json.dumps(summary), flush=True)
        return exit_status
    finally:
        if sender.is_alive():
            sender.terminate()
        sender.join(5)
        if server.alive():
            server.stop(30.0)
        if sampler is not None:
            sampler.stop()
        if threads is not None:
            threads.stop()
        if not args.keep_data:
            shutil.rmtree(tmp, ignore_errors=True)


def _stored_lines(port: int, source: str) -> float:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("logwarden_ingested_lines_total{") and f'source="{source}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _sample_stored_lines(port: int, source: str, out: list[tuple[float, float]], stop: threading.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError):
            out.append((time.monotonic(), _stored_lines(port, source)))
        stop.wait(0.25)


def _wait_until_stable(samples: list[tuple[float, float]], quiet: float = 1.5, limit: float = 60.0) -> None:
    """Wait until the stored count has not moved for `quiet` seconds (the server drained its sockets)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        time.sleep(0.25)
        recent = [c for t, c in samples if t >= time.monotonic() - quiet]
        if len(recent) >= 3 and recent[0] == recent[-1]:
            return


def _acks_from_samples(
    samples: list[tuple[float, float]], w0: float, w1: float, bodies: list[Body]
) -> list[tuple[float, float, int, int, int, int, int]]:
    """Turn the stored-count timeline into pseudo-acks (no latency) so the summary can be computed."""
    bytes_per_line = sum(len(b.raw) for b in bodies) / sum(b.lines for b in bodies)
    wire_per_line = sum(len(b.wire) for b in bodies) / sum(b.lines for b in bodies)
    acks = []
    prev = 0.0
    for t, count in samples:
        lines = int(count - prev)
        prev = count
        if lines > 0:
            # Stamp the increase inside the window when it was observed there.
            acks.append((min(max(t, w0), w1 + 1e9) if t <= w1 else t, float("nan"), lines,
                         int(lines * bytes_per_line), int(lines * wire_per_line), lines, 0))  # fmt: skip
    return acks


def _wait_for_sender(
    pipe: Connection,
    *,
    sender: Any,
    server: Server,
    sampler: ResourceSampler,
    counters: Any,
    args: argparse.Namespace,
) -> dict[str, Any] | None:
    """Print progress every 2 s until the sender reports; None if it dies or overruns badly."""
    started = time.monotonic()
    deadline = started + args.warmup + args.duration + 180.0
    last_t, last_lines = started, 0
    while time.monotonic() < deadline:
        if pipe.poll(2.0):
            result: dict[str, Any] = pipe.recv()
            return result
        if not sender.is_alive():
            return None
        now = time.monotonic()
        lines = sum(counters[SLOTS * i + LINES_SLOT] for i in range(args.clients))
        retries = sum(counters[SLOTS * i + RETRIES_SLOT] for i in range(args.clients))
        errors = sum(counters[SLOTS * i + ERRORS_SLOT] for i in range(args.clients))
        s = sampler.latest
        rss = f"{s.rss / 2**20:,.0f} MiB" if s else "?"
        phase = "warm-up" if now - started < args.warmup else "measure"
        rate = (lines - last_lines) / (now - last_t)
        log(
            f"{phase} t={now - started:5.1f}s acked={lines:,} ({rate:,.0f} lines/s) "
            f"429s={retries} errors={errors} server_rss={rss}" + ("" if server.alive() else " SERVER EXITED")
        )
        last_t, last_lines = now, lines
    return None


class ThreadCpuSampler:
    """Every 0.5 s, the server's CPU seconds per thread name (Linux /proc): where the cost per line goes.

    Threads are summed by name (`lw-decode`, `lw-applier`, `lw-log`, `lw-bus-<subscriber>` …); the main
    thread (the event loop) is "main", unnamed native threads (DuckDB, Arrow) count under "python".
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="thread-cpu", daemon=True)
        self._tick = os.sysconf("SC_CLK_TCK")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _snapshot(self) -> dict[str, float]:
        by_tid: dict[str, float] = {}
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            try:
                name = (task / "comm").read_text().strip()
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the thread ended meanwhile
            key = "main" if task.name == str(self.pid) else f"{name}/{task.name}"
            by_tid[key] = (int(fields[11]) + int(fields[12])) / self._tick  # utime + stime
        return by_tid

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self._snapshot()))
            self._stop.wait(0.5)

    def between(self, t0: float, t1: float) -> dict[str, float]:
        """CPU seconds per thread name from the last sample at or before t0 to the first at or after t1."""
        before = [s for t, s in self.samples if t <= t0] or [{}]
        after = [s for t, s in self.samples if t >= t1] or [self.samples[-1][1] if self.samples else {}]
        start, end = before[-1], after[0]
        out: dict[str, float] = {}
        for key, cpu in end.items():
            name = key.split("/", 1)[0].rstrip("_0123456789")
            out[name] = out.get(name, 0.0) + cpu - start.get(key, 0.0)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _summarize(
    args: argparse.Namespace,
    *,
    result: dict[str, Any],
    sampler: ResourceSampler,
    server: Server,
    mean_line: float,
    baseline: dict[str, Any],
    disk: tuple[int, int, int],
    threads: ThreadCpuSampler | None = None,
) -> dict[str, Any]:
    disk_apparent, disk_alloc, disk_files = disk
    w0, w1 = result["window_start"], result["window_end"]
    acks = result["acks"]  # (done, latency, lines, raw_bytes, wire_bytes, accepted, rejected)
    in_window = [a for a in acks if w0 <= a[0] <= w1]
    duration = w1 - w0
    lines_window = sum(a[2] for a in in_window)
    raw_window = sum(a[3] for a in in_window)
    wire_window = sum(a[4] for a in in_window)
    latencies = sorted(a[1] * 1000.0 for a in in_window if not math.isnan(a[1]))
    raw_total = sum(a[3] for a in acks)
    lines_per_s = lines_window / duration
    base = baseline[baseline["method"]]["lines_per_s"]
    server_cpu = sampler.cpu_at(w1) - sampler.cpu_at(w0)
    summary: dict[str, Any] = {
        "lines_per_s": _round(lines_per_s),
        "mb_per_s": _round(raw_window / duration / MB, 2),
        "ack_p50_ms": _round(percentile(latencies, 50), 1),
        "ack_p99_ms": _round(percentile(latencies, 99), 1),
        "ack_max_ms": _round(latencies[-1] if latencies else float("nan"), 1),
        "peak_rss_mb": _round(sampler.peak_rss / 2**20, 1),
        "disk_bytes_per_raw_byte": _round(disk_apparent / raw_total, 4) if raw_total else None,
        "baseline_lines_per_s": _round(base),
        "ratio": _round(lines_per_s / base, 3) if base else None,
        "lines_acked": lines_window,
        "requests": len(in_window),
        "retries_429": result["retries_429"],
        "errors": result["errors"],
        "dropped_after_429": result["dropped_after_429"],
        "clients": args.clients,
        "batch_lines": args.batch_lines,
        "mean_line_bytes": _round(mean_line, 1),
        "duration_s": _round(duration, 2),
        "baseline_method": f"{baseline['method']}+duckdb",
        "baseline_pyarrow_lines_per_s": _round(baseline["pyarrow"]["lines_per_s"]),
        "baseline_polars_lines_per_s": _round(baseline["polars"]["lines_per_s"]),
        "gzip": args.gzip,
        "protocol": args.protocol,
        "wire_mb_per_s": _round(wire_window / duration / MB, 2),
        "lines_acked_total": sum(a[2] for a in acks),
        "lines_rejected_total": sum(a[6] for a in acks),
        "raw_bytes_acked_total": raw_total,
        "disk_bytes": disk_apparent,
        "disk_bytes_allocated": disk_alloc,
        "disk_files": disk_files,
        "server_cpu_pct": _round(100.0 * server_cpu / duration, 1),
        # Acknowledged lines per CPU-second of the server process (all its threads) over the same window: the
        # cost per line, far less sensitive than lines/s to what else the machine is running.
        "server_lines_per_cpu_s": _round(lines_window / server_cpu) if server_cpu > 0 else None,
        "client_cpu_pct": _round(100.0 * result["client_cpu_s"] / result["client_wall_s"], 1),
        "server_shutdown_s": _round(server.shutdown_s or float("nan"), 2),
        "server_exit_code": server.exit_code,
    }
    if threads is not None and lines_window:
        # Microseconds of each server thread per acknowledged line (threads summed by name; 0.5 s resolution).
        by_name = threads.between(w0, w1)
        summary["server_us_per_line_by_thread"] = {k: round(v * 1e6 / lines_window, 2) for k, v in by_name.items() if v}
    return summary


if __name__ == "__main__":
    sys.exit(main())
