"""Allocator settings, giving memory back, and the memory snapshot (logwarden.memory)."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import duckdb
import pyarrow as pa
import pytest
from prometheus_client import CollectorRegistry
from starlette.testclient import TestClient

from logwarden import memory

glibc_only = pytest.mark.skipif(memory._libc() is None, reason="glibc malloc only")


@pytest.fixture(autouse=True)
def _keep_arrow_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """tune_allocators here must not switch this test process's Arrow pool: the environment names the current one."""
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", pa.default_memory_pool().backend_name)


def test_arena_cap_defers_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert memory.tune_allocators() is False


@glibc_only
def test_arena_cap_is_set_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert memory.tune_allocators(memory.DEFAULT_MALLOC_ARENAS) is True


# A fresh interpreter: the server's start, before anything used Arrow.
_POOL_PROBE = """
import json, sys
from logwarden import memory
memory.tune_allocators()
import pyarrow as pa
arrays = [pa.array(range(1_000_000), pa.int64()) for _ in range(32)]  # 256 MB in Arrow's pool
held = memory.rss_bytes()
del arrays
print(json.dumps({"backend": pa.default_memory_pool().backend_name, "held": held, "after": memory.rss_bytes()}))
"""


def _pool_probe(env: dict[str, str]) -> dict[str, int | str]:
    clean = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"} | env
    done = subprocess.run([sys.executable, "-c", _POOL_PROBE], env=clean, capture_output=True, text=True, check=True)
    result: dict[str, int | str] = json.loads(done.stdout)
    return result


@pytest.mark.skipif("jemalloc" not in pa.supported_memory_backends(), reason="Arrow built without jemalloc")
def test_server_arrow_pool_is_jemalloc_and_returns_freed_pages_at_once() -> None:
    probe = _pool_probe({})
    assert probe["backend"] == "jemalloc"
    # The freed batches leave the resident set at once (mimalloc, Arrow's default, kept all 256 MB).
    assert int(probe["held"]) - int(probe["after"]) > 200 * 1024**2


def test_arrow_pool_from_the_environment_wins() -> None:
    assert _pool_probe({"ARROW_DEFAULT_MEMORY_POOL": "system"})["backend"] == "system"


def test_choose_arrow_pool_switches_a_pool_already_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    before = pa.default_memory_pool()
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL")
    try:
        assert memory.choose_arrow_pool("system") == "system"
        assert pa.default_memory_pool().backend_name == "system"
    finally:
        pa.set_memory_pool(before)


@glibc_only
def test_release_unused_returns_freed_heap_pages() -> None:
    libc = memory._libc()
    assert libc is not None
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    # 48 MiB of small blocks (below the mmap threshold: they live in the heap), touched so they are resident.
    blocks = []
    for _ in range(48 * 1024):
        p = libc.malloc(1000)
        ctypes.memset(p, 1, 1000)
        blocks.append(p)
    pin = libc.malloc(1000)  # keeps the heap's top in use: free() alone cannot shrink it
    for p in blocks:
        libc.free(p)
    before = memory.rss_bytes()
    memory.release_unused()
    after = memory.rss_bytes()
    libc.free(pin)
    assert before - after > 24 * 1024**2


def test_snapshot_counts_arrow_and_duckdb_memory() -> None:
    con = duckdb.connect(":memory:")
    try:
        con.execute("CREATE TABLE t AS SELECT range AS i, repeat('x', 50) AS s FROM range(200000)")
        held = pa.array(range(1_000_000), pa.int64())
        snap = memory.memory_snapshot(lambda: memory.duckdb_memory(con))
    finally:
        con.close()
    assert snap.rss_bytes > 0
    assert snap.arrow_allocated_bytes >= held.nbytes
    assert snap.arrow_backend == pa.default_memory_pool().backend_name
    assert sum(snap.duckdb_bytes.values()) > 0
    assert snap.as_dict()["duckdb_bytes"] == snap.duckdb_bytes


def test_snapshot_without_duckdb_has_no_duckdb_share() -> None:
    snap = memory.memory_snapshot()
    assert snap.duckdb_bytes == {}
    assert "pyarrow" in sys.modules and snap.arrow_backend


def test_collector_reports_each_part() -> None:
    registry = CollectorRegistry()
    registry.register(memory.MemoryCollector(lambda: {"base_table": 1234}))
    assert registry.get_sample_value("logwarden_memory_bytes", {"part": "duckdb_base_table"}) == 1234
    rss = registry.get_sample_value("logwarden_memory_bytes", {"part": "rss"})
    assert rss is not None and rss > 0
    assert registry.get_sample_value("logwarden_memory_bytes", {"part": "arrow"}) is not None


def test_collector_of_a_closed_store_still_reports_the_process() -> None:
    con = duckdb.connect(":memory:")
    con.close()
    registry = CollectorRegistry()
    registry.register(memory.MemoryCollector(lambda: memory.duckdb_memory(con)))
    names = {s.labels["part"] for m in registry.collect() for s in m.samples}
    assert names == {"rss", "arrow"}


def test_server_metrics_show_the_stores_memory(client: TestClient) -> None:
    lines = [{"msg": f"line {i} of the memory test", "service": "api"} for i in range(2000)]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    assert client.post("/api/v1/ingest", content=body, headers={"Content-Type": "application/x-ndjson"}).is_success
    client.post("/api/v1/query", json={"q": "* | stats count()"})  # the store has applied or reads memory
    parts = {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("logwarden_memory_bytes{")
    }
    assert parts["rss"] > 0
    assert "arrow" in parts
    assert any(p.startswith("duckdb_") and v > 0 for p, v in parts.items())
