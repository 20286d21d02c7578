"""The engines bench/peers.py compares: how each starts, takes NDJSON over HTTP, and answers the queries.

Each engine runs as a subprocess on a free loopback port with a fresh data dir; a `ResourceSampler` follows
its process tree (CPU, RSS) from start to exit. Query results are reduced to a comparable shape per kind
(a hit total, (key, count) rows, bucket counts, top-N counts, trace line count) so the engines' answers can
be checked equal.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import ResourceSampler, Server, ServerError

VICTORIALOGS_VERSION = "v1.52.2"
VICTORIALOGS_HOWTO = (
    "VictoriaLogs binary not found. Build it with Go (the module proxy is enough):\n"
    f"  go install github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@{VICTORIALOGS_VERSION}\n"
    "then pass --victorialogs ~/go/bin/victoria-logs or set VICTORIALOGS_BIN (a release tarball from\n"
    "https://github.com/VictoriaMetrics/VictoriaLogs/releases works as well)."
)
HIT_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Case:
    """One question, asked of every engine in its own language over the same half-open time range."""

    name: str
    kind: str  # hits | groups | timechart | top | trace
    what: str
    start: datetime
    end: datetime
    logwarden: str  # search language (or the trace id for kind=trace)
    logsql: str  # LogsQL without the _time filter (added from start/end)


def rfc3339(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


class Engine(ABC):
    """A server under test: start, ingest path, count of searchable lines, queries, clean stop."""

    name: str
    ingest_path: str
    content_type = "application/x-ndjson"

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.data_dir = work_dir / "data"
        self.server = Server(self.data_dir, work_dir / "server.log")
        self.server.argv = self.argv(self.server.port)
        self.sampler: ResourceSampler | None = None
        self.peak_rss = 0  # bytes, the highest over every start so far
        self._conn: http.client.HTTPConnection | None = None

    @abstractmethod
    def argv(self, port: int) -> list[str]:
        """The command line that starts the server on 127.0.0.1:`port` with `self.data_dir`."""

    @abstractmethod
    def ready_path(self) -> str:
        """A GET path that answers 200 once the server takes requests."""

    @abstractmethod
    def count(self, start: datetime, end: datetime) -> int:
        """Lines searchable in [start, end)."""

    @abstractmethod
    def run(self, case: Case) -> Any:
        """The case's answer in its comparable shape."""

    def popen_kwargs(self) -> dict[str, Any]:
        """Extra `subprocess.Popen` arguments (environment, user, working dir)."""
        return {}

    def wire_body(self, raw: bytes) -> bytes:
        """The request body for a chunk of NDJSON lines (the native formats take it as it is)."""
        return raw

    def ack_error(self, payload: bytes) -> str | None:
        """Why a 2xx answer still refused lines (a bulk API reports errors per item); None when all went in."""
        return None

    def before_stop(self) -> None:
        """Maintenance before the clean stop that the disk figure should include (none by default)."""
        return None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def pid(self) -> int:
        return self.server.pid

    def start(self, timeout: float = 120.0) -> float:
        """Start the server (again, on the same data dir, after a stop) and a sampler; seconds until ready."""
        # Not Server.start(): that one logs the command line to stderr, and a piped run stays quiet.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.server.log_path, "ab") as out:  # appended to when the engine is started again
            self.server.proc = subprocess.Popen(
                self.server.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, **self.popen_kwargs()
            )
        self.sampler = ResourceSampler(self.server.pid, 0.1)
        self.sampler.start()
        return self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() < started + timeout:
            if not self.server.alive():
                raise ServerError(f"{self.name} exited before it was ready:\n{self.server.log_tail()}")
            try:
                if self.request("GET", self.ready_path())[0] == 200:
                    return time.monotonic() - started
            except OSError:
                self.close_conn()
            time.sleep(0.1)
        raise ServerError(f"{self.name} not ready after {timeout:.0f}s:\n{self.server.log_tail()}")

    def stop(self, timeout: float = 300.0) -> int | None:
        """SIGTERM and wait (the engine flushes and closes its files); the sampler stops with it."""
        try:
            if self.server.alive():
                self.before_stop()
        finally:
            self.close_conn()
            code = self.server.stop(timeout)
        if self.sampler is not None:
            self.sampler.stop()
            self.peak_rss = max(self.peak_rss, self.sampler.peak_rss)
        return code

    def close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, bytes]:
        """One request on a keep-alive connection (reopened once if the server closed it)."""
        headers = {"Content-Type": content_type} if content_type else {}
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            try:
                self._conn.request(method, path, body=body, headers=headers)
                resp = self._conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close_conn()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def ok(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> bytes:
        status, payload = self.request(method, path, body, content_type)
        if status != 200:
            raise RuntimeError(f"{self.name} {method} {path}: HTTP {status}: {payload[:500]!r}")
        return payload


class Logwarden(Engine):
    """`logwarden serve` with its default config: native NDJSON ingest, the search language over HTTP."""

    name = "logwarden"
    ingest_path = "/api/v1/ingest"

    def argv(self, port: int) -> list[str]:
        return [sys.executable, "-m", "logwarden", "serve", "--data-dir", str(self.data_dir),
                "--http-host", "127.0.0.1", "--http-port", str(port)]  # fmt: skip

    def ready_path(self) -> str:
        return "/readyz"

    def query(self, q: str, start: datetime, end: datetime, limit: int = HIT_LIMIT) -> dict[str, Any]:
        body = json.dumps({"q": q, "start": rfc3339(start), "end": rfc3339(end), "limit": limit}).encode()
        result: dict[str, Any] = json.loads(self.ok("POST", "/api/v1/query", body, "application/json"))
        return result

    def count(self, start: datetime, end: datetime) -> int:
        rows = self.query("* | stats count()", start, end)["rows"]
        return int(rows[0][0]) if rows else 0

    def run(self, case: Case) -> Any:
        if case.kind == "trace":
            params = urllib.parse.urlencode({"start": rfc3339(case.start), "end": rfc3339(case.end)})
            return len(json.loads(self.ok("GET", f"/api/v1/trace/{case.logwarden}?{params}"))["lines"])
        result = self.query(case.logwarden, case.start, case.end)
        if case.kind == "hits":
            return int(result["total"])
        rows = [(r[0], int(r[1])) for r in result["rows"]]
        if case.kind == "groups":
            return sorted(rows)
        if case.kind == "timechart":
            return sorted((_epoch(t), c) for t, c in rows if c)
        return [c for _k, c in rows]  # top: the counts in order (ties may name different keys)


class VictoriaLogs(Engine):
    """VictoriaLogs single node: `/insert/jsonline` ingest, LogsQL over `/select/logsql/query`."""

    name = "victorialogs"
    ingest_path = "/insert/jsonline?_stream_fields=service,host&_time_field=ts&_msg_field=msg"

    def __init__(self, work_dir: Path, binary: Path) -> None:
        self.binary = binary
        super().__init__(work_dir)

    def argv(self, port: int) -> list[str]:
        return [str(self.binary), f"-storageDataPath={self.data_dir}", f"-httpListenAddr=127.0.0.1:{port}",
                "-retentionPeriod=30d", "-loggerLevel=WARN"]  # fmt: skip

    def ready_path(self) -> str:
        return "/health"

    def logsql(self, q: str, start: datetime, end: datetime, limit: int | None = None) -> list[dict[str, Any]]:
        """Rows of a LogsQL query over [start, end) (the `_time` filter written half-open, as ours)."""
        params = {"query": f"_time:[{rfc3339(start)}, {rfc3339(end)}) {q}"}
        if limit is not None:
            params["limit"] = str(limit)
        payload = self.ok(
            "POST", "/select/logsql/query", urllib.parse.urlencode(params).encode(), "application/x-www-form-urlencoded"
        )
        return [json.loads(line) for line in payload.splitlines() if line.strip()]

    def count(self, start: datetime, end: datetime) -> int:
        rows = self.logsql("* | count() as n", start, end)
        return int(rows[0]["n"]) if rows else 0

    def run(self, case: Case) -> Any:
        if case.kind == "hits":
            # The newest page and the total, as our one request returns both: two LogsQL queries.
            self.logsql(case.logsql, case.start, case.end, limit=HIT_LIMIT)
            rows = self.logsql(f"{case.logsql} | count() as n", case.start, case.end)
            return int(rows[0]["n"]) if rows else 0
        rows = self.logsql(case.logsql, case.start, case.end)
        if case.kind == "trace":
            return len(rows)
        if case.kind == "groups":
            return sorted((next(v for k, v in r.items() if k != "c"), int(r["c"])) for r in rows)
        if case.kind == "timechart":
            return sorted((_epoch(r["_time"]), int(r["c"])) for r in rows if int(r["c"]))
        return [int(r["hits"]) for r in rows]  # top N by (field): `hits` per value, largest first


def find_victorialogs(flag: str | None) -> Path | None:
    """--victorialogs, else $VICTORIALOGS_BIN, else `victoria-logs` on PATH or in $GOPATH/bin (~/go/bin)."""
    gopath = os.environ.get("GOPATH") or str(Path.home() / "go")
    given = flag or os.environ.get("VICTORIALOGS_BIN")
    # A path the user gave is the only candidate: never measure some other binary in its place.
    candidates = [given] if given else [shutil.which("victoria-logs"), str(Path(gopath) / "bin" / "victoria-logs")]
    for c in candidates:
        if c and Path(c).expanduser().is_file() and os.access(Path(c).expanduser(), os.X_OK):
            return Path(c).expanduser()
    return None
