"""Data for bench/query.py: realistic log lines generated inside DuckDB and loaded through the store's apply path.

One SQL statement over `range(n)` makes the rows (vectorized and deterministic from the seed); they are
written with `applier.apply_batches` in 500k-row transactions, as the server writes them, into a data
dir cached under its parameters.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from _common import log
from logwarden.config.loader import load_config
from logwarden.model.schema import LOG_SCHEMA
from logwarden.store.duckdb import catalog
from logwarden.store.duckdb.applier import apply_batches, read_applied_seq
from logwarden.store.duckdb.store import DB_FILE, DuckDBStore

TENANT = "default"
NEEDLE = "zq7xneedlek"  # appears in NEEDLE_LINES lines only, never as part of another word
NEEDLE_LINES = 7
CHUNK_ROWS = 500_000  # = store.apply_max_rows: the most one apply transaction of the server writes
FORMAT_VERSION = 2  # bump when the generator changes, so cached data dirs are rebuilt

# --------------------------------------------------------------------------------------------
# Data generation (all inside DuckDB: one SQL query over range(n), streamed out in Arrow chunks)
# --------------------------------------------------------------------------------------------

SERVICES = [
    "checkout",
    "cart",
    "payments",
    "inventory",
    "search",
    "auth",
    "users",
    "orders",
    "shipping",
    "billing",
    "catalog",
    "pricing",
    "recommend",
    "reviews",
    "notify",
    "email",
    "sms",
    "gateway",
    "frontend",
    "admin",
    "reports",
    "analytics",
    "ingest",
    "indexer",
    "scheduler",
    "worker",
    "media",
    "thumbnails",
    "cdn-edge",
    "dns",
    "ledger",
    "fraud",
    "risk",
    "kyc",
    "wallet",
    "loyalty",
    "coupons",
    "tax",
    "currency",
    "geo",
    "session",
    "profile",
    "feed",
    "chat",
    "presence",
    "uploads",
    "export",
    "audit",
    "config",
    "flags",
]
HOST_TIERS = ["web", "api", "app", "worker", "db"]
PATHS = [
    "/api/v1/cart",
    "/api/v1/checkout",
    "/api/v1/orders",
    "/api/v1/users/me",
    "/api/v1/search",
    "/api/v2/items",
    "/api/v1/payments",
    "/healthz",
    "/api/v1/login",
    "/api/v1/logout",
    "/static/app.js",
    "/api/v1/reviews",
    "/api/v2/recommendations",
    "/api/v1/shipping/quote",
    "/api/v1/coupons/apply",
    "/metrics",
]
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]

# Message templates per level group; {a} {b} are integers, {p} a path, {u} a user id, {h} a hex id,
# {ip} an address, {m} a method, {s} a status. 100 templates in all.
_INFO = [
    "{m} {p} {s} in {a}ms",
    "request completed {m} {p} status={s} duration={a}ms",
    "served {p} to {ip} in {a}ms",
    "user {u} logged in from {ip}",
    "user {u} logged out",
    "session {h} created for user {u}",
    "cache hit for key item:{a}",
    "cache miss for key item:{a}, loading from db",
    "cache evicted {b} entries",
    "query took {a}ms rows={b}",
    "SELECT on table orders returned {b} rows in {a}ms",
    "connection pool size={b} idle={a}",
    "kafka consumer group rebalanced partitions={b}",
    "produced {b} messages to topic events in {a}ms",
    "committed offset {a} on partition {b}",
    "scheduled job {h} to run in {b}s",
    "job {h} finished in {a}ms",
    "order {a} created by user {u} total={b}.99",
    "order {a} shipped via carrier {b}",
    "payment {h} authorized amount={a}",
    "invoice {a} generated for user {u}",
    "email queued to user {u} template=welcome",
    "sms sent to user {u} id={h}",
    "file upload {h} stored size={a}KB",
    "thumbnail generated for media {h} in {a}ms",
    "index refreshed docs={a}",
    "search query returned {b} hits in {a}ms",
    "config reloaded version={b}",
    "feature flag checkout_v2 evaluated for {u}",
    "health check ok latency={a}ms",
    "GC pause {b}ms heap={a}MB",
    "worker {b} picked task {h}",
    "batch of {a} events flushed in {b}ms",
    "rate limiter allowed {b} requests for {ip}",
    "token refreshed for user {u}",
    "websocket connected from {ip} id={h}",
    "websocket closed id={h} after {a}s",
    "export {h} completed rows={a}",
    "audit event login user={u} ip={ip}",
    "geo lookup {ip} resolved in {b}ms",
    "currency rates updated count={b}",
    "coupon {h} applied for user {u}",
    "recommendations computed for user {u} in {a}ms",
    "review {a} posted by user {u}",
    "presence update user {u} online",
    "feed rebuilt for user {u} items={b}",
    "chat message {h} delivered",
    "wallet {h} balance updated",
    "ledger entry {a} recorded",
    "shipping quote {a} computed in {b}ms",
    "tax computed for order {a} region={b}",
    "DNS resolved api.internal in {b}ms",
    "cdn purge {h} completed",
    "loyalty points added user={u} points={b}",
    "profile updated for user {u}",
    "kyc check {h} passed",
    "risk score {b} for payment {h}",
    "fraud check passed for order {a}",
    "indexer processed {a} documents",
    "starting worker pool size={b}",
    "listening on port 80{b}",
    "migration {a} applied in {b}ms",
    "snapshot {h} written in {a}ms",
    "metrics scraped series={a}",
    "reconciled {b} records",
]
_WARN = [
    "slow request {m} {p} took {a}ms",
    "retrying request to upstream attempt={b}",
    "cache size above {b}% of limit",
    "connection pool exhausted, waiting {a}ms",
    "deprecated API {p} called by user {u}",
    "high GC pressure pause={a}ms",
    "rate limit exceeded for {ip}",
    "queue depth {a} above threshold",
    "certificate expires in {b} days",
    "slow query took {a}ms on table events",
    "consumer lag {a} on partition {b}",
    "disk usage {b}% on /var/lib",
    "token for user {u} about to expire",
    "upstream returned {s} for {p}, retrying",
    "config key missing, using default",
]
_ERROR = [
    "connection refused to db-{b}:5432",
    "timeout after {a}ms calling payments",
    "failed to process order {a}: out of stock",
    "unhandled exception in handler {p}: KeyError",
    "upstream {p} returned {s}",
    "payment {h} declined: insufficient funds",
    "could not acquire lock on row {a}",
    "deadlock detected on table orders",
    "failed to send email to user {u}",
    "kafka produce failed: broker {b} not available",
    "TLS handshake failed with {ip}",
    "out of memory allocating {a}MB",
    "disk full writing snapshot {h}",
    "invalid token for user {u}",
    "permission denied for user {u} on {p}",
    "circuit breaker open for inventory after {b} failures",
    "panic: nil pointer dereference in worker {b}",
    "connection reset by peer {ip}",
    "failed to parse payload from {ip}: unexpected EOF",
    "request {h} aborted after {a}ms",
]
assert len(_INFO) + len(_WARN) + len(_ERROR) == 100, len(_INFO) + len(_WARN) + len(_ERROR)


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _template_sql(templates: list[str], pick: str) -> str:
    """A SQL expression filling one of `templates` (chosen by the integer expression `pick`) per row."""
    expr = f"{_sql_list(templates)}[1 + ({pick}) % {len(templates)}]"
    for placeholder, value in [
        ("{a}", "CAST(a AS VARCHAR)"), ("{b}", "CAST(b AS VARCHAR)"), ("{p}", "path"), ("{u}", "user_id"),
        ("{h}", "hexid"), ("{ip}", "ip"), ("{m}", "method"), ("{s}", "CAST(status AS VARCHAR)"),
    ]:  # fmt: skip
        expr = f"replace({expr}, '{placeholder}', {value})"
    return expr


def generation_sql(lines: int, seed: int, end: datetime, hours: float) -> str:
    """One SELECT producing `lines` core-schema rows in time order over [end - hours, end)."""
    span_us = int(hours * 3600 * 1_000_000)
    start_us = int(end.timestamp() * 1_000_000) - span_us
    needle_rows = [int(lines * (k + 0.5) / NEEDLE_LINES) for k in range(NEEDLE_LINES)]
    return f"""
