"""Server configuration: frozen pydantic models loaded from YAML with environment overrides."""

from logwarden.config.loader import ConfigError, load_config
from logwarden.config.model import (
    ArchiveConfig,
    Config,
    HttpConfig,
    IngestConfig,
    StoreConfig,
    TenantOverride,
)

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
