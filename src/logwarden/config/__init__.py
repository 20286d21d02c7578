"""Server configuration: frozen pydantic models loaded from YAML with environment overrides.

Names are loaded on first use, so importing a submodule (say `config.loader` for ConfigError) does not
import the whole model, which lists every processor type.

Layering: `config` imports `pipeline` (the processors' config shapes live beside their processors, and
`config.pipelines` / `config.reload` build pipeline sets from config files); `pipeline` never imports
`config`. Generic value types (Duration, ByteSize) live in `model.units`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from logwarden.config.loader import ConfigError, load_config
    from logwarden.config.model import (
        ArchiveConfig,
        Config,
        HttpConfig,
        IngestConfig,
        StoreConfig,
        TenantOverride,
    )

_HOMES = {
    "ConfigError": "logwarden.config.loader",
    "load_config": "logwarden.config.loader",
    "ArchiveConfig": "logwarden.config.model",
    "Config": "logwarden.config.model",
    "HttpConfig": "logwarden.config.model",
    "IngestConfig": "logwarden.config.model",
    "StoreConfig": "logwarden.config.model",
    "TenantOverride": "logwarden.config.model",
}

__all__ = [
    "ArchiveConfig",
    "Config",
    "ConfigError",
    "HttpConfig",
    "IngestConfig",
    "StoreConfig",
    "TenantOverride",
    "load_config",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'logwarden.config' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
