"""A byte budget for requests in flight: admission control instead of unbounded queues."""

from __future__ import annotations

import threading


class InflightBudget:
    """Bytes held by requests being read, decoded or waiting for their commit.

    `try_acquire` never blocks: a request that does not fit is refused (the caller answers 429 with
    Retry-After), so memory stays bounded however many clients push at once.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self.peak = 0  # high-water mark of `used`, for tests and diagnostics
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    def try_acquire(self, n: int, held: int = 0) -> bool:
        """Take `n` more bytes for a request that already holds `held`; False when they do not fit."""
        with self._lock:
            # A single request larger than the whole budget is still admitted when nothing else is in
            # flight; the body-size limits (413) bound it instead.
            if self._used - held and self._used + n > self.limit:
                return False
            self._used += n
            self.peak = max(self.peak, self._used)
            return True

    def release(self, n: int) -> None:
        with self._lock:
            self._used -= n
            if self._used < 0:
                raise RuntimeError("InflightBudget released more than it acquired")


class Reservation:
    """What one request holds of an InflightBudget: grown as its body streams in or inflates, released once.

    Thread-safe, because decompression grows it from a decode thread. Once closed it never grows again,
    so a worker that outlives its (cancelled) request cannot leak budget.
    """

    def __init__(self, budget: InflightBudget) -> None:
        self.budget = budget
        self.held = 0
        self._closed = False
        self._lock = threading.Lock()

    def grow(self, n: int) -> bool:
        """Hold `n` more bytes; False when the budget is full (or the request is over)."""
        with self._lock:
            return self._grow(n)

    def grow_to(self, total: int) -> bool:
        """Hold at least `total` bytes in all; False when the budget is full (or the request is over)."""
        with self._lock:
            return self._grow(total - self.held)

    def _grow(self, n: int) -> bool:
        if n <= 0:
            return not self._closed
        if self._closed or not self.budget.try_acquire(n, self.held):
            return False
        self.held += n
        return True

    def shrink_to(self, total: int) -> None:
        """Give back what is held beyond `total` (e.g. the compressed body once it is inflated)."""
        with self._lock:
            extra = self.held - max(total, 0)
            if extra > 0:
                self.budget.release(extra)
                self.held -= extra

    def close(self) -> None:
        """Release everything; later `grow` calls fail."""
        with self._lock:
            self._closed = True
            self.budget.release(self.held)
            self.held = 0
