"""The server's log-metrics subscriber is built from the config: `metrics.remote_write` turns the push on."""

from __future__ import annotations

from pathlib import Path

import pytest

from logwarden.config.loader import ConfigError
from logwarden.logmetrics.service import open_log_metrics
from tests.conftest import make_config


def test_remote_write_from_the_config_starts_a_writer(tmp_path: Path) -> None:
    config = make_config(tmp_path, **{"metrics.remote_write": {"url": "http://127.0.0.1:9/api/v1/write"}})
    subscriber = open_log_metrics(config, [])
    assert subscriber is not None
    try:
        assert subscriber.remote is not None
    finally:
        subscriber.close()


def test_without_remote_write_there_is_no_writer(tmp_path: Path) -> None:
    subscriber = open_log_metrics(make_config(tmp_path), [])
    assert subscriber is not None
    try:
        assert subscriber.remote is None
    finally:
        subscriber.close()


def test_a_remote_write_url_without_a_scheme_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="remote_write"):
        make_config(tmp_path, **{"metrics.remote_write": {"url": "prometheus:9090"}})