WITH r AS (
  SELECT i,
    CAST(hash(i, {seed}) >> 1 AS BIGINT) AS h1, CAST(hash(i, {seed + 1}) >> 1 AS BIGINT) AS h2,
    CAST(hash(i, {seed + 2}) >> 1 AS BIGINT) AS h3, CAST(hash(i, {seed + 3}) >> 1 AS BIGINT) AS h4
  FROM range({lines}) t(i)
), f AS (
  SELECT i, h2, h3,
    -- A skewed service mix: low indexes log far more (squared uniform).
    CAST(floor(50 * pow((h1 % 1000003) / 1000003.0, 2)) AS INTEGER) AS svc,
    (h1 >> 20) % 10000 AS lv,
    (h2 >> 8) % 100 AS kind,
    CAST(1 + pow((h3 % 10007) / 10007.0, 3) * 3000 AS INTEGER) AS a,
    CAST((h3 >> 16) % 64 AS INTEGER) AS b,
    {_sql_list(PATHS)}[1 + (h4 % {len(PATHS)})] AS path,
    'u' || CAST((h4 >> 8) % 50000 AS VARCHAR) AS user_id,
    printf('%08x', (h4 >> 24) % 4294967296) AS hexid,
    printf('10.%d.%d.%d', (h2 >> 20) % 8, (h2 >> 28) % 256, (h2 >> 36) % 256) AS ip,
    {_sql_list(METHODS)}[1 + ((h4 >> 40) % {len(METHODS)})] AS method
  FROM r
), g AS (
  SELECT *,
    CASE WHEN lv < 800 THEN 'DEBUG' WHEN lv < 9630 THEN 'INFO' WHEN lv < 9790 THEN 'WARN'
         WHEN lv < 9990 THEN 'ERROR' ELSE 'FATAL' END AS level,
    CASE WHEN lv < 9630 THEN (CASE WHEN kind % 10 = 0 THEN 404 WHEN kind % 25 = 1 THEN 500 ELSE 200 END)
         WHEN lv < 9790 THEN 429 ELSE 503 END AS status,
    kind < 30 AS is_request
  FROM f
)
SELECT
  make_timestamptz({start_us} + CAST(i * {span_us / lines} AS BIGINT) + CAST(h3 % 1000 AS BIGINT)) AS ts,
  make_timestamptz({start_us} + CAST(i * {span_us / lines} AS BIGINT) + 1000000 + CAST(h2 % 900000 AS BIGINT))
    AS observed_ts,
  '{TENANT}' AS tenant,
  {_sql_list(SERVICES)}[1 + svc] AS service,
  {_sql_list(HOST_TIERS)}[1 + svc % {len(HOST_TIERS)}] || '-'
    || lpad(CAST(svc * 4 + (h2 % 4) AS VARCHAR), 3, '0') AS host,
  level,
  CAST(CASE level WHEN 'DEBUG' THEN 5 WHEN 'INFO' THEN 9 WHEN 'WARN' THEN 13 WHEN 'ERROR' THEN 17 ELSE 21 END
       AS TINYINT) AS severity,
  -- JVM-style services prefix a thread name; about half the lines end with request context.
  CASE WHEN svc % 3 = 0 THEN '[' || {_sql_list(HOST_TIERS)}[1 + svc % {len(HOST_TIERS)}] || '-exec-' || b || '] '
       ELSE '' END ||
  CASE WHEN level IN ('ERROR', 'FATAL') THEN {_template_sql(_ERROR, "h2 >> 12")}
       WHEN level = 'WARN' THEN {_template_sql(_WARN, "h2 >> 12")}
       ELSE {_template_sql(_INFO, "h2 >> 12")} END
    || CASE WHEN kind % 2 = 0 THEN printf(' request_id=%s%08x client=%s region=%s', hexid, (h3 >> 30) % 4294967296,
                                          ip, ['eu-west-1', 'us-east-1', 'ap-south-1'][1 + kind % 3])
            ELSE '' END
    || CASE WHEN i IN ({", ".join(map(str, needle_rows))}) THEN ' marker={NEEDLE}' ELSE '' END AS message,
  -- ~30% request lines carry a trace shared by ~6 lines across services within a few seconds.
  CASE WHEN is_request THEN printf('%016x%016x', hash(i // 20, {seed + 7}), hash(i // 20, {seed + 8})) END
    AS trace_id,
  CASE WHEN is_request THEN printf('%016x', hash(i, {seed + 9})) END AS span_id,
  'http' AS source,
  -- As the server makes them: a random prefix per ingest request (~1000 lines), then the row number.
  printf('%016x%06x', hash(i // 1000, {seed + 10}), i % 1000) AS log_id,
  CASE WHEN is_request THEN
         '{{"status":' || status || ',"latency_ms":' || a || ',"user_id":"' || user_id || '","path":"' || path
         || '","method":"' || method || '"}}'
       WHEN kind < 50 THEN '{{"thread":"worker-' || b || '","component":"core"}}'
  END AS attrs,
  CAST(NULL AS VARCHAR) AS pattern_id
FROM g
"""


@dataclass(slots=True)
class Dataset:
    data_dir: Path
    lines: int
    end: datetime  # the newest line's time; every query's range is anchored here
    load_s: float  # seconds the load took (from the cache: the original load)
    hours: float


def load_dataset(args: argparse.Namespace) -> Dataset:
    """The cached data dir for these parameters, generated and loaded first when missing."""
    key = f"v{FORMAT_VERSION}-n{args.lines}-s{args.seed}-h{args.hours:g}"
    data_dir = Path(args.data_dir or "/tmp/logwarden-bench-query") / key
    meta_path = data_dir / "bench-meta.json"
    if meta_path.exists() and not args.reload:
        meta = json.loads(meta_path.read_text())
        log(f"using cached data dir {data_dir} (loaded {meta['end']})")
        return Dataset(data_dir, args.lines, datetime.fromisoformat(meta["end"]), meta["load_s"], args.hours)
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    end = datetime.now(UTC).replace(microsecond=0)
    log(f"generating {args.lines:,} lines over {args.hours:g} h ending {end.isoformat()} into {data_dir}")
    t0 = time.perf_counter()
    gen = duckdb.connect(config={"preserve_insertion_order": True})
    gen.execute("SET TimeZone = 'UTC'")
    reader = gen.sql(generation_sql(args.lines, args.seed, end, args.hours)).to_arrow_reader(CHUNK_ROWS)
    # The server's apply path on the server's own settings: the same tables and row groups.
    store = DuckDBStore(config_for(data_dir))
    store.close_blocking()
    cfg = config_for(data_dir).store
    settings: dict[str, Any] = {
        "memory_limit": f"{cfg.memory_limit}B",
        "checkpoint_threshold": f"{cfg.checkpoint_threshold}B",
        "preserve_insertion_order": False,
    }
    con = duckdb.connect(str(data_dir / DB_FILE), config=settings)
    con.execute("SET TimeZone = 'UTC'")
    catalog.create(con)
    seq = read_applied_seq(con)  # applied_seq stays as it is: these rows never were in the ingest log
    known: set[str] = set()
    pending: list[pa.Table] = []
    loaded = 0
    for batch in reader:
        pending.append(pa.Table.from_batches([batch]).cast(LOG_SCHEMA))
        if sum(t.num_rows for t in pending) >= CHUNK_ROWS:
            apply_batches(con, [(seq, pa.concat_tables(pending))], known)
            loaded += sum(t.num_rows for t in pending)
            pending = []
            log(f"  {loaded:,} lines applied")
    if pending:
        apply_batches(con, [(seq, pa.concat_tables(pending))], known)
    con.execute("CHECKPOINT")
    con.close()
    gen.close()
    load_s = time.perf_counter() - t0
    log(f"loaded in {load_s:.1f} s; tables: {sorted(known)}")
    meta_path.write_text(json.dumps({"end": end.isoformat(), "load_s": load_s, "lines": args.lines}))
    return Dataset(data_dir, args.lines, end, load_s, args.hours)


def config_for(data_dir: Path, memory_limit: str | None = None) -> Any:
    """The server's default config on this data dir (optionally another DuckDB memory limit)."""
    return load_config(None, env={}, overrides={"data_dir": str(data_dir), "store.memory_limit": memory_limit})
