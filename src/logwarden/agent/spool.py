"""A bounded on-disk queue of batches (gzip NDJSON files) the server could not take yet.

Files are named `<sequence>-<lines>.ndjson.gz` and replayed in sequence order. A file is written
durably (temporary name, fsync, rename, fsync of the directory) before the batch counts as safe for
the checkpoint; a file is deleted once the server acknowledged it (a deletion lost in a crash means
one re-send, which the server's de-duplication absorbs).
"""

from __future__ import annotations

import gzip
import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from logwarden.agent.durable import write_durably

_NAME_RE = re.compile(r"^(\d{12})-(\d+)\.ndjson\.gz$")


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    path: Path
    seq: int
    lines: int
    size: int


class DiskSpool:
    """Oldest first; used by one sender thread, read for metrics from others."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        entries = []
        for path in directory.iterdir():
            m = _NAME_RE.match(path.name)
            if m:
                entries.append(SpooledBatch(path, int(m.group(1)), int(m.group(2)), path.stat().st_size))
            elif path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)  # a write cut short by a crash: its batch was never counted as safe
        entries.sort(key=lambda e: e.seq)
        self._entries: deque[SpooledBatch] = deque(entries)
        self._size = sum(e.size for e in entries)
        self._next_seq = entries[-1].seq + 1 if entries else 1

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._size

    def has_room(self, nbytes: int) -> bool:
        """An empty spool takes any batch; otherwise the total stays within max_bytes."""
        return not self._entries or self._size + nbytes <= self.max_bytes

    def append(self, gz_payload: bytes, lines: int) -> SpooledBatch:
        """Write a batch durably; when this returns, the batch survives a crash."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
        path = self.directory / f"{seq:012d}-{lines}.ndjson.gz"
        write_durably(path, gz_payload)
        entry = SpooledBatch(path, seq, lines, len(gz_payload))
        with self._lock:
            self._entries.append(entry)
            self._size += entry.size
        return entry

    def oldest(self) -> SpooledBatch | None:
        with self._lock:
            return self._entries[0] if self._entries else None

    def read(self, entry: SpooledBatch) -> bytes:
        """The gzip NDJSON bytes of a spooled batch."""
        return entry.path.read_bytes()

    def remove(self, entry: SpooledBatch) -> None:
        with self._lock:
            if self._entries and self._entries[0] == entry:
                self._entries.popleft()
            else:
                self._entries.remove(entry)
            self._size -= entry.size
        entry.path.unlink(missing_ok=True)


class DeadLetterDir:
    """Batches the server refused for good (a 4xx other than 413/429): kept as files, never retried."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._count = 0

    def write(self, ndjson: bytes, status: int, reason: str) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._count += 1
        stem = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}-{self._count:06d}-{status}"
        (self.directory / f"{stem}.reason.txt").write_text(f"HTTP {status}: {reason}\n", encoding="utf-8")
        path = self.directory / f"{stem}.ndjson.gz"
        write_durably(path, gzip.compress(ndjson, compresslevel=6, mtime=0))
        return path
