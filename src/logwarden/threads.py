"""OS threads: named after their Python threads so `top -H` and /proc show what is busy; background ones niced."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading

_PR_SET_NAME = 15
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform == "linux" else None


def name_current_thread(name: str) -> None:
    """Set the kernel-visible name of the calling thread (Linux only; at most 15 bytes are kept)."""
    if _libc is not None:
        _libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def lower_thread_priority(increment: int) -> bool:
    """Raise the calling thread's niceness by `increment` (Linux schedules threads one by one; elsewhere, or when
    refused, nothing changes). True when it took effect."""
    if increment <= 0 or not sys.platform.startswith("linux"):
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))
    except OSError:
        return False
    return True
