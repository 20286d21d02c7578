"""Reading request bodies within limits, and Content-Encoding (gzip, deflate, zstd) within a byte budget.

Decompression is incremental and bounded: before each step the caller's `reserve` is asked for the total
output about to be allowed (it raises, e.g. 429, when the in-flight budget is full), so the output never
grows past what is reserved, nor past max_decompressed_bytes (413). The declared size is reserved up front
when the format has one (gzip ISIZE, zstd frame content size), else a bounded estimate that grows with the
output. Every gzip member and zstd frame is read; a truncated stream or bytes after the last one are a 400
that says where.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable

import pyarrow as pa
import pyarrow.compute as pc
import zstandard

from logwarden.ingest.http.errors import RequestRefused

Reserve = Callable[[int], None]
"""Called with a total byte count the caller is about to hold; raises RequestRefused when it cannot."""

# Deflate cannot expand more than 1032:1 (258 bytes per 2-bit code): a bound on a lying gzip ISIZE.
DEFLATE_MAX_RATIO = 1032
# First guess of the output when the format declares no size (log text compresses 5-10x).
_ESTIMATE_RATIO = 4
_MIN_STEP = 1 << 20
# A zstd block decodes to at most 128 KiB and takes at least 4 bytes (header + 1): output per input is bounded.
_ZSTD_BLOCK = 128 << 10
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_SKIPPABLE = b"\x2a\x4d\x18"  # bytes 1-3 of a skippable frame's magic (byte 0 is 0x50-0x5f)
_GZIP_MAGIC = b"\x1f\x8b"
# Each gzip member or zstd frame costs a few microseconds however small it is: 16 MiB of empty ones would
# take seconds of a decode thread. Real bodies hold one, or a few thousand at most (bgzip: one per 64 KiB).
MAX_STREAMS = 10_000


def _unbudgeted(total: int) -> None:
    return None


async def read_limited(stream: AsyncIterator[bytes], limit: int, reserve: Reserve = _unbudgeted) -> bytes:
    """Concatenate a body stream, refusing (413) as soon as it exceeds `limit` bytes.

    `reserve` is asked for the running total before each chunk is kept, so a chunked body (no
    Content-Length) is charged to the in-flight budget as it streams in.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise RequestRefused(413, f"request body exceeds the limit of {limit} bytes (ingest.max_body_bytes)")
        reserve(size)
        chunks.append(chunk)
    return b"".join(chunks)


def is_encoded(encoding: str) -> bool:
    """Whether a Content-Encoding value asks for decompression."""
    return encoding.strip().lower() not in ("", "identity")


