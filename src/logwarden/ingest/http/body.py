"""Reading request bodies within limits, and Content-Encoding (gzip, zstd)."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import pyarrow as pa
import pyarrow.compute as pc
import zstandard

from logwarden.api.errors import ApiError


async def read_limited(stream: AsyncIterator[bytes], limit: int) -> bytes:
    """Concatenate a body stream, refusing (413) as soon as it exceeds `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body exceeds the limit of {limit} bytes (ingest.max_body_bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Decode a body by Content-Encoding with an output cap (a small bomb cannot grow past `limit`)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip", "deflate"):
        wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
        d = zlib.decompressobj(wbits)
        try:
            out = d.decompress(body, limit + 1)
        except zlib.error as exc:
            raise ApiError(400, f"body is not valid {encoding}: {exc}") from None
        if len(out) > limit or d.unconsumed_tail:
            raise _too_big(limit)
        if not d.eof:
            raise ApiError(400, f"body is not valid {encoding}: truncated stream")
        return out
    if encoding == "zstd":
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(body)
            out = reader.read(limit + 1)
        except zstandard.ZstdError as exc:
            raise ApiError(400, f"body is not valid zstd: {exc}") from None
        if len(out) > limit:
            raise _too_big(limit)
        return out
    raise ApiError(415, f"unsupported Content-Encoding {encoding!r}: use gzip, zstd or none")


def longest_line(body: bytes) -> int:
    """Length of the longest newline-separated line, computed without a Python loop over lines."""
    lines = pc.split_pattern(pa.array([body], pa.binary()), b"\n").flatten()
    return int(pc.max(pc.binary_length(lines)).as_py() or 0)


def _too_big(limit: int) -> ApiError:
    return ApiError(413, f"decompressed body exceeds the limit of {limit} bytes (ingest.max_decompressed_bytes)")
