"""How much this process's memory rose while something ran (the server runs in-process in unit tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psutil


def peak_rss_during(fn: Callable[[], Any]) -> tuple[int, int, Any]:
    """(RSS before, the highest RSS seen while fn ran, fn's result or the exception it raised)."""
    me = psutil.Process()
    before = me.memory_info().rss
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, me.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        outcome: Any = fn()
    except Exception as exc:
        outcome = exc
    finally:
        done.set()
        sampler.join()
    return before, peak, outcome
