"""Files enrichment reads (.mmdb, CSV) reopened when they change: an mtime check at most every few seconds."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class ReloadingFile(Generic[T]):
    """Holds `load(path)`'s result and reloads it when the file's mtime or size changes.

    A failed reload (a half-written file) keeps the previous content and is retried at the next check.
    The replaced value is handed to `retire` one reload later, when no batch can still be using it.
    """

    def __init__(
        self,
        path: Path,
        load: Callable[[Path], T],
        *,
        check_every: float = 5.0,
        retire: Callable[[T], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._load = load
        self._check_every = check_every
        self._retire = retire
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._value = load(path)  # errors propagate: the caller turns them into a build error
        self._retired: T | None = None
        self._checked = clock()
        self.reloads = 0

    def _file_stamp(self) -> tuple[int, int]:
        st = os.stat(self.path)
        return st.st_mtime_ns, st.st_size

    @property
    def value(self) -> T:
        """The current content, reloaded first when the check interval passed and the file changed."""
        now = self._clock()
        if now - self._checked >= self._check_every and self._lock.acquire(blocking=False):
            try:
                self._checked = now
                self._maybe_reload()
            finally:
                self._lock.release()
        return self._value

    def _maybe_reload(self) -> None:
        try:
            stamp = self._file_stamp()
        except OSError:
            return  # being replaced: keep the old content
        if stamp == self._stamp:
            return
        try:
            value = self._load(self.path)
        except Exception as exc:
            log.warning("cannot reload %s (keeping the previous version): %s", self.path, exc)
            return
        if self._retired is not None and self._retire is not None:
            self._retire(self._retired)
        self._retired, self._value, self._stamp = self._value, value, stamp
        self.reloads += 1
        log.info("reloaded %s", self.path)

    def close(self) -> None:
        if self._retire is not None:
            for value in (self._retired, self._value):
                if value is not None:
                    self._retire(value)
        self._retired = None
