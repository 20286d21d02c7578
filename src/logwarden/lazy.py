"""Modules imported on first use: a heavy library a server feature needs only when it is configured.

`logwarden serve` imports every processor, the pattern miner and the attrs encoder at start; polars alone
adds ~22 MB to the resident set, which a server whose pipelines, patterns and nested attributes never call
it should not pay (issue 13: peak RSS). A module names such a library with

    if TYPE_CHECKING:
        import polars as pl
    else:
        pl = lazy_module("polars")

and uses `pl.` as before: the first attribute read imports it (mypy sees the real module).
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from typing import Any

_lock = threading.Lock()


class LazyModule(types.ModuleType):
    """Stands for module `name` and imports it on the first attribute read (thread-safe: imports are locked)."""

    def __init__(self, name: str) -> None:
        super().__init__(name, f"{name}, imported on first use")
        self._lazy_target: types.ModuleType | None = None

    def _load(self) -> types.ModuleType:
        target = self._lazy_target
        if target is None:
            with _lock:
                target = self._lazy_target = importlib.import_module(self.__name__)
        return target

    def __getattr__(self, attr: str) -> Any:
        # Only reached for names this proxy lacks: everything of the real module.
        return getattr(self._load(), attr)

    def __dir__(self) -> list[str]:
        return dir(self._load())


def lazy_module(name: str) -> Any:
    """The module `name` if it is imported already, else a `LazyModule` that imports it when first used."""
    loaded = sys.modules.get(name)
    return loaded if loaded is not None else LazyModule(name)
