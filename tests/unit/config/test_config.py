"""Config loading: units, precedence, and errors that name file, line and setting."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from logwarden.config import ConfigError, load_config
from logwarden.model.units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [(1024, 1024), ("512KiB", 512 * 1024), ("16MiB", 16 * 1024**2), ("1GB", 10**9), ("1.5GiB", 3 * 1024**3 // 2)],
)
def test_sizes(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["lots", "-1", "12 parsecs", True, -5])
def test_bad_sizes(bad: object) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(bad)


@pytest.mark.parametrize(
    ("text", "seconds"), [(30, 30), ("500ms", 0.5), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("7d", 604800)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "bad", ["soon", "5 minutes", "1h30", "", 86400000000000.0, 10**20, "99999999999999w", float("nan")]
)
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_defaults_need_no_file() -> None:
    cfg = load_config(None, env={})
    assert cfg.http.host == "127.0.0.1"
    assert cfg.http.port == 8080
    assert cfg.store.retention_days == 7


def test_precedence_file_env_overrides(tmp_path: Path) -> None:
    path = tmp_path / "lw.yaml"
    path.write_text("http:\n  port: 9000\n  host: 0.0.0.0\nstore:\n  retention_days: 10\n")
    env = {"LOGWARDEN_HTTP__PORT": "9100", "LOGWARDEN_STORE__MEMORY_LIMIT": "2GiB", "OTHER": "x"}
    cfg = load_config(path, env=env, overrides={"http.port": 9200, "data_dir": None})
    assert cfg.http.port == 9200  # command line beats env beats file
    assert cfg.http.host == "0.0.0.0"
    assert cfg.store.memory_limit == 2 * 1024**3
    assert cfg.store.retention_days == 10


def test_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "lw.yaml"
    path.write_text("http:\n  port: 8080\n\nstore:\n  tenants:\n    acme:\n      retention_days: zero\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert f"{path}:7: store.tenants.acme.retention_days" in str(err.value)


def test_unknown_setting_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "lw.yaml"
    path.write_text("store:\n  retension_days: 3\n")
    with pytest.raises(ConfigError, match=r"lw.yaml:2: store.retension_days: Extra inputs are not permitted"):
        load_config(path, env={})


def test_env_error_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"environment variable LOGWARDEN_HTTP__PORT: http\.port"):
        load_config(None, env={"LOGWARDEN_HTTP__PORT": "eighty"})


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "lw.yaml"
    path.write_text("http: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(path, env={})
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml", env={})


def test_bad_tenant_names_rejected() -> None:
    with pytest.raises(ConfigError, match="invalid tenant name"):
        load_config(None, env={}, overrides={"store.tenants": {"a/b": {"retention_days": 3}}})
