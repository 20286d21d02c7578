"""Backoff: exponential growth of the bound, full jitter below it, Retry-After as a floor."""

from __future__ import annotations

import random
import statistics

import pytest

from logwarden.agent.backoff import Backoff


def test_bounds_grow_exponentially_to_the_maximum() -> None:
    b = Backoff(0.5, 8.0, 2.0, rng=random.Random(1))
    caps = []
    for _ in range(8):
        caps.append(b.cap())
        b.next_delay()
    assert caps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    b.reset()
    assert b.cap() == 0.5 and b.attempts == 0


def test_full_jitter_spreads_delays_over_the_whole_range() -> None:
    rng = random.Random(7)
    delays = []
    for _ in range(2000):
        b = Backoff(1.0, 10.0, rng=rng)
        b.attempts = 3  # cap 8
        delays.append(b.next_delay())
    assert 0 <= min(delays) < 0.1 and 7.9 < max(delays) <= 8.0
    assert statistics.mean(delays) == pytest.approx(4.0, abs=0.3)


def test_retry_after_is_a_floor() -> None:
    b = Backoff(0.1, 1.0, rng=random.Random(3))
    assert b.next_delay(at_least=5.0) == 5.0


def test_many_failures_do_not_overflow() -> None:
    b = Backoff(0.1, 30.0)
    b.attempts = 10_000
    assert 0 <= b.next_delay() <= 30.0


def test_invalid_settings() -> None:
    with pytest.raises(ValueError):
        Backoff(0, 1)
    with pytest.raises(ValueError):
        Backoff(2, 1)
