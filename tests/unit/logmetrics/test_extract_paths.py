"""`extract` regexes run by pyarrow before DuckDB's SELECT (and the attribute fallbacks skipped when every line
has the field) give exactly the points DuckDB's own regexp_extract gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from logwarden.config.logmetrics import MetricDefinition
from logwarden.logmetrics import aggregate
from logwarden.logmetrics.aggregate import CompiledMetric
from logwarden.logmetrics.store import SeriesStore
from logwarden.logmetrics.subscriber import LogMetricsSubscriber
from tests.unit.logmetrics.conftest import RETENTION
from tests.unit.logmetrics.helpers import line, stored

DEFINITIONS = [
    # Every matching line has the status in its message: the attribute fallback is never needed.
    MetricDefinition(name="requests", query='GET | extract "status=(?P<status>\\d+)"', labels=["status"]),
    # Some lines lack `took`: the stored attribute `ms` is their value.
    MetricDefinition(
        name="took", type="sum", query='* | extract "took (?P<ms>\\d+)ms"', field="ms", labels=["service"]
    ),
    # Two named groups, one optional; a filter matching few lines (DuckDB gets only those).
    MetricDefinition(
        name="users",
        query='login | extract "user=(?P<user>\\w+)( via (?P<via>\\w+))?"',
        labels=["user", "via"],
    ),
    # An unnamed group: left to DuckDB.
    MetricDefinition(name="codes", query='* | extract "code ([a-z])(?P<code>\\d)"', labels=["code"]),
]


def records() -> list[dict[str, Any]]:
    out = []
    for i in range(300):
        out.append(line(i, "api", msg=f"GET /x status={200 + i % 3} took {i % 7}ms"))
        out.append(line(i, "web", msg="worker idle", ms=i % 5))
        if i % 10 == 0:
            out.append(line(i, "auth", msg=f"login user=u{i % 4}" + (" via sso" if i % 20 == 0 else "")))
        if i % 3 == 0:
            out.append(line(i, "db", msg=f"code x{i % 10} ok", status=404))
    return out


def points(path: Path) -> list[tuple[object, ...]]:
    sub = LogMetricsSubscriber(SeriesStore(path, RETENTION), DEFINITIONS, compact_interval=None)
    sub.handle(stored(1, records()))
    sub.flush()
    rows = sub.store.reader().execute("SELECT * FROM series_points ORDER BY ALL").fetchall()
    sub.close()
    return rows


def test_pyarrow_extraction_gives_what_duckdb_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hoisted = {d.name: CompiledMetric(d) for d in DEFINITIONS}
    assert [e.pattern for e in hoisted["requests"].extractions] == ["status=(?P<status>\\d+)"]
    assert hoisted["requests"].fallbacks == hoisted["took"].fallbacks == ["__lw_re0_g1"]
    assert hoisted["codes"].extractions == []  # an unnamed group: pyarrow would refuse it
    fast = points(tmp_path / "fast.duckdb")
    monkeypatch.setattr(aggregate, "_hoist_regexes", lambda sql: (sql, []))
    assert CompiledMetric(DEFINITIONS[0]).extractions == []
    slow = points(tmp_path / "slow.duckdb")
    assert fast == slow
    metrics = {row[1] for row in fast}
    assert metrics == {"requests", "took", "users", "codes"}
