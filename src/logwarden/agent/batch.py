"""Batches of NDJSON records, sealed by line count, size or age, with the stream positions they cover."""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate


@dataclass(slots=True)
class Batch:
    """Records ready to send and, per stream, the offset up to which this batch (with those before it) covers
    the file. A batch may hold no records and only positions (lines that produce no record, e.g. empty ones)."""

    payload: bytes  # NDJSON, every record ends with a newline
    lines: int
    positions: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.payload)


class BatchBuilder:
    """Collects encoded records in order; `add` returns the batches that filled up."""

    def __init__(
        self, max_lines: int, max_bytes: int, max_wait: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.max_wait = max_wait
        self._clock = clock
        self._parts: list[bytes] = []
        self._bytes = 0
        self._positions: dict[str, int] = {}
        self._opened_at: float | None = None

    @property
    def lines(self) -> int:
        return len(self._parts)

    def add(self, stream: str, records: list[bytes], starts: list[int], end: int) -> list[Batch]:
        """Append one stream's records (`starts[i]`: file offset of record i; `end`: offset after the last line
        they came from). The position of the stream after record i is the start of record i+1, or `end`."""
        sealed: list[Batch] = []
        i, n = 0, len(records)
        if n == 0:
            self._open()
            self._positions[stream] = end
        while i < n:
            self._open()
            room_lines = self.max_lines - len(self._parts)
            take = records[i : i + room_lines]
            sizes = list(accumulate(map(len, take)))
            fits = bisect_right(sizes, self.max_bytes - self._bytes)
            if fits == 0 and not self._parts:
                fits = 1  # a single record larger than max_bytes still goes, alone
            if fits:
                self._parts.extend(take[:fits])
                self._bytes += sizes[fits - 1]
                i += fits
                self._positions[stream] = starts[i] if i < n else end
            if fits < len(take) or len(self._parts) >= self.max_lines or self._bytes >= self.max_bytes:
                sealed.append(self._seal())
        return sealed

    def _open(self) -> None:
        if self._opened_at is None:
            self._opened_at = self._clock()

    def due(self, now: float | None = None) -> bool:
        """True when something waits and the oldest of it has waited max_wait."""
        if self._opened_at is None or not (self._parts or self._positions):
            return False
        return (self._clock() if now is None else now) - self._opened_at >= self.max_wait

    def seal(self) -> Batch | None:
        """The current batch (None if there is nothing, not even a position)."""
        if not self._parts and not self._positions:
            return None
        return self._seal()

    def _seal(self) -> Batch:
        batch = Batch(b"".join(self._parts), len(self._parts), self._positions)
        self._parts = []
        self._bytes = 0
        self._positions = {}
        self._opened_at = None
        return batch
