"""Ingest pipeline throughput: a realistic pipeline and a json-only one, per core, against polars.

    python bench/pipeline.py [--lines 1000000] [--batch 5000]

The realistic pipeline is json parse (app logs) + grok COMBINEDAPACHELOG (access logs) + convert +
geoip + user_agent + redaction + routing, over a mix of app JSON lines and nginx access lines with
realistic repetition (5,000 client IPs, 300 user agents, emails and card numbers in some lines).
The json-only pipeline parses raw JSON lines arriving as messages (as from a file agent or syslog).

Figures are per core: lines divided by the process CPU time the stage used (pyarrow may use several
threads; CPU time counts them all). The baseline is the same raw lines through polars `read_ndjson`
alone, timed the same way in the same run; `ratio` = ours / baseline.

Prints one JSON object on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import log
from logwarden.config import load_config
from logwarden.config.pipelines import build_pipelines
from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, pack, widen
from logwarden.pipeline.runner import PipelineSet

UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{v} Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (compatible; Googlebot/2.{v}; +http://www.google.com/bot.html)",
    "curl/8.{v}.0",
]
PATHS = ["/api/v1/items/{n}", "/login", "/static/app.{n}.js", "/api/v1/search?q=shoes&page={n}", "/health"]
APP_MESSAGES = [
    "user logged in",
    "payment accepted for order {n}",
    "cache miss for key item:{n}",
    "password reset requested by {email}",
    "card {card} declined",
    "request completed in {n} ms",
]
CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "4012888888881881"]


def make_mmdb(path: Path, networks: list[str]) -> None:
    """A City-shaped GeoIP database for the client networks (mmdb-writer, from the test extra)."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-City", ipv4_compatible=True)
    countries = [("DE", "Germany", "Berlin"), ("US", "United States", "Ashburn"), ("JP", "Japan", "Tokyo")]
    for i, network in enumerate(networks):
        code, name, city = countries[i % len(countries)]
        writer.insert_network(
            IPSet([network]),
            {
                "country": {"iso_code": code, "names": {"en": name}},
                "city": {"names": {"en": city}},
                "location": {"latitude": 52.5 + i, "longitude": 13.4 + i, "time_zone": "Europe/Berlin"},
            },
        )
    writer.to_db_file(str(path))


def generate(lines: int, seed: int = 7) -> tuple[list[bytes], list[bytes]]:
    """(mixed NDJSON records as clients send them, raw app JSON lines for the json-only pipeline)."""
    rnd = random.Random(seed)
    # Public networks (GeoIP skips private ranges): 81.2.0.0/16, 89.160.0.0/16, 175.16.0.0/16.
    bases = [int(ipaddress.IPv4Address(b)) for b in ("81.2.0.0", "89.160.0.0", "175.16.0.0")]
    ips = [str(ipaddress.IPv4Address(rnd.choice(bases) + rnd.randrange(65536))) for _ in range(5000)]
    uas = [rnd.choice(UAS).format(v=rnd.randrange(90, 130)) for _ in range(300)]
    start = datetime(2026, 11, 21, tzinfo=UTC)
    mixed: list[bytes] = []
    raw: list[bytes] = []
    for i in range(lines):
        ts = start + timedelta(milliseconds=i)
        n = rnd.randrange(100_000)
        if i % 5 < 3:
            path = rnd.choice(PATHS).format(n=n)
            if n % 50 == 0:
                path += f"&email=user{n}@example.com"
            status = rnd.choice((200, 200, 200, 200, 304, 404, 500))
            access = (
                f'{rnd.choice(ips)} - - [{ts:%d/%b/%Y:%H:%M:%S} +0000] "GET {path} HTTP/1.1" {status} '
                f'{rnd.randrange(100, 50_000)} "https://shop.example.com/" "{rnd.choice(uas)}"'
            )
            mixed.append(orjson.dumps({"service": "nginx", "host": f"web-{n % 20}", "message": access}))
        else:
            template = rnd.choice(APP_MESSAGES)
            record = {
                "ts": ts.isoformat(),
                "level": rnd.choice(("info", "info", "info", "warn", "error")),
                "msg": template.format(n=n, email=f"user{n}@example.com", card=rnd.choice(CARDS)),
                "user_id": n,
                "org_id": rnd.choice(("acme", "globex", "initech")),
                "event_type": rnd.choice(("audit", "request", "billing")),
                "duration_ms": rnd.random() * 100,
            }
            line = orjson.dumps(record)
            raw.append(line)
            mixed.append(orjson.dumps({"service": f"api-{n % 5}", "host": f"app-{n % 10}", "message": line.decode()}))
    return mixed, raw


REALISTIC = """
pipelines:
  - name: app
    match: {{service: "api-*"}}
    processors:
      - {{type: json, field: message}}
  - name: nginx
    match: {{service: nginx}}
    processors:
      - {{type: grok, field: message, pattern: '%{{COMBINEDAPACHELOG}}'}}
      - {{type: convert, fields: {{response: int, bytes: int}}}}
      - {{type: geoip, field: clientip, database: {mmdb}}}
      - {{type: user_agent, field: agent}}
  - name: all
    processors:
      - {{type: redact, detectors: [email, credit_card]}}
      - {{type: route, tenant: "{{org_id}}", stream: "{{event_type}}"}}
"""

JSON_ONLY = """
pipelines:
  - name: json
    processors:
      - {type: json, field: message}
"""


def load(yaml_text: str, directory: Path) -> PipelineSet:
    path = directory / "pipelines.yaml"
    path.write_text(yaml_text)
    config = load_config(path, env={})
    return build_pipelines(config.pipelines, source=str(path), base_dir=directory)


