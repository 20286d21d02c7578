"""Syslog listeners with real clients on loopback: Python's SysLogHandler, raw sockets, TLS, rsyslog, syslog-ng.

The listener tests run the app in-process (TestClient runs its lifespan, so the listeners really bind);
the daemon tests (slow) start `logwarden serve` as a subprocess and real rsyslog / syslog-ng processes
(tests/integration/syslog_daemons/install.sh unpacks them) that forward what `logger` writes to them.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from tests.conftest import make_config
from tests.integration.syslog_daemons.daemons import (
    SyslogDaemon,
    find_rsyslogd,
    find_syslog_ng,
    free_udp_and_tcp_port,
    start_rsyslog,
    start_syslog_ng,
)

EPOCH = "2000-01-01T00:00:00Z"
Search = Callable[..., list[dict[str, Any]]]


def wait_for_hits(search: Search, n: int, timeout: float = 20, **params: Any) -> list[dict[str, Any]]:
    """Poll the search API until it returns at least n hits (then give the rest a moment to show up too)."""
    deadline = time.monotonic() + timeout
    hits: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        hits = search(**params)
        if len(hits) >= n:
            return hits
        time.sleep(0.05)
    raise AssertionError(f"expected {n} hits for {params}, got {len(hits)}: {hits}")


def client_search(client: TestClient, tenant: str | None = None) -> Search:
    def search(**params: Any) -> list[dict[str, Any]]:
        headers = {"X-Scope-OrgID": tenant} if tenant else {}
        resp = client.get("/api/v1/search", params={"start": EPOCH, "limit": 1000, **params}, headers=headers)
        assert resp.status_code == 200, resp.text
        hits: list[dict[str, Any]] = resp.json()["hits"]
        return hits

    return search


def metric(client: TestClient, name: str) -> float:
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def core(hit: dict[str, Any]) -> dict[str, Any]:
    return {k: hit[k] for k in ("service", "host", "level", "message", "attrs", "source", "tenant")}


@pytest.fixture
def ports() -> dict[str, int]:
    return {"udp": free_udp_and_tcp_port(), "tcp": free_udp_and_tcp_port(), "tls": free_udp_and_tcp_port()}


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost, made with the openssl CLI."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def app_client(tmp_path: Path, **overrides: Any) -> TestClient:
    return TestClient(create_app(make_config(tmp_path, **overrides), run_maintenance=False))


@pytest.fixture
def listeners(tmp_path: Path, ports: dict[str, int], certificate: tuple[Path, Path]) -> Iterator[TestClient]:
    """UDP (tenant default), TCP (tenant 'net') and TLS listeners of an in-process server."""
    cert, key = certificate
    overrides = {
        "syslog.udp.port": ports["udp"],
        "syslog.tcp.port": ports["tcp"],
        "syslog.tcp.tenant": "net",
        "syslog.tls.port": ports["tls"],
        "syslog.tls.cert_file": str(cert),
        "syslog.tls.key_file": str(key),
    }
    with app_client(tmp_path, **overrides) as client:
        yield client


def python_logger(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


@pytest.mark.parametrize("socktype", [socket.SOCK_DGRAM, socket.SOCK_STREAM], ids=["udp", "tcp"])
def test_python_sysloghandler(listeners: TestClient, ports: dict[str, int], socktype: socket.SocketKind) -> None:
    transport = "udp" if socktype == socket.SOCK_DGRAM else "tcp"
    tenant = "net" if transport == "tcp" else None
    handler = logging.handlers.SysLogHandler(
        ("127.0.0.1", ports[transport]), facility=logging.handlers.SysLogHandler.LOG_LOCAL2, socktype=socktype
    )
    handler.ident = "billing: "
    log = python_logger(handler, f"syslog-test-{transport}")
    log.error("payment %s failed", "p-17")
    log.warning("retrying payment p-17")
    log.debug("détails: ünïcode ✓")
    handler.close()
    hits = wait_for_hits(client_search(listeners, tenant), 3)
    assert sorted((core(h) for h in hits), key=lambda h: h["message"]) == [
        {"service": "billing", "host": "127.0.0.1", "level": "DEBUG", "message": "détails: ünïcode ✓",
         "attrs": {"syslog.facility": "local2", "syslog.severity": "debug"}, "source": "syslog",
         "tenant": tenant or "default"},
        {"service": "billing", "host": "127.0.0.1", "level": "ERROR", "message": "payment p-17 failed",
         "attrs": {"syslog.facility": "local2", "syslog.severity": "err"}, "source": "syslog",
         "tenant": tenant or "default"},
        {"service": "billing", "host": "127.0.0.1", "level": "WARN", "message": "retrying payment p-17",
         "attrs": {"syslog.facility": "local2", "syslog.severity": "warning"}, "source": "syslog",
         "tenant": tenant or "default"},
    ]  # fmt: skip
    # Each listener writes to its own tenant only.
    other = client_search(listeners, "default" if tenant else "net")()
    assert other == []


def test_tls_listener_octet_counted_rfc5424(listeners: TestClient, ports: dict[str, int]) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    frames = [
        b'<134>1 2026-11-21T13:00:00.25Z db1 postgres 99 CHK [origin ip="10.0.0.9"] checkpoint complete',
        b"<131>1 2026-11-21T13:00:01Z db1 postgres 99 - - line one\nline two",
    ]
    with socket.create_connection(("127.0.0.1", ports["tls"])) as raw, context.wrap_socket(raw) as tls:
        tls.sendall(b"".join(str(len(f)).encode() + b" " + f for f in frames))
    hits = wait_for_hits(client_search(listeners), 2)
    by_message = {h["message"]: h for h in hits}
    first = by_message["checkpoint complete"]
    assert first["ts"] == "2026-11-21T13:00:00.250000Z"
    assert core(first) == {
        "service": "postgres", "host": "db1", "level": "INFO", "message": "checkpoint complete", "source": "syslog",
        "tenant": "default",
        "attrs": {"syslog.facility": "local0", "syslog.severity": "info", "syslog.procid": "99",
                  "syslog.msgid": "CHK", "sd.origin.ip": "10.0.0.9"},
    }  # fmt: skip
    assert by_message["line one\nline two"]["level"] == "ERROR"


def test_tls_listener_refuses_plain_text_and_keeps_serving(listeners: TestClient, ports: dict[str, int]) -> None:
    with socket.create_connection(("127.0.0.1", ports["tls"])) as raw:
        raw.sendall(b"<13>not encrypted\n")
        raw.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            raw.recv(100)  # the server answers with a TLS alert, or just closes
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", ports["tls"])) as raw, context.wrap_socket(raw) as tls:
        tls.sendall(b"<13>after the bad client\n")
    hits = wait_for_hits(client_search(listeners), 1)
    assert [h["message"] for h in hits] == ["after the bad client"]


def test_bad_input_goes_to_dead_letters_and_the_connection_goes_on(
    listeners: TestClient, ports: dict[str, int]
) -> None:
    with socket.create_connection(("127.0.0.1", ports["tcp"])) as conn:
        conn.sendall(b"<13>good one\nGET / HTTP/1.1\n<13>bad \xff\xfe utf8\n<300>bad pri\n<13>good two\n")
    search = client_search(listeners, "net")
    hits = wait_for_hits(search, 5)
    good = sorted(h["message"] for h in hits if h["source"] == "syslog")
    dead = sorted((h["message"], h["attrs"]["error"].split(" (from")[0]) for h in hits if h["source"] == "dead_letter")
    assert good == ["good one", "good two"]
    assert dead == [
        ("<13>bad \ufffd\ufffd utf8", "invalid UTF-8 at byte 8 of the frame"),
        ("<300>bad pri", "invalid syslog PRI: 300 is above 191"),
        ("GET / HTTP/1.1", "not a syslog message: it does not start with <PRI>"),
    ]
    assert all(h["attrs"]["error"].endswith("(from 127.0.0.1)") for h in hits if h["source"] == "dead_letter")
    assert metric(listeners, "logwarden_rejected_lines_total") == 3


def test_oversize_frames_are_truncated_dead_letters(tmp_path: Path, ports: dict[str, int]) -> None:
    overrides = {"syslog.tcp.port": ports["tcp"], "syslog.udp.port": ports["udp"], "syslog.max_frame_bytes": 1024}
    with app_client(tmp_path, **overrides) as client:
        big = b"<13>" + b"x" * 3000
        with socket.create_connection(("127.0.0.1", ports["tcp"])) as conn:
            conn.sendall(b"<13>before\n" + big + b"\n<13>after\n")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(big, ("127.0.0.1", ports["udp"]))
        hits = wait_for_hits(client_search(client), 4)
        assert sorted(h["message"] for h in hits if h["source"] == "syslog") == ["after", "before"]
        dead = [h for h in hits if h["source"] == "dead_letter"]
        assert [h["message"] for h in dead] == [big[:1024].decode()] * 2
        errors = sorted(h["attrs"]["error"].split(" (from")[0] for h in dead)
        assert errors == [
            "syslog datagram of 3004 bytes exceeds syslog.max_frame_bytes (1024); stored truncated",
            "syslog frame of 3004 bytes exceeds syslog.max_frame_bytes (1024); stored truncated",
        ]
        assert metric(client, "logwarden_syslog_oversize_frames_total") == 2


def test_connection_limit_idle_timeout_and_a_stalled_client(tmp_path: Path, ports: dict[str, int]) -> None:
    overrides = {"syslog.tcp.port": ports["tcp"], "syslog.max_connections": 2, "syslog.idle_timeout": "1s"}
    with app_client(tmp_path, **overrides) as client:
        addr = ("127.0.0.1", ports["tcp"])
        # A client that sends half a frame and then nothing: it must not hold up anyone else.
        stalled = socket.create_connection(addr)
        stalled.sendall(b"<13>half a fra")
        second = socket.create_connection(addr)
        second.sendall(b"<13>from the second client\n")
        assert [h["message"] for h in wait_for_hits(client_search(client), 1)] == ["from the second client"]
        # Two are open: a third is closed at once.
        third = socket.create_connection(addr)
        third.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            assert third.recv(10) == b""
        third.close()
        assert metric(client, "logwarden_syslog_refused_connections_total") == 1
        assert metric(client, "logwarden_syslog_connections") == 2
        # After the idle timeout the server closes both, storing the stalled client's partial frame.
        for sock in (stalled, second):
            sock.settimeout(10)
            assert sock.recv(10) == b""
            sock.close()
        hits = wait_for_hits(client_search(client), 2)
        assert sorted(h["message"] for h in hits) == ["from the second client", "half a fra"]
        deadline = time.monotonic() + 5
        while metric(client, "logwarden_syslog_connections") != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert metric(client, "logwarden_syslog_connections") == 0
        with socket.create_connection(addr) as again:
            again.sendall(b"<13>room again\n")
        wait_for_hits(client_search(client), 3)


def test_store_pushback_pauses_tcp_without_losing_lines(tmp_path: Path, ports: dict[str, int]) -> None:
    """With a tiny unapplied-bytes budget the store refuses most appends; TCP must wait and lose nothing."""
    overrides = {
        "syslog.tcp.port": ports["tcp"],
        "syslog.busy_retry_delay": "50ms",
        "syslog.batch_max_frames": 500,
        "store.max_unapplied_bytes": 1,
        "store.apply_interval": "100ms",
    }
    n = 5000
    with app_client(tmp_path, **overrides) as client:
        with socket.create_connection(("127.0.0.1", ports["tcp"])) as conn:
            conn.sendall(b"".join(b"<14>1 - - app - - - pushback line %d\n" % i for i in range(n)))
        deadline = time.monotonic() + 60
        total = 0
        while time.monotonic() < deadline:
            total = client.get("/api/v1/stats/count", params={"start": EPOCH}).json()["total"]
            if total >= n:
                break
            time.sleep(0.1)
        assert total == n
        assert metric(client, "logwarden_syslog_store_waits_total") > 0
        assert metric(client, "logwarden_syslog_dropped_frames_total") == 0


def test_udp_counts_what_a_busy_store_refuses(tmp_path: Path, ports: dict[str, int]) -> None:
    """UDP cannot push back: batches the store refuses are dropped and counted, and nothing else is lost."""
    overrides = {"syslog.udp.port": ports["udp"], "store.max_unapplied_bytes": 1, "store.apply_interval": "30s"}
    with app_client(tmp_path, **overrides) as client, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        sent = 0
        for burst in range(4):
            for i in range(20):
                udp.sendto(b"<14>burst %d line %d" % (burst, i), ("127.0.0.1", ports["udp"]))
                sent += 1
            time.sleep(0.3)  # each burst is its own batch
        deadline = time.monotonic() + 10
        stored = dropped = 0.0
        while time.monotonic() < deadline:
            stored = metric(client, "logwarden_ingested_lines_total")
            dropped = metric(client, "logwarden_syslog_dropped_frames_total")
            if stored + dropped >= sent:
                break
            time.sleep(0.05)
        assert stored >= 20  # the first batch went in; the store is "behind" after it
        assert dropped >= 20
        assert stored + dropped == sent
        assert len(client_search(client)()) == stored


def test_stop_stores_what_was_received(tmp_path: Path, ports: dict[str, int]) -> None:
    overrides = {"syslog.tcp.port": ports["tcp"], "syslog.batch_max_delay": "10s", "syslog.batch_max_frames": 100_000}
    with app_client(tmp_path, **overrides) as client:
        conn = socket.create_connection(("127.0.0.1", ports["tcp"]))
        conn.sendall(b"".join(b"<14>pending %d\n" % i for i in range(100)))
        time.sleep(0.5)  # received, but the batch waits for its 10 s delay
        assert client_search(client)() == []
    with app_client(tmp_path) as client:
        assert len(client_search(client)()) == 100
    conn.close()


# --- real daemons -----------------------------------------------------------------------------------


def require(found: object, what: str) -> None:
    if found is None:
        message = f"{what} not installed: run tests/integration/syslog_daemons/install.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def syslog_server(server_factory: Any, tmp_path: Path) -> tuple[Any, int]:
    """`logwarden serve --syslog-udp-port P --syslog-tcp-port P` as a subprocess."""
    port = free_udp_and_tcp_port()
    server = server_factory(tmp_path / "data", "--syslog-udp-port", str(port), "--syslog-tcp-port", str(port))
    return server, port


def server_search(server: Any) -> Search:
    def search(**params: Any) -> list[dict[str, Any]]:
        resp = httpx.get(server.url + "/api/v1/search", params={"start": EPOCH, "limit": 1000, **params}, timeout=30)
        assert resp.status_code == 200, resp.text
        hits: list[dict[str, Any]] = resp.json()["hits"]
        return hits

    return search


@pytest.fixture
def daemons() -> Iterator[list[SyslogDaemon]]:
    started: list[SyslogDaemon] = []
    yield started
    for daemon in started:
        daemon.stop()


def assert_recent(hit: dict[str, Any]) -> None:
    ts = datetime.fromisoformat(hit["ts"].replace("Z", "+00:00"))
    observed = datetime.fromisoformat(hit["observed_ts"].replace("Z", "+00:00"))
    assert abs((observed - ts).total_seconds()) < 120


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_rsyslog_forwards_rfc3164(
    syslog_server: tuple[Any, int], tmp_path: Path, protocol: str, daemons: list[SyslogDaemon]
) -> None:
    require(find_rsyslogd(), "rsyslogd")
    server, port = syslog_server
    rsyslog = start_rsyslog(tmp_path / "rsyslog", port=port, protocol=protocol, hostname="rsyslog-host")
    daemons.append(rsyslog)
    rsyslog.wait_ready()
    rsyslog.send("disk /var is 91% full", tag="diskmon", priority="local3.warning", pid=4242)
    rsyslog.send("backup failed: no space left", tag="backup", priority="daemon.err")
    rsyslog.send("checked 12 volumes", tag="diskmon", priority="local3.debug", pid=4242)
    hits = wait_for_hits(server_search(server), 3)
    for hit in hits:
        assert_recent(hit)
    assert sorted((core(h) for h in hits), key=lambda h: h["message"]) == [
        {"service": "backup", "host": "rsyslog-host", "level": "ERROR", "message": "backup failed: no space left",
         "attrs": {"syslog.facility": "daemon", "syslog.severity": "err"}, "source": "syslog", "tenant": "default"},
        {"service": "diskmon", "host": "rsyslog-host", "level": "DEBUG", "message": "checked 12 volumes",
         "attrs": {"syslog.facility": "local3", "syslog.severity": "debug", "syslog.procid": "4242"},
         "source": "syslog", "tenant": "default"},
        {"service": "diskmon", "host": "rsyslog-host", "level": "WARN", "message": "disk /var is 91% full",
         "attrs": {"syslog.facility": "local3", "syslog.severity": "warning", "syslog.procid": "4242"},
         "source": "syslog", "tenant": "default"},
    ]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_syslog_ng_forwards_rfc5424(
    syslog_server: tuple[Any, int], tmp_path: Path, protocol: str, daemons: list[SyslogDaemon]
) -> None:
    require(find_syslog_ng(), "syslog-ng")
    server, port = syslog_server
    ng = start_syslog_ng(tmp_path / "syslog-ng", port=port, protocol=protocol, hostname="ng-host")
    daemons.append(ng)
    ng.wait_ready()
    ng.send(
        'order 1 shipped "express"',
        tag="orders",
        priority="local5.notice",
        pid=31,
        rfc5424=True,
        extra=(
            "--msgid",
            "SHIP",
            "--sd-id",
            "order@32473",
            "--sd-param",
            'id="o-1"',
            "--sd-param",
            r'note="a \"b\" \] c\\d"',
        ),
    )
    ng.send("payment gateway timeout", tag="payments", priority="user.crit", rfc5424=True)
    hits = wait_for_hits(server_search(server), 2)
    for hit in hits:
        assert_recent(hit)
    sequence = sorted(h["attrs"].pop("sd.meta.sequenceId") for h in hits)
    assert sequence == ["1", "2"]
    assert sorted((core(h) for h in hits), key=lambda h: h["message"]) == [
        {"service": "orders", "host": "ng-host", "level": "INFO", "message": 'order 1 shipped "express"',
         "attrs": {"syslog.facility": "local5", "syslog.severity": "notice", "syslog.procid": "31",
                   "syslog.msgid": "SHIP", "sd.order@32473.id": "o-1", "sd.order@32473.note": 'a "b" ] c\\d'},
         "source": "syslog", "tenant": "default"},
        {"service": "payments", "host": "ng-host", "level": "FATAL", "message": "payment gateway timeout",
         "attrs": {"syslog.facility": "user", "syslog.severity": "crit"}, "source": "syslog", "tenant": "default"},
    ]  # fmt: skip


def test_several_syslog_sources_run_at_once(tmp_path: Path) -> None:
    """The deprecated section and two `sources:` entries, each on its own ports and tenant, all listening."""
    edge_udp, edge_tcp, core_tcp, legacy_tcp = (free_udp_and_tcp_port() for _ in range(4))
    overrides = {
        "syslog.tcp.port": legacy_tcp,
        "sources": [
            {"type": "syslog", "name": "edge", "udp": {"port": edge_udp, "tenant": "edge"},
             "tcp": {"port": edge_tcp, "tenant": "edge"}},
            {"type": "syslog", "name": "core", "tcp": {"port": core_tcp, "tenant": "core"}, "max_connections": 1},
        ],
    }  # fmt: skip
    with app_client(tmp_path, **overrides) as client:
        conns = [socket.create_connection(("127.0.0.1", port)) for port in (edge_tcp, core_tcp, legacy_tcp)]
        deadline = time.monotonic() + 5
        while metric(client, "logwarden_syslog_connections") != 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert metric(client, "logwarden_syslog_connections") == 3  # summed over the listeners of one kind
        # Each source keeps its own limits: "core" allows one connection, so a second is closed at once.
        extra = socket.create_connection(("127.0.0.1", core_tcp))
        extra.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            assert extra.recv(10) == b""
        extra.close()
        for conn, text in zip(conns, (b"edge tcp", b"core tcp", b"legacy tcp"), strict=True):
            conn.sendall(b"<13>" + text + b"\n")
            conn.close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"<13>edge udp", ("127.0.0.1", edge_udp))
        assert sorted(h["message"] for h in wait_for_hits(client_search(client, "edge"), 2)) == ["edge tcp", "edge udp"]
        assert [h["message"] for h in wait_for_hits(client_search(client, "core"), 1)] == ["core tcp"]
        assert [h["message"] for h in wait_for_hits(client_search(client), 1)] == ["legacy tcp"]
        assert metric(client, "logwarden_syslog_refused_connections_total") == 1
