"""Name OS threads after their Python threads so `top -H` and /proc show what is busy."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_PR_SET_NAME = 15
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform == "linux" else None


def name_current_thread(name: str) -> None:
    """Set the kernel-visible name of the calling thread (Linux only; at most 15 bytes are kept)."""
    if _libc is not None:
        _libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
