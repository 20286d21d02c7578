"""The notification channels, one module each; found on import (a new channel needs no registry edit)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from logwarden.alerting.notifiers.base import Notifier


def _discover() -> dict[str, type[Notifier]]:
    found: dict[str, type[Notifier]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in ("base", "render", "chat_webhook"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Notifier) and obj.__module__ == module.__name__ and not inspect.isabstract(obj):
                if obj.kind in found:
                    raise RuntimeError(f"two notifiers of kind {obj.kind!r}")
                found[obj.kind] = obj
    return dict(sorted(found.items()))


NOTIFIERS: dict[str, type[Notifier]] = _discover()
