"""Exponential backoff with full jitter (AWS architecture blog): spreads retries of many agents apart."""

from __future__ import annotations

import random


class Backoff:
    """The n-th delay (n from 0) is uniform in [0, min(max_delay, initial_delay · multiplier**n)].

    A server's Retry-After is a floor: `next_delay(at_least=...)` never answers less than it.
    """

    def __init__(
        self, initial_delay: float, max_delay: float, multiplier: float = 2.0, rng: random.Random | None = None
    ) -> None:
        if initial_delay <= 0 or max_delay < initial_delay or multiplier < 1:
            raise ValueError("need 0 < initial_delay <= max_delay and multiplier >= 1")
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.multiplier = multiplier
        self._rng = rng or random.Random()
        self.attempts = 0

    def cap(self) -> float:
        """Upper bound of the next delay."""
        # min() on the exponent first: multiplier**attempts overflows a float after ~1000 failures.
        growth = self.multiplier ** min(self.attempts, 64)
        return min(self.max_delay, self.initial_delay * growth)

    def next_delay(self, at_least: float = 0.0) -> float:
        delay = self._rng.uniform(0.0, self.cap())
        self.attempts += 1
        return max(delay, at_least)

    def reset(self) -> None:
        self.attempts = 0
