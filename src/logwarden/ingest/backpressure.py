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
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    def try_acquire(self, n: int) -> bool:
        with self._lock:
            # A single request larger than the whole budget is still admitted when nothing else is in
            # flight; the body-size limits (413) bound it instead.
            if self._used and self._used + n > self.limit:
                return False
            self._used += n
            return True

    def release(self, n: int) -> None:
        with self._lock:
            self._used -= n
            if self._used < 0:
                raise RuntimeError("InflightBudget released more than it acquired")
