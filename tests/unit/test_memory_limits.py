"""Memory limits of the server's DuckDB databases other than the hot store's (docs/storage.md, Memory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from logwarden.config.loader import ConfigError
from logwarden.logmetrics.service import open_log_metrics
from tests.conftest import make_config


def _series_store_limit(config_path: Path, **overrides: object) -> int:
    """The memory_limit (bytes) the log-metrics series store's DuckDB runs with."""
    subscriber = open_log_metrics(make_config(config_path, **overrides), [])
    assert subscriber is not None
    try:
        row = subscriber.store.reader().execute("SELECT current_setting('memory_limit')").fetchone()
        assert row is not None
        # DuckDB answers in its own units ("64.0 MiB"): ask it for the bytes of what it answered.
        text = str(row[0]).replace("i", "").replace(" ", "")
        units = {"KB": 2**10, "MB": 2**20, "GB": 2**30}
        return round(float(text[:-2]) * units[text[-2:]])
    finally:
        subscriber.close()


def test_the_series_store_runs_with_metrics_memory_limit(tmp_path: Path) -> None:
    assert _series_store_limit(tmp_path / "a", **{"metrics.memory_limit": "32MiB"}) == 32 * 2**20


def test_the_series_store_limit_defaults_to_64_mib(tmp_path: Path) -> None:
    assert make_config(tmp_path).metrics.memory_limit == 64 * 2**20
    assert _series_store_limit(tmp_path / "b") == 64 * 2**20


def test_a_series_store_limit_below_16_mib_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="memory_limit"):
        make_config(tmp_path, **{"metrics.memory_limit": "8MiB"})
