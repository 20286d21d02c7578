"""Brute-force protection for logins: failures counted per user name and per client address.

After `max_failures` failures in a row, each further attempt must wait: 1 s, doubling with every failure, up
to `lockout` (so a lockout lasts at most that long). A success clears the user's and the address's counts;
failures older than `lockout` are forgotten. In memory: one server process (the scaled setup will keep the
counters in Redis).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Failures:
    count: int
    last: float


class LoginThrottle:
    """Failure counters with exponential backoff; `clock` is monotonic seconds (tests inject one)."""

    def __init__(
        self,
        max_failures: int,
        lockout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 100_000,
    ) -> None:
        self.max_failures = max_failures
        self.lockout = lockout_seconds
        self.clock = clock
        self.max_entries = max_entries
        self._failures: dict[str, _Failures] = {}

    def retry_after(self, user: str, client: str) -> int:
        """Seconds the next attempt for `user` from `client` must still wait (0: it may try now)."""
        now = self.clock()
        wait = max(self._wait(f"user:{user}", now), self._wait(f"addr:{client}", now))
        return math.ceil(wait)

    def failed(self, user: str, client: str) -> None:
        """Count one failed attempt against the user name and the address."""
        now = self.clock()
        if len(self._failures) >= self.max_entries:
            self._forget_old(now)
        for key in (f"user:{user}", f"addr:{client}"):
            entry = self._failures.get(key)
            if entry is None or now - entry.last >= self.lockout:
                self._failures[key] = _Failures(1, now)
            else:
                entry.count += 1
                entry.last = now

    def succeeded(self, user: str, client: str) -> None:
        """A successful login clears both counts."""
        self._failures.pop(f"user:{user}", None)
        self._failures.pop(f"addr:{client}", None)

    def _wait(self, key: str, now: float) -> float:
        entry = self._failures.get(key)
        if entry is None or entry.count < self.max_failures:
            return 0.0
        delay = min(self.lockout, 2.0 ** (entry.count - self.max_failures))
        return max(0.0, entry.last + delay - now)

    def _forget_old(self, now: float) -> None:
        self._failures = {k: v for k, v in self._failures.items() if now - v.last < self.lockout}
        if len(self._failures) >= self.max_entries:
            self._failures.clear()  # a flood of distinct names: keep memory bounded