def batches_of(lines: list[bytes], size: int) -> list[bytes]:
    return [b"\n".join(lines[i : i + size]) for i in range(0, len(lines), size)]


def cpu_timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(cpu seconds, wall seconds, result) of fn()."""
    c0, w0 = time.process_time(), time.perf_counter()
    result = fn()
    return time.process_time() - c0, time.perf_counter() - w0, result


def wide_batches(bodies: list[bytes], ctx: BatchContext) -> list[pa.Table]:
    out = []
    for body in bodies:
        decoded = decode_json_body(body)
        assert decoded.records is not None and not decoded.rejected
        out.append(widen(decoded.records, ctx))
    return out


def message_batches(raw: list[bytes], size: int, ctx: BatchContext) -> list[pa.Table]:
    """Raw lines as messages (what the agent or syslog delivers), in wide form."""
    out = []
    for i in range(0, len(raw), size):
        chunk = [line.decode() for line in raw[i : i + size]]
        out.append(widen(pa.table({"message": pa.array(chunk, pa.string())}), ctx))
    return out


def run_pipeline(pipelines: PipelineSet, batches: list[pa.Table], *, packed: bool) -> tuple[int, int]:
    """(lines out, lines with pipeline_error)."""
    out_lines = errors = 0
    for batch in batches:
        out = pipelines.run(batch)
        out_lines += out.batch.num_rows
        if "pipeline_error" in out.batch.column_names:
            errors += out.batch.num_rows - out.batch.column("pipeline_error").null_count
        if packed:
            pack(out.batch)
    return out_lines, errors


def polars_baseline(raw: list[bytes], size: int) -> int:
    rows = 0
    for i in range(0, len(raw), size):
        rows += pl.read_ndjson(io.BytesIO(b"\n".join(raw[i : i + size]))).height
    return rows


def best_of(runs: int, fn: Callable[[], Any]) -> tuple[float, float, Any]:
    results = [cpu_timed(fn) for _ in range(runs)]
    return min(results, key=lambda r: r[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines in the mixed input (≥ 1M for the record)")
    parser.add_argument("--batch", type=int, default=5000, help="lines per batch (one ingest request)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per stage; the fastest counts")
    args = parser.parse_args()

    log(f"generating {args.lines} lines")
    mixed, raw = generate(args.lines)
    ctx = BatchContext(tenant="default", source="http", received=datetime.now(UTC))
    with tempfile.TemporaryDirectory(prefix="lw-bench-pipeline-") as tmp:
        directory = Path(tmp)
        make_mmdb(directory / "city.mmdb", ["81.2.0.0/16", "89.160.0.0/16", "175.16.0.0/16"])
        realistic = load(REALISTIC.format(mmdb=directory / "city.mmdb"), directory)
        json_only = load(JSON_ONLY, directory)

        bodies = batches_of(mixed, args.batch)
        log("decoding the mixed input into wide batches")
        decode_cpu, _, wide = cpu_timed(lambda: wide_batches(bodies, ctx))
        messages = message_batches(raw, args.batch, ctx)

        # Warm-up: caches (grok compile, UA and GeoIP lookups) fill on the first pass, as in a server.
        run_pipeline(realistic, wide[:2], packed=False)
        run_pipeline(json_only, messages[:2], packed=False)
        log("timing the realistic pipeline")
        real_cpu, real_wall, (real_out, real_errors) = best_of(
            args.runs, lambda: run_pipeline(realistic, wide, packed=False)
        )
        real_pack_cpu, _, _ = best_of(1, lambda: run_pipeline(realistic, wide, packed=True))
        log("timing the json-only pipeline")
        json_cpu, json_wall, (json_out, json_errors) = best_of(
            args.runs, lambda: run_pipeline(json_only, messages, packed=False)
        )
        log("timing polars read_ndjson on the same raw lines")
        base_cpu, base_wall, base_rows = best_of(args.runs, lambda: polars_baseline(raw, args.batch))
        sample = realistic.run(wide[0]).batch.slice(0, 3)
        realistic.close()
        json_only.close()

    assert json_out == len(raw) == base_rows
    real_rate = args.lines / real_cpu
    json_rate = len(raw) / json_cpu
    base_rate = base_rows / base_cpu
    result = {
        "lines": args.lines,
        "batch_lines": args.batch,
        "realistic_lines_per_cpu_s": round(real_rate),
        "realistic_wall_lines_per_s": round(args.lines / real_wall),
        "realistic_with_pack_lines_per_cpu_s": round(args.lines / real_pack_cpu),
        "realistic_lines_out": real_out,
        "realistic_lines_with_pipeline_error": real_errors,
        "decode_and_widen_lines_per_cpu_s": round(args.lines / decode_cpu),
        "json_only_lines": len(raw),
        "json_only_lines_per_cpu_s": round(json_rate),
        "json_only_wall_lines_per_s": round(len(raw) / json_wall),
        "json_only_lines_with_pipeline_error": json_errors,
        "polars_read_ndjson_lines_per_cpu_s": round(base_rate),
        "polars_read_ndjson_wall_lines_per_s": round(base_rows / base_wall),
        "json_only_ratio": round(json_rate / base_rate, 3),
        "realistic_ratio": round(real_rate / base_rate, 3),
        "target_realistic_100k_per_core": real_rate >= 100_000,
        "target_json_only_half_of_polars": json_rate / base_rate >= 0.5,
        "sample_fields": sorted(sample.column_names),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
