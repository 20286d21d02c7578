"""`pattern` rules through the real engine on a fake clock: `match: rate_change` (a pattern's count against its
trailing baseline, up and down; a pattern the baseline never saw is not a rate change), `match: gone` (a
regular pattern that stops fires, an occasional one does not; forgotten after `forget_after`; a restart neither
misses nor doubles), `match: new` with `min_level`, and no alert for kinds seen before a restart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from logwarden.bus.base import BusBatch
from logwarden.rules.engine import RulesEngine
from logwarden.rules.types.pattern import PatternGoneEvaluator, PatternRateEvaluator, PatternRule
from logwarden.store.arrival import with_seq
from tests.unit.rules.harness import T0, Clock, table_of, transitions
from tests.unit.rules.test_type_new_value import engine_for, line

Line = tuple[float, str, str | None, str]  # (seconds after T0, service, pattern id, level)


def Spec(**overrides: Any) -> PatternRule:  # noqa: N802 - reads like the rule it builds
    settings: dict[str, Any] = {"name": "p", "type": "pattern", "window": "1m", "max_delay": "5s", "seed": False}
    settings.update(overrides)
    return PatternRule.model_validate(settings)


def batch_of(records: list[Line]) -> pa.Table:
    table = table_of([line(s, service=svc, level=lv) for s, svc, _, lv in records])
    index = table.column_names.index("pattern_id")
    return table.set_column(index, "pattern_id", pa.array([p for _, _, p, _ in records], pa.string()))


class Feed:
    """Hands batches to an engine in sequence, the clock at each batch's newest line."""

    def __init__(self, e: RulesEngine, clock: Clock, seq: int = 0) -> None:
        self.e, self.clock, self.seq = e, clock, seq

    def send(self, records: list[Line]) -> None:
        self.seq += 1
        self.clock.now = T0 + timedelta(seconds=max(r[0] for r in records))
        self.e.handle(BusBatch(self.seq, with_seq(self.seq, batch_of(records))))

    def idle(self, seconds: float) -> None:
        """No line at all: the engine evaluates on the wall clock."""
        self.clock.now = T0 + timedelta(seconds=seconds)
        self.e.tick()


def firing(e: RulesEngine) -> list[tuple[str, str]]:
    return sorted((a.labels.get("service", ""), a.labels["pattern_id"]) for a in e.alerts() if a.status == "firing")


def test_settings_and_the_query_each_mode_looks_at() -> None:
    spec = Spec(query="level:error", service='a"b', min_level="WARN")
    assert spec.filter_query() == '(level:error) AND _exists_:pattern_id AND service:"a\\"b" AND level:>=warn'
    assert Spec().filter_query() == "_exists_:pattern_id"
    assert isinstance(Spec(match="rate_change").evaluator(), PatternRateEvaluator)
    assert isinstance(Spec(match="gone").evaluator(), PatternGoneEvaluator)
    with pytest.raises(ValidationError, match="baseline must be at least window"):
        Spec(match="rate_change", window="10m", baseline="5m")
    with pytest.raises(ValidationError, match="regular must be at most regular_of"):
        Spec(match="gone", regular=7, regular_of=6)
    with pytest.raises(ValidationError, match="forget_after must be longer than window"):
        Spec(match="gone", window="1h", forget_after="30m")
    with pytest.raises(ValidationError, match="min_level"):
        Spec(min_level="LOUD")


def steady(start: int, stop: int, pattern: str = "p1", n: int = 2, every: int = 10) -> list[list[Line]]:
    """`n` lines of `pattern` every `every` seconds in [start, stop), one batch each."""
    return [[(float(s), "api", pattern, "info")] * n for s in range(start, stop, every)]


def test_rate_change_fires_when_a_pattern_departs_from_its_baseline(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec(match="rate_change", baseline="10m", factor=3, min_count=5))
    feed = Feed(e, clock)
    for records in steady(0, 720):  # 12 steady minutes of p1: 12 lines a minute
        feed.send(records)
    assert firing(e) == []
    # A burst of p1 (60 lines in a minute, 5×), and a pattern the baseline never saw (not a rate change).
    for records in steady(720, 780, n=10):
        feed.send([*records, (records[0][0], "api", "p-new", "info")] * 1)
    assert firing(e) == [("", "p1")]
    alert = next(a for a in e.alerts())
    assert alert.labels == {"tenant": "default", "pattern_id": "p1"} and alert.value == pytest.approx(5.0, rel=0.2)
    for records in steady(780, 900):  # back to its usual rate: resolves
        feed.send(records)
    assert firing(e) == []
    assert [s for s, _, labels in transitions(e)] == ["firing", "resolved"]
    e.close()


