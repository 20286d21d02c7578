"""Load Config from YAML + environment + command-line overrides, with errors that name file, line and field."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from logwarden.config.model import Config

ENV_PREFIX = "LOGWARDEN_"


class ConfigError(Exception):
    """Invalid configuration; the message names where and what."""


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Precedence, lowest first: defaults, the YAML file, LOGWARDEN_* env vars, explicit overrides.

    Env vars name nested fields with double underscores: LOGWARDEN_HTTP__PORT=9000,
    LOGWARDEN_STORE__RETENTION_DAYS=30; values are parsed as YAML scalars.
    """
    data: dict[str, Any] = {}
    root: yaml.Node | None = None
    source = "<defaults>"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read config file: {exc.strerror}") from exc
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: invalid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{source}:1: the config file must be a mapping of settings")
        data = loaded
    env_keys: dict[tuple[str, ...], str] = {}
    for key, value in (os.environ if env is None else env).items():
        if not key.startswith(ENV_PREFIX):
            continue
        parts = tuple(p.lower() for p in key[len(ENV_PREFIX) :].split("__"))
        _set_path(data, parts, yaml.safe_load(value) if value != "" else None)
        env_keys[parts] = key
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_path(data, tuple(dotted.split(".")), value)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, root, env_keys)) from None


def _set_path(data: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _describe(exc: ValidationError, source: str, root: yaml.Node | None, env_keys: dict[tuple[str, ...], str]) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        field = ".".join(loc) or "(top level)"
        where = source
        env_key = next((k for parts, k in env_keys.items() if loc[: len(parts)] == parts), None)
        if env_key:
            where = f"environment variable {env_key}"
        else:
            line = _line_of(root, loc)
            if line is not None:
                where = f"{source}:{line}"
        lines.append(f"{where}: {field}: {err['msg']}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _line_of(node: yaml.Node | None, loc: tuple[str, ...]) -> int | None:
    """1-based line of the deepest YAML node on the path `loc`."""
    line = None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for key, value in node.value:
            if key.value == part:
                line = key.start_mark.line + 1
                node = value
                break
        else:
            break
    return line
