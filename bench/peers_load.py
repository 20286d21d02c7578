"""Data and load for bench/peers.py: the `bench/query_data.py` lines as one NDJSON file, sent over HTTP.

The file is generated once inside DuckDB (the same SQL as `query_data.generation_sql`) and cached under its
parameters; every engine then receives the very same bytes, cut into bodies of `batch_lines` lines, from
the same number of keep-alive client threads.
"""

from __future__ import annotations

import json
import mmap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from ingest import RawConnection
from query_data import generation_sql

FORMAT_VERSION = 1  # bump when the line shape changes, so cached files are rebuilt
MAX_AGE = timedelta(hours=12)  # older files are regenerated: every engine keeps 7 days, keep well inside

# One NDJSON object per row: core fields first, then the attrs object's keys at the top level (as a shipper
# sends them). concat_ws skips NULLs, so absent trace ids and attrs leave no key behind.
_LINE_SQL = """'{' || concat_ws(',',
  '"ts":"' || strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ') || '"', '"level":' || to_json(level),
  '"service":' || to_json(service), '"host":' || to_json(host), '"msg":' || to_json(message),
  '"trace_id":' || to_json(trace_id), '"span_id":' || to_json(span_id), nullif(attrs[2:-2], '')) || '}'"""


@dataclass(slots=True)
class NdjsonData:
    """The generated file, where each request body starts, and the data's time span."""

    path: Path
    lines: int
    end: datetime  # the newest line's time: every query range is anchored here
    hours: float
    offsets: list[int]  # byte offset of each body start, plus the file size at the end
    trace_id: str  # a trace from the middle of the data

    @property
    def raw_bytes(self) -> int:
        return self.offsets[-1]

    @property
    def bodies(self) -> int:
        return len(self.offsets) - 1


def ndjson_dataset(
    *,
    lines: int,
    seed: int,
    hours: float,
    batch_lines: int,
    cache_dir: Path,
    reload: bool = False,
    say: Callable[[str], None] = lambda msg: None,
) -> NdjsonData:
    """The cached NDJSON file for these parameters (generated first when missing or stale)."""
    key = f"v{FORMAT_VERSION}-n{lines}-s{seed}-h{hours:g}"
    path = cache_dir / f"{key}.ndjson"
    meta_path = cache_dir / f"{key}.json"
    now = datetime.now(UTC)
    meta = json.loads(meta_path.read_text()) if meta_path.exists() and path.exists() and not reload else None
    if meta is not None and now - datetime.fromisoformat(meta["end"]) > MAX_AGE:
        say(f"cached {path} is older than {MAX_AGE}: regenerating")
        meta = None
    if meta is None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        end = now.replace(microsecond=0)
        say(f"generating {lines:,} lines over {hours:g} h ending {end.isoformat()} into {path}")
        t0 = time.perf_counter()
        con = duckdb.connect(config={"preserve_insertion_order": True})
        try:
            con.execute("SET TimeZone = 'UTC'")
            tmp = path.with_suffix(".tmp")
            # CSV with no quoting and a delimiter that never occurs: each row's text verbatim, one per line.
            con.execute(
                f"COPY (SELECT {_LINE_SQL} AS line FROM ({generation_sql(lines, seed, end, hours)})) "
                f"TO '{tmp}' (FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER '\x01')"
            )
        finally:
            con.close()
        tmp.replace(path)
        meta = {"end": end.isoformat(), "lines": lines}
        meta_path.write_text(json.dumps(meta))
        say(f"generated {path.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - t0:.1f} s")
    offsets, trace_id = _scan(path, lines, batch_lines)
    return NdjsonData(path, lines, datetime.fromisoformat(meta["end"]), hours, offsets, trace_id)


def _scan(path: Path, lines: int, batch_lines: int) -> tuple[list[int], str]:
    """Body start offsets (every `batch_lines` newlines) and the first trace id after the middle line."""
    offsets = [0]
    trace_id = ""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        pos, n = 0, 0
        while True:
            nl = mm.find(b"\n", pos)
            if nl < 0:
                break
            n += 1
            if not trace_id and n > lines // 2:
                line = json.loads(mm[pos:nl])
                trace_id = line.get("trace_id", "")
            pos = nl + 1
            if n % batch_lines == 0:
                offsets.append(pos)
        if offsets[-1] != len(mm):
            offsets.append(len(mm))
    if n != lines:
        raise RuntimeError(f"{path} has {n} lines, expected {lines}: delete it and run again")
    return offsets, trace_id


class LoadError(RuntimeError):
    """The engine refused a body for good (not a 429/503 back-off)."""


@dataclass(slots=True)
class LoadResult:
    """What the clients saw: when the first body went out, when the last was acknowledged, and trouble."""

    first_send: float = 0.0  # time.monotonic()
    last_ack: float = 0.0
    lines_acked: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)


def send_all(
    data: NdjsonData,
    *,
    port: int,
    path: str,
    content_type: str,
    clients: int,
    wire_body: Callable[[bytes], bytes] = bytes,
    ack_error: Callable[[bytes], str | None] = lambda payload: None,
    on_ack: Callable[[int], None] | None = None,
) -> LoadResult:
    """POST every body once over `clients` keep-alive connections; 429/503 are retried after Retry-After."""
    result = LoadResult()
    lock = threading.Lock()
    next_body = iter(range(data.bodies))
    stop = threading.Event()

    def client() -> None:
        conn = RawConnection(port, timeout=300.0)
        try:
            with open(data.path, "rb") as f:
                while not stop.is_set():
                    with lock:
                        i = next(next_body, None)
                    if i is None:
                        return
                    f.seek(data.offsets[i])
                    raw = f.read(data.offsets[i + 1] - data.offsets[i])
                    n = raw.count(b"\n")
                    body = wire_body(raw)
                    head = (
                        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n"
                    ).encode()
                    while True:
                        status, headers, payload = conn.roundtrip(head, body)
                        if status in (429, 503):
                            with lock:
                                result.retries += 1
                            time.sleep(float(headers.get("retry-after", "1") or 1))
                            continue
                        if not 200 <= status < 300:
                            raise LoadError(f"body {i}: HTTP {status}: {payload[:300]!r}")
                        if (problem := ack_error(payload)) is not None:
                            raise LoadError(f"body {i}: {problem}")
                        break
                    with lock:
                        result.lines_acked += n
                        result.last_ack = time.monotonic()
                    if on_ack is not None:
                        on_ack(n)
        except Exception as exc:  # any failure ends the load: reported, not raised
            with lock:
                result.errors.append(f"{type(exc).__name__}: {exc}")
            stop.set()
        finally:
            conn.close()

    threads = [threading.Thread(target=client, name=f"client-{k}", daemon=True) for k in range(clients)]
    result.first_send = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return result
