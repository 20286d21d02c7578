"""Request bodies within bounds: the in-flight budget charged as bytes stream in and inflate, every gzip
member and zstd frame read, truncated or trailing bytes refused, bombs refused before they are inflated."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import zstandard
from starlette.applications import Starlette
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.api.runtime import Runtime
from logwarden.ingest.http.body import MAX_STREAMS, decompress, read_limited
from logwarden.ingest.http.errors import RequestRefused
from tests.conftest import make_config

LINE = b'{"msg":"hello from the body tests"}\n'
MiB = 1 << 20


def runtime(app: Starlette) -> Runtime:
    rt = app.state.runtime
    assert isinstance(rt, Runtime)
    return rt


@contextlib.contextmanager
def serve(tmp_path: Path, **overrides: Any) -> Iterator[TestClient]:
    with TestClient(create_app(make_config(tmp_path, **overrides), run_maintenance=False)) as c:
        yield c


@contextlib.asynccontextmanager
async def serve_async(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """The app with its lifespan, and an httpx client that streams request bodies chunk by chunk."""
    app = create_app(make_config(tmp_path, **overrides), run_maintenance=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://logwarden.test") as client:
            yield app, client


@functools.cache
def bomb(encoding: str) -> bytes:
    """126 MiB of one byte, compressed to about 0.1 MB (zstd: a few KB); built once per run."""
    data = b"a" * (126 * MiB)
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=1)
    if encoding == "deflate":
        return zlib.compress(data, 1)
    if encoding == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    cobj = zstandard.ZstdCompressor().compressobj()  # streamed: no declared frame size
    return cobj.compress(data) + cobj.flush()


def grants() -> tuple[list[int], Any]:
    """A `reserve` that records every total it was asked for."""
    asked: list[int] = []
    return asked, asked.append


# --- decompress: every member and frame, nothing after the last ------------------------------------


def test_gzip_of_two_members_is_read_whole() -> None:
    body = gzip.compress(b"one\n") + gzip.compress(b"two\n")
    assert decompress(body, "gzip", MiB) == b"one\ntwo\n"


def test_zstd_of_two_frames_is_read_whole() -> None:
    cctx = zstandard.ZstdCompressor()
    assert decompress(cctx.compress(b"one\n") + cctx.compress(b"two\n"), "zstd", MiB) == b"one\ntwo\n"


def test_zstd_frames_without_a_declared_size_and_skippable_frames() -> None:
    cobj = zstandard.ZstdCompressor().compressobj()
    streamed = cobj.compress(b"streamed\n" * 1000) + cobj.flush()
    assert zstandard.frame_content_size(streamed) == -1
    skippable = b"\x50\x2a\x4d\x18" + (3).to_bytes(4, "little") + b"abc"
    assert decompress(skippable + streamed + streamed, "zstd", MiB) == b"streamed\n" * 2000


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(LINE * 100)[:-6]),
        ("zstd", zstandard.ZstdCompressor().compress(LINE * 100)[:-3]),
        ("deflate", zlib.compress(LINE * 100)[:-3]),
    ],
)
def test_truncated_body_is_400(encoding: str, body: bytes) -> None:
    with pytest.raises(RequestRefused) as caught:
        decompress(body, encoding, MiB)
    assert caught.value.status == 400
    assert "truncated" in caught.value.message
    assert encoding in caught.value.message


@pytest.mark.parametrize(
    ("encoding", "stream"),
    [
        ("gzip", gzip.compress(LINE)),
        ("zstd", zstandard.ZstdCompressor().compress(LINE)),
        ("deflate", zlib.compress(LINE)),
    ],
)
def test_trailing_garbage_is_400_naming_the_byte(encoding: str, stream: bytes) -> None:
    with pytest.raises(RequestRefused) as caught:
        decompress(stream + b"garbage!", encoding, MiB)
    assert caught.value.status == 400
    assert f"8 bytes of trailing data at byte {len(stream)}" in caught.value.message


def test_too_many_members_is_400() -> None:
    body = gzip.compress(b"") * (MAX_STREAMS + 1)
    with pytest.raises(RequestRefused) as caught:
        decompress(body, "gzip", MiB)
    assert caught.value.status == 400
    assert "concatenated streams" in caught.value.message


# --- decompress: never past what is reserved ----------------------------------------------------


def test_gzip_reserves_its_declared_size_up_front() -> None:
    data = LINE * 10_000
    asked, reserve = grants()
    assert decompress(gzip.compress(data), "gzip", 128 * MiB, reserve) == data
    assert asked == [len(data) + 1]  # ISIZE (+1 to see the end), once: no growth, no over-reservation


def test_zstd_reserves_its_declared_frame_size_up_front() -> None:
    data = LINE * 10_000
    asked, reserve = grants()
    assert decompress(zstandard.ZstdCompressor().compress(data), "zstd", 128 * MiB, reserve) == data
    assert asked == [len(data) + 1]


@pytest.mark.parametrize("encoding", ["gzip", "zstd", "zstd-streamed", "deflate"])
def test_bomb_is_refused_without_inflating_past_the_limit(encoding: str) -> None:
    body = bomb(encoding)
    assert len(body) < 1 * MiB
    asked, reserve = grants()
    with pytest.raises(RequestRefused) as caught:
        decompress(body, encoding.removesuffix("-streamed"), 10 * MiB, reserve)
    assert caught.value.status == 413
    assert "max_decompressed_bytes" in caught.value.message
    assert max(asked, default=0) <= 10 * MiB + 2 * (128 << 10)  # zstd without a declared size: 2 blocks of slack


@pytest.mark.parametrize("size", [MiB - 1, MiB])
def test_streamed_zstd_just_within_the_limit_is_accepted(size: int) -> None:
    cobj = zstandard.ZstdCompressor().compressobj()
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    asked, reserve = grants()
    assert decompress(cobj.compress(data) + cobj.flush(), "zstd", MiB, reserve) == data
    assert max(asked) <= MiB + 2 * (128 << 10)  # at most two zstd blocks past the limit, to see the end


def test_refused_reservation_stops_decompression() -> None:
    """A `reserve` that refuses (the budget is full) ends the inflation before the output grows."""
    data = LINE * 100_000
    asked: list[int] = []

    def reserve(total: int) -> None:
        asked.append(total)
        if total > MiB:
            raise RequestRefused(429, "budget full")

    cobj = zstandard.ZstdCompressor().compressobj()  # no declared size: grows step by step
    with pytest.raises(RequestRefused) as caught:
        decompress(cobj.compress(data) + cobj.flush(), "zstd", 128 * MiB, reserve)
    assert caught.value.status == 429
    assert asked[-1] > MiB


async def test_read_limited_charges_each_chunk() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * 1000

    asked, reserve = grants()
    assert await read_limited(chunks(), 10_000, reserve) == b"x" * 3000
    assert asked == [1000, 2000, 3000]


# --- through the app -----------------------------------------------------------------------------


def test_two_gzip_members_store_both(tmp_path: Path) -> None:
    with serve(tmp_path) as c:
        body = gzip.compress(b'{"msg":"first"}\n') + gzip.compress(b'{"msg":"second"}\n')
        resp = c.post("/api/v1/ingest", content=body, headers={"Content-Encoding": "gzip"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["accepted"] == 2


def test_two_zstd_frames_store_both(tmp_path: Path) -> None:
    cctx = zstandard.ZstdCompressor()
    with serve(tmp_path) as c:
        body = cctx.compress(b'{"msg":"first"}\n') + cctx.compress(b'{"msg":"second"}\n')
        resp = c.post("/api/v1/ingest", content=body, headers={"Content-Encoding": "zstd"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["accepted"] == 2


def test_truncated_zstd_body_is_400_not_an_empty_success(tmp_path: Path) -> None:
    with serve(tmp_path) as c:
        body = zstandard.ZstdCompressor().compress(LINE * 100)[:-3]
        resp = c.post("/api/v1/ingest", content=body, headers={"Content-Encoding": "zstd"})
        assert resp.status_code == 400
        assert "truncated" in resp.json()["error"]


def test_trailing_garbage_after_gzip_is_400(tmp_path: Path) -> None:
    with serve(tmp_path) as c:
        body = gzip.compress(LINE) + b"trailing"
        resp = c.post("/api/v1/ingest", content=body, headers={"Content-Encoding": "gzip"})
        assert resp.status_code == 400
        assert f"trailing data at byte {len(body) - 8}" in resp.json()["error"]
        assert c.get("/api/v1/search").json()["total"] == 0


def test_gzip_bomb_is_refused_within_the_budget(tmp_path: Path) -> None:
    """A 0.1 MB body that inflates to 126 MB: 413 once the limit is reached, the budget never near 126 MB."""
    body = bomb("gzip")
    with serve(tmp_path, **{"ingest.max_decompressed_bytes": 8 * MiB}) as c:
        budget = runtime(c.app).budget  # type: ignore[arg-type]
        resp = c.post("/api/v1/ingest", content=body, headers={"Content-Encoding": "gzip"})
        assert resp.status_code == 413
        assert "max_decompressed_bytes" in resp.json()["error"]
        assert budget.peak <= len(body) + 8 * MiB + 1
        assert budget.used == 0


def test_gzip_bomb_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    """A 0.1 MB body declaring 126 MB while another request is in flight: 429 before a byte is inflated.

    It was inflated first (on the event loop) and the budget consulted after: 24 such clients stalled
    the server.
    """
    body = bomb("gzip")
    with serve(tmp_path, **{"ingest.max_inflight_bytes": 64 * MiB, "ingest.retry_after_seconds": 2}) as c:
        budget = runtime(c.app).budget  # type: ignore[arg-type]
        assert budget.try_acquire(MiB)  # another request is in flight
        tracemalloc.start()
        try:
            resp = c.post("/api/v1/ingest", content=body, headers={"Content-Encoding": "gzip"})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            budget.release(MiB)
        assert resp.status_code == 429
        assert resp.headers["Retry-After"] == "2"
        assert peak < 16 * MiB  # the request's own bytes, not the 126 MB it would inflate to
        assert budget.used == 0


def test_inflated_body_that_fits_is_stored_and_released(tmp_path: Path) -> None:
    body = gzip.compress(LINE * 30_000)  # 1 MB inflated, a few KB on the wire
    with serve(tmp_path, **{"ingest.max_inflight_bytes": 4 * MiB}) as c:
        budget = runtime(c.app).budget  # type: ignore[arg-type]
        resp = c.post("/api/v1/ingest", content=body, headers={"Content-Encoding": "gzip"})
        assert resp.status_code == 200
        assert resp.json()["accepted"] == 30_000
        assert len(LINE) * 30_000 <= budget.peak < 4 * MiB
        assert budget.used == 0


@pytest.mark.slow
async def test_decompression_runs_off_the_event_loop(tmp_path: Path) -> None:
    """While a body inflates, the event loop keeps serving (it was inflated on the loop: /healthz took 2.3 s)."""
    body = bomb("gzip")
    async with serve_async(tmp_path, **{"ingest.max_decompressed_bytes": 100 * MiB}) as (_, client):
        gaps: list[float] = []
        done = asyncio.Event()

        async def heartbeat() -> None:
            loop = asyncio.get_running_loop()
            last = loop.time()
            while not done.is_set():
                await asyncio.sleep(0.005)
                now = loop.time()
                gaps.append(now - last)
                last = now

        beat = asyncio.create_task(heartbeat())
        started = time.monotonic()
        resp = await client.post("/api/v1/ingest", content=body, headers={"Content-Encoding": "gzip"})
        took = time.monotonic() - started
        done.set()
        await beat
        assert resp.status_code == 413  # inflated up to the 100 MiB limit first: real work
        assert took > 0.1
        # Blocked, the loop ticked once or twice (while the body was read); free, every few ms of it.
        assert len(gaps) >= 10, (took, gaps)


async def test_chunked_upload_is_charged_while_it_streams(tmp_path: Path) -> None:
    """No Content-Length: each chunk is charged as it arrives, visible in the budget and /metrics."""
    async with serve_async(tmp_path) as (app, client):
        budget = runtime(app).budget
        seen: list[int] = []
        gauges: list[str] = []

        async def slow_body() -> AsyncIterator[bytes]:
            for _ in range(4):
                yield LINE * 1000
                # The app has taken the chunk (it asks for the next one only after charging it).
                seen.append(budget.used)
                metrics = (await client.get("/metrics")).text
                gauges.extend(line for line in metrics.splitlines() if line.startswith("logwarden_inflight_bytes "))

        resp = await client.post("/api/v1/ingest", content=slow_body())
        assert resp.status_code == 200, resp.text
        assert resp.json()["accepted"] == 4000
        chunk = len(LINE) * 1000
        assert seen == [chunk, 2 * chunk, 3 * chunk, 4 * chunk]
        assert gauges[-1] == f"logwarden_inflight_bytes {4.0 * chunk}"
        assert budget.used == 0


async def test_chunked_upload_over_the_budget_is_429_and_released(tmp_path: Path) -> None:
    async with serve_async(tmp_path, **{"ingest.max_inflight_bytes": 100_000}) as (app, client):
        budget = runtime(app).budget
        assert budget.try_acquire(10_000)  # someone else is in flight
        sent = 0

        async def endless() -> AsyncIterator[bytes]:
            nonlocal sent
            for _ in range(1000):
                sent += 1
                yield LINE * 1000

        resp = await client.post("/api/v1/ingest", content=endless())
        assert resp.status_code == 429
        assert "max_inflight_bytes" in resp.json()["error"]
        assert sent < 10  # refused while streaming, not after reading it all
        assert budget.used == 10_000
        budget.release(10_000)


# --- the per-line limit for JSON-array bodies -----------------------------------------------------


def test_json_array_element_over_the_line_limit_is_413(tmp_path: Path) -> None:
    with serve(tmp_path, **{"ingest.max_line_bytes": 1000}) as c:
        body = orjson.dumps([{"msg": "short"}, {"msg": "x" * 5000}])
        resp = c.post("/api/v1/ingest", content=body, headers={"Content-Type": "application/json"})
        assert resp.status_code == 413
        assert "max_line_bytes" in resp.json()["error"]
        assert c.get("/api/v1/search").json()["total"] == 0
        ok = orjson.dumps([{"msg": "short"}] * 20)
        resp = c.post("/api/v1/ingest", content=ok, headers={"Content-Type": "application/json"})
        assert resp.json()["accepted"] == 20
