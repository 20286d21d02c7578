"""HTTP connections against a real `logwarden serve`: header and body read timeouts, the connection cap, and
1000 idle connections that cost the server little."""

from __future__ import annotations

import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def closed_within(sock: socket.socket, timeout: float) -> tuple[float, bytes]:
    """Seconds until the server closed `sock` (reading what it sent first), or AssertionError."""
    started = time.monotonic()
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        raise AssertionError(f"still open after {timeout}s") from None
    except ConnectionResetError:
        pass
    return time.monotonic() - started, received


def test_slowloris_headers_are_cut_off_at_the_header_timeout(tmp_path: Path, server_factory: Any) -> None:
    server = server_factory(tmp_path / "data", env={"LOGWARDEN_HTTP__HEADER_TIMEOUT": "2s"})
    with connect(server.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        stop = threading.Event()

        def drip() -> None:
            for byte in b"X-Slow: " + b"a" * 40:  # 20 s of header at one byte per 0.5 s
                if stop.wait(0.5):
                    return
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    return  # the server hung up

        dripping = threading.Thread(target=drip)
        dripping.start()
        try:
            elapsed, received = closed_within(sock, 10)
        finally:
            stop.set()
            dripping.join()
    assert 1.5 <= elapsed <= 4, elapsed
    assert received.startswith(b"HTTP/1.1 408"), received
    # The server itself is fine.
    assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200


def test_idle_connection_that_sends_nothing_is_closed(tmp_path: Path, server_factory: Any) -> None:
    server = server_factory(tmp_path / "data", env={"LOGWARDEN_HTTP__HEADER_TIMEOUT": "1s"})
    with connect(server.port) as sock:
        elapsed, received = closed_within(sock, 5)
    assert 0.8 <= elapsed <= 3, elapsed
    assert received == b""  # nothing was asked: no 408 that a client could take as an answer


def test_stalled_body_gets_408_at_the_body_timeout(tmp_path: Path, server_factory: Any) -> None:
    server = server_factory(tmp_path / "data", env={"LOGWARDEN_HTTP__BODY_TIMEOUT": "1500ms"})
    with connect(server.port) as sock:
        sock.sendall(b"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b'{"msg":"partial')
        elapsed, received = closed_within(sock, 6)
    assert 1.2 <= elapsed <= 4, elapsed
    assert received.startswith(b"HTTP/1.1 408"), received
    assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200


def test_connections_past_max_connections_get_503_and_are_closed(tmp_path: Path, server_factory: Any) -> None:
    server = server_factory(tmp_path / "data", env={"LOGWARDEN_HTTP__MAX_CONNECTIONS": "20"})
    held = [connect(server.port) for _ in range(20)]
    try:
        time.sleep(0.3)  # let the server accept them all
        with connect(server.port) as extra:
            elapsed, received = closed_within(extra, 5)
        assert received.startswith(b"HTTP/1.1 503"), received
        assert b"retry-after" in received.lower()
        assert elapsed < 2
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200


def test_thousand_idle_connections_cost_little(tmp_path: Path, server_factory: Any) -> None:
    """Defaults, except a short header timeout so the test also sees them all released."""
    server = server_factory(tmp_path / "data", env={"LOGWARDEN_HTTP__HEADER_TIMEOUT": "8s"})
    with httpx.Client(base_url=server.url, timeout=5) as http:
        http.get("/healthz")
        baseline = [_timed_get(http) for _ in range(20)]
        rss_before = rss_bytes(server.proc.pid)
        idle = [connect(server.port) for _ in range(1000)]
        try:
            time.sleep(0.5)
            loaded = [_timed_get(http) for _ in range(50)]
            rss_after = rss_bytes(server.proc.pid)
            print(
                f"/healthz median {statistics.median(baseline) * 1000:.1f} ms idle-free, "
                f"{statistics.median(loaded) * 1000:.1f} ms (p max {max(loaded) * 1000:.1f} ms) with 1000 idle; "
                f"RSS {rss_before / 2**20:.0f} → {rss_after / 2**20:.0f} MiB"
            )
            assert statistics.median(loaded) < 0.1, loaded
            assert rss_after - rss_before < 64 * 2**20
            # The header timeout releases them all (none sent a byte).
            deadline = time.monotonic() + 20
            for sock in idle:
                _, received = closed_within(sock, max(0.1, deadline - time.monotonic()))
                assert received == b""
        finally:
            for sock in idle:
                sock.close()
        assert _timed_get(http) < 1


def _timed_get(http: httpx.Client) -> float:
    started = time.perf_counter()
    resp = http.get("/healthz")
    elapsed = time.perf_counter() - started
    assert resp.status_code == 200, resp.text
    return elapsed
