"""`metrics.dir` is read again while the server runs: a file added, changed or removed changes the definitions in
force from the next batch on; a wrong file is logged and changes nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from logwarden.logmetrics.service import checked_definitions, open_log_metrics
from logwarden.logmetrics.subscriber import LogMetricsSubscriber
from tests.conftest import make_config
from tests.unit.logmetrics.helpers import line, stored


def counted(sub: LogMetricsSubscriber, metric: str) -> float:
    cur = sub.store.reader()
    row = cur.execute("SELECT coalesce(sum(n), 0) FROM series_points WHERE metric = ? AND tier = 0", [metric])
    return float(row.fetchall()[0][0])


def test_a_changed_metrics_dir_applies_without_a_restart(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "a.yaml").write_text("- name: errors\n  query: 'level:error'\n")
    config = make_config(tmp_path, **{"metrics.dir": str(directory)})
    sub = open_log_metrics(config, checked_definitions(config))
    assert sub is not None
    try:
        assert "errors" in sub.definitions and "warnings" not in sub.definitions
        sub.reload()
        assert "warnings" not in sub.definitions  # nothing changed: nothing reloaded
        (directory / "b.yaml").write_text("- name: warnings\n  query: 'level:warn'\n  labels: [service]\n")
        sub.reload()
        assert {"errors", "warnings", "logs_total"} <= set(sub.definitions)
        sub.handle(stored(1, [line(1, level="warn"), line(2, level="warn"), line(3, level="error")]))
        sub.flush()
        assert counted(sub, "warnings") == 2 and counted(sub, "errors") == 1
        # A wrong file: logged, the definitions in force stay.
        caplog.set_level(logging.ERROR, "logwarden.logmetrics.subscriber")
        (directory / "c.yaml").write_text("- name: broken\n  type: sum\n")
        sub.reload()
        assert "broken" not in sub.definitions and "warnings" in sub.definitions
        assert any("c.yaml" in r.getMessage() and "field" in r.getMessage() for r in caplog.records)
        # Fixed, and a file removed.
        (directory / "c.yaml").write_text("- name: bytes\n  type: sum\n  field: size\n")
        (directory / "b.yaml").unlink()
        sub.reload()
        assert "bytes" in sub.definitions and "warnings" not in sub.definitions
    finally:
        sub.close()