def test_rate_change_down_fires_when_a_pattern_goes_quiet(tmp_path: Path) -> None:
    clock = Clock()
    spec = Spec(match="rate_change", baseline="10m", factor=3, min_count=5, direction="down", group_by=["service"])
    e = engine_for(tmp_path, clock, spec)
    feed = Feed(e, clock)
    for records in steady(0, 720):
        feed.send(records)
    assert firing(e) == []
    feed.idle(800)  # no line for 80 s: p1's count in the window is 0 against 12 a minute
    assert firing(e) == [("api", "p1")]
    e.close()


def gone_spec(**overrides: Any) -> PatternRule:
    return Spec(match="gone", regular=3, regular_of=4, forget_after="10m", **overrides)


def test_a_regular_pattern_that_stops_fires_and_an_occasional_one_does_not(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, gone_spec())
    feed = Feed(e, clock)
    for records in steady(0, 300):  # p1 every 10 s for five minutes; p2 in one window only
        feed.send(records)
    feed.send([(300.0, "api", "p2", "info"), (301.0, "api", "p1", "info")])
    feed.send([(302.0, "api", "p3", "info")])
    for records in steady(310, 400, pattern="p3"):  # p3 keeps going, p1 and p2 stop
        feed.send(records)
    assert firing(e) == [("", "p1")]  # silent for a whole window after lines in 5 of the last windows
    assert [labels for s, _, labels in transitions(e)] == [{"tenant": "default", "pattern_id": "p1"}]
    feed.send([(410.0, "api", "p1", "info")])  # it comes back: resolves
    assert firing(e) == []
    e.close()


def test_a_gone_pattern_is_forgotten_and_for_delays_the_alert(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, gone_spec(**{"for": "2m"}))
    feed = Feed(e, clock)
    for records in steady(0, 300):
        feed.send(records)
    feed.idle(400)  # the head is at 395 s, 105 s after the last line: pending for 2 minutes
    assert firing(e) == [] and [a.status for a in e.alerts()] == ["pending"]
    feed.idle(500)
    assert firing(e) == []
    feed.idle(520)
    assert firing(e) == [("", "p1")]
    feed.idle(300 + 601)  # silent past forget_after: forgotten, its alert resolves
    assert e.alerts() == [] and [s for s, _, _ in transitions(e)] == ["firing", "resolved"]
    e.close()


def test_gone_across_a_restart_neither_misses_nor_doubles(tmp_path: Path) -> None:
    batches = [*steady(0, 300), [(400.0, "api", "p9", "info")], [(500.0, "api", "p9", "info")]]
    clock = Clock()
    whole = engine_for(tmp_path / "whole", clock, gone_spec())
    feed = Feed(whole, clock)
    for records in batches:
        feed.send(records)
    expected = transitions(whole)
    assert [s for s, _, _ in expected] == ["firing"]
    first = Feed(engine_for(tmp_path / "split", clock, gone_spec()), clock)
    for records in batches[:20]:  # dies here, without a close
        first.send(records)
    again = engine_for(tmp_path / "split", clock, gone_spec())
    cursor = again.cursor()
    assert cursor is not None
    feed = Feed(again, clock, seq=cursor)
    for records in batches[cursor:]:
        feed.send(records)
    assert transitions(again) == expected
    whole.close()
    again.close()


def test_new_with_min_level_fires_only_for_warnings_and_above(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec(match="new", min_level="WARN", group_by=["service"]))
    feed = Feed(e, clock)
    feed.send([(1.0, "api", "p-info", "info"), (2.0, "api", "p-debug", "debug")])
    assert firing(e) == []
    feed.send([(3.0, "api", "p-warn", "warn"), (4.0, "api", "p-err", "error"), (5.0, "api", "p-info", "info")])
    assert firing(e) == [("api", "p-err"), ("api", "p-warn")]
    e.close()


def test_no_new_pattern_alert_for_kinds_seen_before_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    spec = Spec(match="new", min_level="WARN", group_by=["service"])
    e = engine_for(tmp_path, clock, spec)
    feed = Feed(e, clock)
    feed.send([(1.0, "api", "p1", "error"), (2.0, "api", "p2", "warn")])
    assert firing(e) == [("api", "p1"), ("api", "p2")]
    feed.idle(200)
    assert e.alerts() == []
    e.close()
    again = engine_for(tmp_path, clock, spec)
    feed = Feed(again, clock, seq=feed.seq)
    feed.send([(300.0, "api", "p1", "error"), (301.0, "api", "p2", "warn"), (302.0, "api", "p3", "error")])
    assert firing(again) == [("api", "p3")]
    again.close()