def decompress(body: bytes, encoding: str, limit: int, reserve: Reserve = _unbudgeted) -> bytes:
    """Decode a body by Content-Encoding, never past `limit` (413) nor past what `reserve` granted."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate", "zstd"):
        raise RequestRefused(415, f"unsupported Content-Encoding {encoding!r}: use gzip, zstd or none")
    if not body:
        return body
    out = _Output(limit, reserve)
    if encoding in ("gzip", "x-gzip"):
        if len(body) >= 18:  # the smallest gzip member; its last 4 bytes are ISIZE (output size mod 2**32)
            isize = int.from_bytes(body[-4:], "little")
            out.expect(min(isize, DEFLATE_MAX_RATIO * len(body)))
        _inflate(body, "gzip", 16 + zlib.MAX_WBITS, out)
    elif encoding == "deflate":
        out.expect(_ESTIMATE_RATIO * len(body))
        _inflate(body, "deflate", zlib.MAX_WBITS, out)
    else:
        _unzstd(body, out)
    return out.result()


class _Output:
    """Decompressed chunks; asks for budget before each step, in growing steps, up to just past the limit."""

    def __init__(self, limit: int, reserve: Reserve) -> None:
        self.limit = limit
        self.reserve = reserve
        self.allowed = 0
        self.size = 0
        self.chunks: list[bytes] = []

    def expect(self, n: int) -> None:
        """Allow `n` more bytes (a declared or estimated size) plus one, to see the stream end there."""
        self._allow(min(self.limit + 1, self.size + n + 1))

    def room(self, at_least: int = 1) -> int:
        """Bytes that may be produced now, growing the reservation when fewer than `at_least` are left.

        The reservation stops at limit + at_least: enough to see that the output ends there, or passes it.
        """
        cap = self.limit + at_least
        if self.allowed - self.size < at_least:
            if self.allowed >= cap:
                raise _too_big(self.limit)
            grown = self.allowed + max(_MIN_STEP, self.allowed // 2, at_least)
            self._allow(min(cap, grown))
        return self.allowed - self.size

    def _allow(self, total: int) -> None:
        if total > self.allowed:
            self.reserve(total)
            self.allowed = total

    def add(self, chunk: bytes) -> None:
        if chunk:
            self.chunks.append(chunk)
            self.size += len(chunk)
            if self.size > self.limit:
                raise _too_big(self.limit)

    def result(self) -> bytes:
        return self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)


class _Input:
    """A body fed to a decoder from `start`: all of it for the first stream (one call in the common case of
    one stream), then in slices 4x longer each time. Small slices keep a decoder's copy of the bytes after
    its stream end (`unused_data`) small, so many tiny gzip members or zstd frames cost linear time.
    """

    def __init__(self, body: bytes, start: int) -> None:
        self.view = memoryview(body)
        self.pos = start
        self._size = len(body) if start == 0 else 4096

    @property
    def done(self) -> bool:
        return self.pos >= len(self.view)

    def take(self, at_most: int | None = None) -> memoryview:
        size = self._size if at_most is None else min(self._size, at_most)
        end = min(self.pos + size, len(self.view))
        piece = self.view[self.pos : end]
        self.pos = end
        self._size *= 4
        return piece


def _inflate(body: bytes, name: str, wbits: int, out: _Output) -> None:
    """Every member of a gzip (or the one zlib stream of a deflate) body."""
    start = 0
    for _ in range(MAX_STREAMS):
        d = zlib.decompressobj(wbits)
        feed = _Input(body, start)
        data: bytes | memoryview = feed.take()
        while not d.eof:
            try:
                chunk = d.decompress(data, out.room())
            except zlib.error as exc:
                raise RequestRefused(400, f"body is not valid {name} (stream at byte {start}): {exc}") from None
            out.add(chunk)
            data = d.unconsumed_tail
            if not data and not d.eof:
                if not feed.done:
                    data = feed.take()
                elif not chunk:
                    raise _truncated(name, start, len(body))
        start = feed.pos - len(d.unused_data)
        if start >= len(body):
            return
        if name != "gzip" or body[start : start + 2] != _GZIP_MAGIC:
            raise _trailing(name, len(body) - start, start)
    raise _too_many(name, start)


def _unzstd(body: bytes, out: _Output) -> None:
    """Every frame of a zstd body; skippable frames are skipped."""
    dctx = zstandard.ZstdDecompressor()
    start = 0
    streams = 0
    while start < len(body):
        streams += 1
        if streams > MAX_STREAMS:
            raise _too_many("zstd", start)
        head = body[start : start + 18]  # a frame header is at most 18 bytes
        if head[:4] != _ZSTD_MAGIC and not (head[1:4] == _ZSTD_SKIPPABLE and head[0] & 0xF0 == 0x50):
            if start == 0:
                raise RequestRefused(400, "body is not valid zstd: it does not start with a zstd frame")
            raise _trailing("zstd", len(body) - start, start)
        try:
            declared = zstandard.frame_content_size(head) if head[:4] == _ZSTD_MAGIC else 0
        except zstandard.ZstdError:
            declared = -1  # header cut short: decoding below reports the truncation
        if declared > out.limit:
            raise _too_big(out.limit)
        if declared >= 0:
            out.expect(declared)
        d = dctx.decompressobj()
        feed = _Input(body, start)
        try:
            while not d.eof and not feed.done:
                if declared >= 0:
                    # libzstd refuses a frame that decodes to more than its declared size: already reserved.
                    out.room()
                    out.add(d.decompress(feed.take()))
                else:
                    # Feed little enough that even 4-byte blocks of 128 KiB each cannot overrun the room.
                    room = out.room(2 * _ZSTD_BLOCK)
                    out.add(d.decompress(feed.take(4 * (room // _ZSTD_BLOCK - 1))))
        except zstandard.ZstdError as exc:
            raise RequestRefused(400, f"body is not valid zstd (frame at byte {start}): {exc}") from None
        if not d.eof:
            raise _truncated("zstd", start, len(body))
        start = feed.pos - len(d.unused_data)


def longest_line(body: bytes) -> int:
    """Length of the longest newline-separated line, computed without a Python loop over lines."""
    lines = pc.split_pattern(pa.array([body], pa.binary()), b"\n").flatten()
    return int(pc.max(pc.binary_length(lines)).as_py() or 0)


def _truncated(name: str, start: int, end: int) -> RequestRefused:
    return RequestRefused(
        400, f"body is not valid {name}: truncated (the stream at byte {start} ends early, at byte {end})"
    )


def _too_many(name: str, at: int) -> RequestRefused:
    return RequestRefused(400, f"body is not valid {name}: more than {MAX_STREAMS} concatenated streams (at byte {at})")


def _trailing(name: str, size: int, at: int) -> RequestRefused:
    return RequestRefused(
        400, f"body is not valid {name}: {size} bytes of trailing data at byte {at}, after the last stream"
    )


def _too_big(limit: int) -> RequestRefused:
    return RequestRefused(413, f"decompressed body exceeds the limit of {limit} bytes (ingest.max_decompressed_bytes)")
