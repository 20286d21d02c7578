"""The ingest log: acknowledged batches, durable before they reach the hot store.

Requests are acknowledged once their batch is in this log (a group of frames written with one
`writev` and one `fdatasync`), not once DuckDB has committed it. A separate applier moves batches
into DuckDB in large transactions and records the last applied sequence number in the same
transaction, so after a crash the log is replayed from exactly that point: nothing acknowledged is
lost and nothing is applied twice.

Segment files `seg-<first seq>.log` hold frames: magic, sequence number, payload length, CRC32 of the
payload, then the payload (one Arrow IPC stream). A torn frame at the end of the last segment (a crash
mid-write, never acknowledged) is cut off on recovery.
"""

from __future__ import annotations

import bisect
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<4sQII")
_MAGIC = b"LWB1"
_IOV_MAX = 1024


def encode_table(table: pa.Table) -> pa.Buffer:
    """Arrow IPC stream bytes of a table."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def decode_table(payload: bytes | pa.Buffer) -> pa.Table:
    return pa.ipc.open_stream(payload).read_all()


@dataclass(slots=True)
class _Segment:
    first_seq: int
    path: Path


class IngestLog:
    """Append-only, segmented, checksummed log. Appends come from one thread; release from another."""

    def __init__(self, directory: Path, *, segment_bytes: int = 64 * 1024**2) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        self._fd: int | None = None
        self._size = 0
        self.next_seq = 1
        # Frame index for consumers' lag: seqs of the frames kept, and the log's byte count after each.
        self._index_seqs: list[int] = []
        self._index_ends: list[int] = []
        self._index_base = 0  # byte count at the start of the first indexed frame
        self._total = 0

    @property
    def last_seq(self) -> int:
        """The newest durable batch's sequence number (0 when the log has never held one)."""
        return self.next_seq - 1

    # --- recovery ----------------------------------------------------------------------------

    def recover(self, applied_seq: int, keep_after: int | None = None) -> Iterator[tuple[int, pa.Table]]:
        """Yield (seq, table) for every intact frame after `applied_seq`, then open for appending.

        Segments holding frames after `keep_after` (the slowest bus cursor) are kept even when applied.
        """
        paths = sorted(self.directory.glob("seg-*.log"))
        self._segments = [_Segment(int(p.stem[4:]), p) for p in paths]
        last_seq = applied_seq
        for i, seg in enumerate(self._segments):
            is_last = i == len(self._segments) - 1
            for seq, payload in self._read_segment(seg.path, truncate_torn_tail=is_last):
                last_seq = max(last_seq, seq)
                self._index(seq, len(payload) + _HEADER.size)
                if seq > applied_seq:
                    yield seq, decode_table(payload)
        self.next_seq = max(last_seq, applied_seq) + 1
        self._open_new_segment()
        self.release(applied_seq if keep_after is None else min(applied_seq, keep_after))

    def _index(self, seq: int, size: int) -> None:
        self._total += size
        self._index_seqs.append(seq)
        self._index_ends.append(self._total)

    def bytes_after(self, seq: int) -> int:
        """Bytes of the frames after `seq`: how far a consumer whose cursor is `seq` is behind."""
        with self._lock:
            i = bisect.bisect_right(self._index_seqs, seq)
            start = self._index_ends[i - 1] if i else self._index_base
            return self._total - start

    def read_after(self, seq: int, until: int) -> Iterator[tuple[int, pa.Table]]:
        """(seq, table) of the durable frames after `seq` up to `until`, in order, from the segment files.

        Safe beside the appending thread: frames up to `until` are complete (it is at most the last durable
        seq), and segments are only released once every consumer's cursor has passed them.
        """
        with self._lock:
            segments = list(self._segments)
        for i, seg in enumerate(segments):
            if i + 1 < len(segments) and segments[i + 1].first_seq - 1 <= seq:
                continue  # every frame of this segment is at or before `seq`
            if seg.first_seq > until:
                return
            with seg.path.open("rb") as f:
                while True:
                    header = f.read(_HEADER.size)
                    if len(header) < _HEADER.size:
                        break
                    magic, frame_seq, length, crc = _HEADER.unpack(header)
                    if magic != _MAGIC or frame_seq > until:
                        if magic != _MAGIC:
                            raise RuntimeError(f"ingest log segment {seg.path} is corrupt before seq {until}")
                        return
                    if frame_seq <= seq:
                        f.seek(length, os.SEEK_CUR)
                        continue
                    payload = f.read(length)
                    if len(payload) < length or zlib.crc32(payload) != crc:
                        raise RuntimeError(f"ingest log segment {seg.path} is corrupt at seq {frame_seq}")
                    yield frame_seq, decode_table(payload)

    def _read_segment(self, path: Path, *, truncate_torn_tail: bool) -> Iterator[tuple[int, bytes]]:
        data = path.read_bytes()
        pos = 0
        while pos + _HEADER.size <= len(data):
            magic, seq, length, crc = _HEADER.unpack_from(data, pos)
            end = pos + _HEADER.size + length
            if magic != _MAGIC or end > len(data):
                break
            payload = data[pos + _HEADER.size : end]
            if zlib.crc32(payload) != crc:
                break
            yield seq, payload
            pos = end
        if pos < len(data):
            if not truncate_torn_tail:
                raise RuntimeError(f"ingest log segment {path} is corrupt at byte {pos}")
            log.warning("cutting a torn frame (%d bytes, never acknowledged) off %s", len(data) - pos, path)
            with path.open("r+b") as f:
                f.truncate(pos)
                os.fsync(f.fileno())

    # --- appending (one thread) --------------------------------------------------------------

    def append(self, payloads: list[pa.Buffer]) -> list[int]:
        """Write frames for `payloads` and make them durable; returns their sequence numbers."""
        assert self._fd is not None, "recover() opens the log"
        if self._size >= self.segment_bytes:
            self._open_new_segment()
        seqs = []
        parts: list[bytes | pa.Buffer] = []
        for payload in payloads:
            seq = self.next_seq
            self.next_seq += 1
            seqs.append(seq)
            parts.append(_HEADER.pack(_MAGIC, seq, payload.size, zlib.crc32(payload)))
            parts.append(payload)
        written = 0
        total = sum(len(p) if isinstance(p, bytes) else p.size for p in parts)
        views = [memoryview(p) for p in parts]
        while written < total:
            n = os.writev(self._fd, views[:_IOV_MAX])
            written += n
            views = _advance(views, n)
        os.fdatasync(self._fd)
        self._size += total
        with self._lock:
            for seq, payload in zip(seqs, payloads, strict=True):
                self._index(seq, payload.size + _HEADER.size)
        return seqs

    def _open_new_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        path = self.directory / f"seg-{self.next_seq:020d}.log"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = os.fstat(self._fd).st_size
        fsync_dir(self.directory)
        with self._lock:
            if not self._segments or self._segments[-1].path != path:
                self._segments.append(_Segment(self.next_seq, path))

    # --- trimming (the applier thread) -------------------------------------------------------

    def release(self, applied_seq: int) -> None:
        """Delete segments whose every frame is consumed up to `applied_seq` (never the segment being
        written); callers pass the lowest of the applier's and the bus cursors' positions."""
        with self._lock:
            while len(self._segments) > 1 and self._segments[1].first_seq - 1 <= applied_seq:
                seg = self._segments.pop(0)
                seg.path.unlink(missing_ok=True)
            # The frame index keeps what no consumer has passed yet.
            i = bisect.bisect_right(self._index_seqs, applied_seq)
            if i:
                self._index_base = self._index_ends[i - 1]
                del self._index_seqs[:i]
                del self._index_ends[:i]

    def size_bytes(self) -> int:
        with self._lock:
            paths = [s.path for s in self._segments]
        return sum(p.stat().st_size for p in paths if p.exists())

    def close(self, applied_seq: int) -> None:
        """Stop appending; when every frame is applied (a clean shutdown) the log is emptied."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.next_seq - 1 <= applied_seq:
            with self._lock:
                for seg in self._segments:
                    seg.path.unlink(missing_ok=True)
                self._segments.clear()


def _advance(views: list[memoryview], n: int) -> list[memoryview]:
    """Drop the first `n` bytes of a list of buffers (after a short writev)."""
    out = []
    for v in views:
        if n >= len(v):
            n -= len(v)
            continue
        out.append(v[n:])
        n = 0
    return out


def fsync_dir(directory: Path) -> None:
    """Make a directory's entries (a created or renamed file) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
