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

# Deprecated single-source sections → what replaces them (both still work; see Config.all_sources).
_DEPRECATED_SECTIONS = {
    "kafka": "an entry of `sources:` with `type: kafka`",
    "syslog": "an entry of `sources:` with `type: syslog`",
}


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
        data, root = read_yaml_mapping(path, "the config file")
    file_keys = set(data)
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
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, root, env_keys)) from None
    return config.with_deprecations(_deprecations(source, file_keys, env_keys))


def _deprecations(source: str, file_keys: set[str], env_keys: dict[tuple[str, ...], str]) -> tuple[str, ...]:
    """One notice per deprecated section the file or the environment sets (command-line flags are not
    deprecated: `serve --syslog-udp-port` stays the quick way to open a listener)."""
    notices = []
    for section, replacement in _DEPRECATED_SECTIONS.items():
        env_key = next((k for parts, k in sorted(env_keys.items()) if parts[0] == section), None)
        where = source if section in file_keys else f"environment variable {env_key}" if env_key else None
        if where is not None:
            notices.append(
                f"{where}: the `{section}:` section is deprecated and runs as the source named {section!r}; "
                f"replace it with {replacement} (docs/ingest.md)"
            )
    return tuple(notices)


def read_yaml_mapping(path: str | Path, what: str) -> tuple[dict[str, Any], yaml.Node | None]:
    """The YAML mapping in `path` and its node tree (for line numbers); ConfigError otherwise."""
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
        raise ConfigError(f"{source}:1: {what} must be a mapping of settings")
    return loaded, root


def validation_problems(exc: ValidationError, source: str, root: yaml.Node | None) -> list[str]:
    """One `file:line: setting: message` per pydantic error."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        line = line_of(root, loc)
        where = f"{source}:{line}" if line is not None else source
        field = ".".join(str(p) for p in loc) or "(top level)"
        problems.append(f"{where}: {field}: {err['msg']}")
    return problems


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
    for err, problem in zip(exc.errors(), validation_problems(exc, source, root), strict=True):
        loc = tuple(str(p) for p in err["loc"])
        env_key = next((k for parts, k in env_keys.items() if loc[: len(parts)] == parts), None)
        lines.append(f"environment variable {env_key}: {'.'.join(loc)}: {err['msg']}" if env_key else problem)
    return "invalid configuration:\n  " + "\n  ".join(lines)


def line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the deepest YAML node on the path `loc` (mapping keys and list indexes).

    Parts that are not in the document (a union member's tag that pydantic adds) are skipped.
    """
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    line = key.start_mark.line + 1
                    node = value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
