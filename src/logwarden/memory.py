"""Process memory: allocator settings for the server, giving freed memory back, and what each allocator holds.

A `logwarden serve` process has three allocators: glibc malloc (Python objects and most C libraries), Arrow's
memory pool (decoded batches, compute kernels) and DuckDB's (jemalloc: its buffer pool and query state). Each
keeps freed memory for reuse, so the resident size (RSS) after a burst of ingest or a compaction stays near its
peak long after the data is gone. This module

- caps glibc's malloc arenas (`tune_allocators`, at start): without a cap every thread that allocates gets
  an arena of its own, up to 8 per core, each keeping its freed pages;
- makes Arrow's pool jemalloc (`tune_allocators`): ingest decodes batches on one thread and frees them on
  another, a pattern in which Arrow's default mimalloc kept its freed pages (a decode → apply simulation:
  peak 225 MiB against 160; bench/ingest.py: peak RSS ~-40 MB at the same lines per CPU-second);
- hands freed memory back to the system (`release_unused`): Arrow's pool and glibc's heap, before the
  store's last checkpoint, after it closes and before compaction, and when a caller knows a burst is over;
- reports what each part holds (`memory_snapshot`, and `logwarden_memory_bytes{part}` on /metrics).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# glibc's mallopt parameter for the arena cap (malloc.h: M_ARENA_MAX).
_M_ARENA_MAX = -8
# Two arenas: the event loop and one worker thread allocate without contention; more only kept freed pages.
DEFAULT_MALLOC_ARENAS = 2
# Arrow's pool for the server, unless ARROW_DEFAULT_MEMORY_POOL says otherwise.
DEFAULT_ARROW_POOL = "jemalloc"
# Milliseconds jemalloc keeps freed pages before returning them (Arrow's default): 0 lowered the peak a
# little more but cost ~13% of the server's lines per CPU-second (bench/ingest.py, 2 runs each).
DEFAULT_ARROW_DECAY_MS = 1000


def _libc() -> Any | None:
    """glibc, when this process runs on it (mallopt and malloc_trim are glibc extensions)."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def tune_allocators(malloc_arenas: int = DEFAULT_MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas and choose Arrow's pool (`choose_arrow_pool`); call before the server starts
    its threads and before anything allocates with Arrow. True when the arena cap was set.

    `MALLOC_ARENA_MAX` in the environment wins (glibc read it at start); elsewhere than glibc this does nothing.
    """
    choose_arrow_pool()
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, malloc_arenas))


def choose_arrow_pool(backend: str = DEFAULT_ARROW_POOL, decay_ms: int = DEFAULT_ARROW_DECAY_MS) -> str:
    """Make `backend` Arrow's default pool (jemalloc: with `decay_ms`); returns the pool now in use.

    `ARROW_DEFAULT_MEMORY_POOL` in the environment wins. Arrow reads that variable when its default pool is
    first used, so before then setting it reaches C++ code that never takes a pool argument too; a build
    without the backend keeps its default.
    """
    chosen = os.environ.get("ARROW_DEFAULT_MEMORY_POOL")
    if not chosen:
        os.environ["ARROW_DEFAULT_MEMORY_POOL"] = chosen = backend
    import pyarrow as pa

    if chosen not in pa.supported_memory_backends():
        return str(pa.default_memory_pool().backend_name)
    if pa.default_memory_pool().backend_name != chosen:  # Arrow was in use already: the Python side follows
        pa.set_memory_pool(getattr(pa, f"{chosen}_memory_pool")())
    if chosen == "jemalloc":
        pa.jemalloc_set_decay_ms(decay_ms)
    return str(pa.default_memory_pool().backend_name)


def release_unused() -> None:
    """Give memory the allocators keep for reuse back to the system: Arrow's pool, then glibc's heap."""
    if "pyarrow" in sys.modules:  # never import Arrow just to release nothing
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@dataclass(frozen=True, slots=True)
class MemorySnapshot:
    """Bytes held by the process and by each allocator that can say so."""

    rss_bytes: int
    arrow_allocated_bytes: int
    arrow_backend: str
    duckdb_bytes: dict[str, int] = field(default_factory=dict)  # duckdb_memory() by tag, nonzero only

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {
            "rss_bytes": self.rss_bytes,
            "arrow_allocated_bytes": self.arrow_allocated_bytes,
            "arrow_backend": self.arrow_backend,
            "duckdb_bytes": dict(self.duckdb_bytes),
        }


def rss_bytes() -> int:
    """This process's resident set size (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def duckdb_memory(cursor: Any) -> dict[str, int]:
    """Bytes a DuckDB database holds in memory by `duckdb_memory()` tag (lower case), nonzero tags only."""
    rows = cursor.execute("SELECT tag, memory_usage_bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0").fetchall()
    return {str(tag).lower(): int(n) for tag, n in rows}


def memory_snapshot(duckdb_bytes: Callable[[], dict[str, int]] | None = None) -> MemorySnapshot:
    """What the process holds now; `duckdb_bytes` (the store's `duckdb_memory`) adds DuckDB's share."""
    arrow_bytes, backend = 0, ""
    if "pyarrow" in sys.modules:
        import pyarrow as pa

        pool = pa.default_memory_pool()
        arrow_bytes, backend = pool.bytes_allocated(), pool.backend_name
    return MemorySnapshot(rss_bytes(), arrow_bytes, backend, duckdb_bytes() if duckdb_bytes is not None else {})


class MemoryCollector(Collector):
    """`logwarden_memory_bytes{part=...}`: the process's RSS, Arrow's pool and DuckDB's memory by tag."""

    def __init__(self, duckdb_bytes: Callable[[], dict[str, int]] | None = None) -> None:
        self._duckdb_bytes = duckdb_bytes

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One sample per part; DuckDB's parts are `duckdb_<tag>` (a closed store reports none)."""
        try:
            snap = memory_snapshot(self._duckdb_bytes)
        except Exception:  # a store that is closing: the process figures still count
            snap = memory_snapshot()
        family = GaugeMetricFamily(
            "logwarden_memory_bytes",
            "Memory held by part of the process: rss, arrow (Arrow's memory pool), duckdb_<tag> (duckdb_memory()).",
            labels=["part"],
        )
        family.add_metric(["rss"], snap.rss_bytes)
        family.add_metric(["arrow"], snap.arrow_allocated_bytes)
        for tag, n in sorted(snap.duckdb_bytes.items()):
            family.add_metric([f"duckdb_{tag}"], n)
        yield family
