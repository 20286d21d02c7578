"""Live tail: the hub (filters, tenants, bounded queues, shutdown) and GET /api/v1/tail over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.model.schema import LOG_SCHEMA
from logwarden.outputs.tail import TailClosedError, TailHub
from logwarden.query.filter import compile_filter
from tests.conftest import make_config
from tests.live_server import LiveServer

# --- the hub ---------------------------------------------------------------------------------


def batch(*rows: tuple[str, str, str]) -> pa.Table:
    """Core-schema rows from (tenant, service, message)."""
    now = datetime.now(UTC)
    return pa.Table.from_pylist(
        [
            {
                "ts": now,
                "observed_ts": now,
                "tenant": tenant,
                "service": service,
                "message": message,
                "source": "http",
                "log_id": f"id-{i}",
                "attrs": '{"user_id":42,"http.status":500}',
            }
            for i, (tenant, service, message) in enumerate(rows)
        ],
        schema=LOG_SCHEMA,
    )


def service_is(name: str) -> Any:
    return lambda table: pc.equal(table.column("service"), name)


def match(query: str) -> Any:
    return compile_filter(query).mask


async def test_subscribers_get_their_tenants_matching_lines_as_json() -> None:
    hub = TailHub()
    a = hub.subscribe("a", match("refused"))
    everything = hub.subscribe("a", match(""))
    other = hub.subscribe("b", match("refused"))
    hub.publish(batch(("a", "api", "connection refused"), ("b", "api", "b refused"), ("a", "web", "ok")))
    lines = await a.next_lines(0.1)
    assert lines is not None and len(lines) == 1
    line = orjson.loads(lines[0])
    assert line["message"] == "connection refused" and line["tenant"] == "a"
    assert line["attrs"] == {"user_id": 42, "http.status": 500}
    assert line["ts"].endswith("Z")
    assert [orjson.loads(x)["message"] for x in await everything.next_lines(0.1) or []] == [
        "connection refused",
        "ok",
    ]
    assert [orjson.loads(x)["tenant"] for x in await other.next_lines(0.1) or []] == ["b"]


async def test_a_slow_subscriber_loses_its_oldest_lines_and_counts_them() -> None:
    hub = TailHub(max_lines=3)
    sub = hub.subscribe("a", match(""))
    hub.publish(batch(*[("a", "api", f"m{i}") for i in range(2)]))
    hub.publish(batch(*[("a", "api", f"m{i}") for i in range(2, 5)]))
    await hub.drain()
    assert sub.dropped == 2
    assert [orjson.loads(x)["message"] for x in await sub.next_lines(0.1) or []] == ["m2", "m3", "m4"]
    hub.publish(batch(*[("a", "api", f"n{i}") for i in range(7)]))
    await hub.drain()
    assert sub.dropped == 6
    assert [orjson.loads(x)["message"] for x in await sub.next_lines(0.1) or []] == ["n4", "n5", "n6"]


async def test_a_failing_filter_never_breaks_publishing() -> None:
    hub = TailHub()

    def broken(table: pa.Table) -> pa.Array:
        raise RuntimeError("boom")

    bad = hub.subscribe("a", broken)
    good = hub.subscribe("a", service_is("api"))
    hub.publish(batch(("a", "api", "x"), ("a", "web", "y")))
    assert await bad.next_lines(0.05) == []
    assert [orjson.loads(x)["service"] for x in await good.next_lines(0.1) or []] == ["api"]


async def test_heartbeat_timeout_close_and_shutdown() -> None:
    hub = TailHub(max_subscribers=2)
    sub = hub.subscribe("a", match(""))
    began = time.monotonic()
    assert await sub.next_lines(0.05) == []
    assert time.monotonic() - began < 1
    hub.subscribe("a", match(""))
    with pytest.raises(TailClosedError, match="too many"):
        hub.subscribe("a", match(""))
    waiter = asyncio.create_task(sub.next_lines(30))
    await asyncio.sleep(0.01)
    hub.close()
    assert await asyncio.wait_for(waiter, 1) is None
    assert hub.subscribers == 0
    with pytest.raises(TailClosedError, match="shutting down"):
        hub.subscribe("a", match(""))


async def test_close_threadsafe_from_another_thread() -> None:
    hub = TailHub()
    sub = hub.subscribe("a", match(""))
    waiter = asyncio.create_task(sub.next_lines(30))
    await asyncio.sleep(0.01)
    threading.Thread(target=hub.close_threadsafe).start()
    assert await asyncio.wait_for(waiter, 2) is None


def test_no_subscribers_costs_nothing() -> None:
    TailHub().publish(batch(("a", "api", "x")))


# --- over HTTP with a real uvicorn server ----------------------------------------------------------


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(create_app(make_config(tmp_path), run_maintenance=False))
    server.start()
    yield server
    server.stop()


class SseReader:
    """Reads an SSE stream in a thread; events arrive on `events` as (monotonic time, event, data).

    http.client on a socket we own, so `close` can shut the socket down under a blocked read (a real
    client going away).
    """

    def __init__(self, url: str, q: str, tenant: str | None = None) -> None:
        self.events: queue.Queue[tuple[float, str, str]] = queue.Queue()
        self.ended = threading.Event()
        parts = urllib.parse.urlsplit(url)
        self._conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        self._conn.connect()
        self._sock = self._conn.sock
        headers = {"Accept": "text/event-stream", **({"X-Scope-OrgID": tenant} if tenant else {})}
        self._conn.request("GET", "/api/v1/tail?" + urllib.parse.urlencode({"q": q}), headers=headers)
        self._resp = self._conn.getresponse()
        self.status = self._resp.status
        assert self.status == 200, self._resp.read()
        assert self._resp.readline().startswith(b": connected")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        event = "message"
        try:
            while line := self._resp.readline():
                text = line.decode().rstrip("\n")
                if text.startswith("event: "):
                    event = text[7:]
                elif text.startswith("data: "):
                    self.events.put((time.monotonic(), event, text[6:]))
                    event = "message"
        except (OSError, http.client.HTTPException):
            pass
        finally:
            self.ended.set()

    def next(self, timeout: float = 5) -> tuple[float, str, dict[str, Any]]:
        at, event, data = self.events.get(timeout=timeout)
        return at, event, json.loads(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(10)
        self._conn.close()


def post(url: str, lines: list[dict[str, Any]], tenant: str | None = None) -> None:
    headers = {"X-Scope-OrgID": tenant} if tenant else {}
    body = b"\n".join(orjson.dumps(x) for x in lines)
    resp = httpx.post(url + "/api/v1/ingest", content=body, headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text


@pytest.mark.slow
def test_a_matching_line_reaches_the_client_within_a_second(live: LiveServer) -> None:
    reader = SseReader(live.url, 'service:checkout "connection refused" status:>=500', tenant="alpha")
    try:
        post(live.url, [{"msg": "connection refused", "service": "api", "status": 503}], "alpha")
        post(live.url, [{"msg": "connection refused", "service": "checkout", "status": 200}], "alpha")
        post(live.url, [{"msg": "all good", "service": "checkout", "status": 500}], "alpha")
        post(live.url, [{"msg": "connection refused", "service": "checkout", "status": 503}], "bravo")
        latencies = []
        for i in range(3):
            sent = time.monotonic()
            line = {"msg": f"upstream: Connection refused #{i}", "service": "checkout", "status": 500 + i}
            post(live.url, [{"msg": "noise", "service": "checkout"}, line], "alpha")
            at, event, got = reader.next()
            latencies.append(at - sent)
            assert event == "message"
            assert got["message"] == f"upstream: Connection refused #{i}"
            assert got["tenant"] == "alpha" and got["attrs"] == {"status": 500 + i}
        print(f"tail latency (ingest POST sent → SSE event received): {[round(x * 1000, 1) for x in latencies]} ms")
        assert max(latencies) < 1.0
        assert reader.events.empty()
    finally:
        reader.close()


@pytest.mark.slow
def test_disconnected_clients_are_unsubscribed(live: LiveServer) -> None:
    hub = runtime_of_app(live.app).tail
    reader = SseReader(live.url, "x")
    assert hub.subscribers == 1
    reader.close()
    deadline = time.monotonic() + 5
    while hub.subscribers and time.monotonic() < deadline:
        time.sleep(0.02)
    assert hub.subscribers == 0


def test_bad_query_is_400_before_streaming(client: TestClient) -> None:
    resp = client.get("/api/v1/tail", params={"q": 'level:error AND ("unclosed'})
    assert resp.status_code == 400
    assert resp.json()["column"] >= 1
    resp = client.get("/api/v1/tail", params={"q": "level:error | stats count()"})
    assert resp.status_code == 400 and "stats cannot run on a live tail" in resp.json()["error"]
    assert resp.json()["column"] == 15


@pytest.mark.slow
def test_cli_tail_prints_lines_until_ctrl_c(live: LiveServer) -> None:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        pytest.skip("SIGINT is ignored in this process, so the child would ignore Ctrl-C too")
    with subprocess.Popen(
        [sys.executable, "-m", "logwarden", "tail", "refused", "--server", live.url, "--output", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        try:
            assert proc.stderr is not None and proc.stdout is not None
            assert "following refused" in proc.stderr.readline()
            post(live.url, [{"msg": "nope", "service": "api"}, {"msg": "conn refused", "service": "api"}])
            line = json.loads(proc.stdout.readline())
            assert line["message"] == "conn refused"
            proc.send_signal(signal.SIGINT)
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


@pytest.mark.slow
def test_streams_end_when_the_server_shuts_down(server_factory: Any) -> None:
    server = server_factory()
    reader = SseReader(server.url, "")
    began = time.monotonic()
    assert server.terminate(timeout=20) == 0
    assert time.monotonic() - began < 10, "an open tail stream held up the graceful shutdown"
    assert reader.ended.wait(5)
    reader.close()


def runtime_of_app(app: Starlette) -> Any:
    return app.state.runtime


async def test_matching_runs_off_the_event_loop_and_a_backlog_is_dropped_and_counted() -> None:
    import threading

    from logwarden.outputs import tail as tail_module

    hub = TailHub()
    release = threading.Event()
    threads: list[str] = []

    def slow(table: pa.Table) -> pa.Array:
        threads.append(threading.current_thread().name)
        release.wait(5)
        return pa.repeat(pa.scalar(True), table.num_rows)

    sub = hub.subscribe("a", slow)
    for i in range(tail_module.MAX_PENDING_BATCHES + 3):
        hub.publish(batch(("a", "api", f"m{i}")))  # returns at once although the filter is blocked
    assert sub.dropped == 3
    release.set()
    await hub.drain()
    lines = await sub.next_lines(0.1) or []
    assert len(lines) == tail_module.MAX_PENDING_BATCHES
    assert orjson.loads(lines[0])["message"] == "m0"
    assert threads and all(name.startswith("lw-tail") for name in threads)
