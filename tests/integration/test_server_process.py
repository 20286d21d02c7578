"""A real `logwarden serve` subprocess: durability across SIGKILL, graceful SIGTERM, concurrent reads."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import ServerProcess

pytestmark = pytest.mark.slow
LINES_PER_REQUEST = 200


def request_body(client_id: int, seq: int) -> bytes:
    req = f"c{client_id}-r{seq}"
    return b"\n".join(
        orjson.dumps({"msg": f"durable line {req} {i}", "service": "durability", "req": req, "i": i})
        for i in range(LINES_PER_REQUEST)
    )


def count_by_request(server: ServerProcess) -> dict[str, int]:
    resp = httpx.get(
        server.url + "/api/v1/stats/count",
        params={"by": "req", "service": "durability", "start": "1h", "limit": 10_000},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    return {row["req"]: row["count"] for row in resp.json()["counts"]}


def test_sigkill_during_ingest_loses_no_acknowledged_line(tmp_path: Path, server_factory: Any) -> None:
    data_dir = tmp_path / "data"
    server = server_factory(data_dir)
    acked: list[str] = []
    sent: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(client_id: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            seq = 0
            while not stop.is_set():
                req = f"c{client_id}-r{seq}"
                with lock:
                    sent.append(req)
                try:
                    resp = http.post("/api/v1/ingest", content=request_body(client_id, seq))
                except httpx.HTTPError:
                    return  # the server died mid-request: this request was never acknowledged
                if resp.status_code == 200:
                    assert resp.json() == {"accepted": LINES_PER_REQUEST, "rejected": 0}
                    with lock:
                        acked.append(req)
                seq += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 150 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.kill()  # SIGKILL while the clients are still sending
    stop.set()
    for t in threads:
        t.join(15)
    assert len(acked) >= 150, "the clients acknowledged too little before the kill"
    assert len(sent) > len(acked), "the kill should interrupt requests in flight"

    restarted = server_factory(data_dir)
    counts = count_by_request(restarted)
    missing = [req for req in acked if counts.get(req) != LINES_PER_REQUEST]
    assert missing == [], f"{len(missing)} acknowledged requests lost or partial, e.g. {missing[:5]}"
    # Commits are atomic: a request that was not acknowledged is either entirely there or absent.
    partial = {req: n for req, n in counts.items() if n != LINES_PER_REQUEST}
    assert partial == {}


def test_sigterm_flushes_and_closes_cleanly(tmp_path: Path, server_factory: Any) -> None:
    data_dir = tmp_path / "data"
    server = server_factory(data_dir)
    results: list[int] = []

    def send(k: int) -> None:
        resp = httpx.post(server.url + "/api/v1/ingest", content=request_body(k, 0), timeout=30)
        results.append(resp.status_code)

    threads = [threading.Thread(target=send, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 4
    assert server.terminate() == 0
    assert "store closed cleanly" in server.log()
    # The checkpoint at shutdown folded the WAL into the database file.
    wal = data_dir / "hot.duckdb.wal"
    assert not wal.exists() or wal.stat().st_size == 0
    restarted = server_factory(data_dir)
    assert sum(count_by_request(restarted).values()) == 4 * LINES_PER_REQUEST


def test_search_while_ingesting(tmp_path: Path, server_factory: Any) -> None:
    server = server_factory(tmp_path / "data")
    stop = threading.Event()
    acked_lines = 0
    errors: list[str] = []

    def writer() -> None:
        nonlocal acked_lines
        with httpx.Client(base_url=server.url, timeout=30) as http:
            seq = 0
            while not stop.is_set():
                resp = http.post("/api/v1/ingest", content=request_body(0, seq))
                if resp.status_code != 200:
                    errors.append(f"ingest {resp.status_code}")
                else:
                    acked_lines += LINES_PER_REQUEST
                seq += 1

    totals: list[int] = []

    def reader() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not stop.is_set():
                floor = acked_lines
                resp = http.get("/api/v1/search", params={"q": "durable line", "limit": 5, "start": "1h"})
                if resp.status_code != 200:
                    errors.append(f"search {resp.status_code}: {resp.text}")
                    continue
                body = resp.json()
                # Everything acknowledged before the search began is visible to it.
                if body["total"] < floor:
                    errors.append(f"search saw {body['total']} < {floor} acknowledged")
                totals.append(body["total"])

    threads = [
        threading.Thread(target=writer),
        threading.Thread(target=reader),
        threading.Thread(target=reader),
    ]
    for t in threads:
        t.start()
    time.sleep(4)
    stop.set()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(totals) >= 10
    assert totals[-1] > 0
    final = httpx.get(server.url + "/api/v1/search", params={"q": "durable", "start": "1h", "limit": 1}).json()
    assert final["total"] == acked_lines


def test_query_cli_against_running_server(tmp_path: Path, server_factory: Any) -> None:
    server = server_factory(tmp_path / "data")
    body = b'{"msg":"checkout failed: card declined","level":"error","service":"checkout"}\n{"msg":"all good"}\n'
    assert httpx.post(server.url + "/api/v1/ingest", content=body).status_code == 200
    out = subprocess.run(
        [sys.executable, "-m", "logwarden", "query", "declined", "--server", server.url, "--since", "15m"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "checkout failed: card declined" in out.stdout
    assert "ERROR" in out.stdout
    assert "all good" not in out.stdout
    assert "1 of 1 matching lines" in out.stderr
    as_json = subprocess.run(
        [sys.executable, "-m", "logwarden", "query", "declined", "--server", server.url, "-o", "ndjson"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert orjson.loads(as_json.stdout)["service"] == "checkout"
    bad = subprocess.run(
        [sys.executable, "-m", "logwarden", "query", "x", "--server", server.url, "--since", "yesterday-ish"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "400" in bad.stderr and "invalid start" in bad.stderr


def test_bad_config_fails_at_start_naming_file_line_and_field(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("http:\n  port: 8080\nstore:\n  retention_days: -3\n")
    out = subprocess.run(
        [sys.executable, "-m", "logwarden", "serve", "--config", str(cfg), "--data-dir", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 2
    assert f"{cfg}:4: store.retention_days" in out.stderr
    assert "Traceback" not in out.stderr


def test_env_var_overrides_config(tmp_path: Path, server_factory: Any) -> None:
    server = server_factory(tmp_path / "data", env={"LOGWARDEN_INGEST__MAX_BODY_BYTES": "100"})
    resp = httpx.post(server.url + "/api/v1/ingest", content=b'{"msg":"x"}\n' * 20)
    assert resp.status_code == 413
