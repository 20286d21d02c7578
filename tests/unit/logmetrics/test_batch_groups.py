"""The integer group-by of logmetrics/batch.py against a plain Python count of the same lines, and definitions
whose pipes are all `extract` (read without DuckDB) against the same definitions run by DuckDB."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from logwarden.config.logmetrics import MetricDefinition
from logwarden.logmetrics import aggregate
from logwarden.logmetrics.aggregate import BUCKET_SECONDS, OTHER, CompiledMetric, builtin_definitions
from logwarden.logmetrics.batch import sketch_bins
from logwarden.logmetrics.pending import Pending
from logwarden.logmetrics.store import SeriesStore
from logwarden.logmetrics.subscriber import LogMetricsSubscriber
from tests.unit.logmetrics.conftest import RETENTION
from tests.unit.logmetrics.helpers import line, stored


def records() -> list[dict[str, Any]]:
    """Lines over a minute: several services, hosts, odd values (missing, text, negative, huge, infinite)."""
    out = []
    odd: list[Any] = [None, "abc", -3, 0, 1e300, "inf", "12.5"]
    for i in range(400):
        rec = line(i * 0.15, ["api", "web", "db"][i % 3], ["info", "error"][i % 5 == 0], msg=f"GET /x took {i}ms")
        rec["host"] = f"h{i % 7}"
        if i % 11:
            rec["ms"] = (i % 50) * 1.5 + 0.1
        else:
            rec["ms"] = odd[(i // 11) % len(odd)]
        if rec["ms"] is None:
            del rec["ms"]
        out.append(rec)
    return out


PLAIN = [
    *builtin_definitions(),
    MetricDefinition(name="errors", query="level:error", labels=["service"]),
    MetricDefinition(name="by_host", labels=["host", "service"], max_series=8),
    MetricDefinition(name="ms_sum", type="sum", field="ms", labels=["service"]),
    MetricDefinition(name="ms_dist", type="histogram", field="ms", labels=["host"]),
    MetricDefinition(name="severity", type="summary", field="severity"),
]


def number(value: Any) -> float | None:
    try:
        found = float(value)
    except (TypeError, ValueError):
        return None
    return found if math.isfinite(found) else None


def reference(
    definition: MetricDefinition, recs: list[dict[str, Any]]
) -> tuple[dict[tuple[str, int], list[float]], dict[tuple[str, int, int], int]]:
    """Per (labels JSON, bucket): [n, total, lo, hi]; per (labels, bucket, bin): n — counted line by line."""
    points: dict[tuple[str, int], list[float]] = {}
    bins: dict[tuple[str, int, int], int] = defaultdict(int)
    admitted: list[str] = []
    for rec in recs:
        if definition.name == "errors" and rec["level"] != "error":
            continue
        values = [rec["level"].upper() if name == "level" else str(rec.get(name, "")) for name in definition.labels]
        text = orjson.dumps(dict(zip(definition.labels, values, strict=True))).decode()
        if text not in admitted:
            if len(admitted) < definition.max_series:
                admitted.append(text)
            else:
                text = orjson.dumps(dict.fromkeys(definition.labels, OTHER)).decode()
        if definition.field is None:
            v = 1.0
        elif definition.field == "severity":
            v = 9.0 if rec["level"] == "info" else 17.0  # what normalize gives the levels
        elif definition.field == aggregate.BYTES_FIELD:
            v = float(len(rec["msg"].encode()))
        else:
            found = number(rec.get(definition.field))
            if found is None:
                continue
            v = found
        ts = int(datetime.fromisoformat(rec["ts"]).timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS
        point = points.setdefault((text, ts), [0.0, 0.0, math.inf, -math.inf])
        point[0] += 1
        point[1] += v
        point[2] = min(point[2], v)
        point[3] = max(point[3], v)
        if definition.type in ("histogram", "summary"):
            bins[(text, ts, int(sketch_bins(np.array([v]))[0]))] += 1
    return points, dict(bins)


def test_integer_group_by_counts_what_a_plain_count_gives(tmp_path: Path) -> None:
    recs = records()
    sub = LogMetricsSubscriber(SeriesStore(tmp_path / "s.duckdb", RETENTION), PLAIN, compact_interval=None)
    try:
        sub.handle(stored(1, recs))
        sub.flush()
        cur = sub.store.reader()
        for definition in PLAIN:
            want_points, want_bins = reference(definition, recs)
            rows = cur.execute(
                "SELECT labels, ts, n, total, lo, hi FROM series_points WHERE metric = ? AND tier = 0",
                [definition.name],
            ).fetchall()
            got = {(labels, ts): [n, total, lo, hi] for labels, ts, n, total, lo, hi in rows}
            assert got.keys() == want_points.keys(), definition.name
            for key, want in want_points.items():
                assert got[key] == pytest.approx(want, rel=1e-12), (definition.name, key)
            found = cur.execute(
                "SELECT labels, ts, bin, n FROM series_bins WHERE metric = ? AND tier = 0", [definition.name]
            ).fetchall()
            assert {(labels, ts, b): n for labels, ts, b, n in found} == want_bins, definition.name
        # The capped metric kept 8 combinations and counted the rest in `other`.
        labels = {r[0] for r in cur.execute("SELECT labels FROM series WHERE metric = 'by_host'").fetchall()}
        assert len(labels) == 9 and '{"host":"other","service":"other"}' in labels
    finally:
        sub.close()


EXTRACTS = [
    MetricDefinition(name="took", type="sum", query='GET | extract "took (?P<ms>\\d+)ms"', field="ms"),
    # Lines without `took` (the `db` service's): their stored `ms` shows through.
    MetricDefinition(name="took_dist", type="histogram", query='* | extract "took (?P<ms>\\d+)ms"', field="ms"),
    # Two extracts naming one field: the last one that matched wins, then the first.
    MetricDefinition(
        name="twice",
        query='* | extract "(?P<word>GET|POST)" | extract "GET (?P<word>/\\w+)"',
        labels=["word", "service"],
    ),
    # A filter matching few lines: the regex runs on those only.
    MetricDefinition(name="rare", query='"took 7ms" | extract "took (?P<t>\\d)ms"', labels=["t", "host"]),
]


def extract_records() -> list[dict[str, Any]]:
    out = records()
    for i in range(50):
        rec = line(i, "db", msg=f"POST done in {i}", ms=i)
        out.append(rec)
    return out


def extract_points(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    sub = LogMetricsSubscriber(SeriesStore(path, RETENTION), EXTRACTS, compact_interval=None)
    try:
        sub.handle(stored(1, extract_records()))
        sub.flush()
        cur = sub.store.reader()
        return (
            cur.execute("SELECT * FROM series_points ORDER BY ALL").fetchall(),
            cur.execute("SELECT * FROM series_bins ORDER BY ALL").fetchall(),
        )
    finally:
        sub.close()


def test_extract_only_pipes_read_without_duckdb_give_what_duckdb_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert all(CompiledMetric(d).native is not None for d in EXTRACTS)
    native_points, native_bins = extract_points(tmp_path / "native.duckdb")
    monkeypatch.setattr(aggregate, "_native_fields", lambda *args: None)
    assert all(CompiledMetric(d).native is None for d in EXTRACTS)
    sql_points, sql_bins = extract_points(tmp_path / "sql.duckdb")
    assert native_bins == sql_bins
    assert len(native_points) == len(sql_points)
    for a, b in zip(native_points, sql_points, strict=True):
        assert a[:5] == b[:5] and a[5:] == pytest.approx(b[5:], rel=1e-12)
    assert {row[1] for row in native_points} == {d.name for d in EXTRACTS}
    words = {row[3] for row in native_points if row[1] == "twice"}
    assert '{"word":"/x","service":"api"}' in words and '{"word":"POST","service":"db"}' in words


def test_series_admitted_before_are_recounted_once_the_caps_forget_them() -> None:
    """A series admitted under the cap is remembered per batch (`_admitted`) only while `known` holds it: once the
    caps forget it (a new `known`), it competes for the cap again."""
    capped = MetricDefinition(name="capped", labels=["host"], max_series=1)
    agg = aggregate.BatchAggregator([capped], {})

    def labels(hosts: list[str]) -> list[str]:
        pending = Pending()
        agg.observe(stored(1, [line(0, host=h) for h in hosts]).table, pending)
        return sorted({key[2] for key in pending.merged().keys})

    assert labels(["a"]) == ['{"host":"a"}']
    assert labels(["a", "b"]) == ['{"host":"a"}', f'{{"host":"{OTHER}"}}']
    agg.known = {}  # as after a compaction whose store no longer holds `a`
    assert labels(["b"]) == ['{"host":"b"}']
    assert labels(["a"]) == [f'{{"host":"{OTHER}"}}']
    assert agg.over_cap == 2


def test_the_cap_admits_series_in_the_order_of_their_first_line_whatever_their_numbering() -> None:
    """Series are numbered by their label values' codes, not by their first line: when the cap may be reached, they
    are admitted in the order of their first line all the same."""
    capped = MetricDefinition(name="capped", labels=["host", "service"], max_series=2)
    agg = aggregate.BatchAggregator([capped], {})
    # Numbered (h2, s1) < (h2, s2) < (h1, s1) < (h1, s2); first seen (h2, s1), (h1, s2), (h1, s1), (h2, s2).
    hosts = [("h2", "s1"), ("h1", "s2"), ("h1", "s1"), ("h2", "s2"), ("h1", "s2")]
    pending = Pending()
    agg.observe(stored(1, [line(i, service=s, host=h) for i, (h, s) in enumerate(hosts)]).table, pending)
    merged = pending.merged()
    counts = {key[2]: n for key, n, _ in merged.series}
    assert counts == {
        '{"host":"h2","service":"s1"}': 1,
        '{"host":"h1","service":"s2"}': 2,
        f'{{"host":"{OTHER}","service":"{OTHER}"}}': 2,
    }
    assert agg.over_cap == 2
