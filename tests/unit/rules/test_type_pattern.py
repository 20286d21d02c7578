"""`pattern` rules: the model and its two modes; `match: new` through the real engine (a pattern new to a
group fires with `pattern_id` in its labels, only for `service` when given, seeded from history, surviving a
restart); lines without a pattern never alert; `match: rate_change` and `gone` load their own evaluators
(tested in tests/unit/patterns/test_rules_*.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from logwarden.bus.base import BusBatch
from logwarden.rules.loader import load_rules_dir
from logwarden.rules.types.pattern import NewPatternEvaluator, PatternRateEvaluator, PatternRule
from logwarden.store.arrival import with_seq
from tests.unit.rules.harness import T0, Clock, table_of, transitions
from tests.unit.rules.test_type_new_value import FakeHistory, engine_for, line


def Spec(**overrides: Any) -> PatternRule:  # noqa: N802 - reads like the rule it builds
    settings: dict[str, Any] = {
        "name": "new-pattern",
        "type": "pattern",
        "match": "new",
        "group_by": ["service"],
        "window": "1m",
        "max_delay": "5s",
        "seed": False,
    }
    settings.update(overrides)
    return PatternRule.model_validate(settings)


Lines = list[tuple[float, str, str | None]]  # (seconds after T0, service, pattern id)


def with_patterns(records: Lines) -> pa.Table:
    """Stored lines (time, service, pattern id) as the pattern miner will leave them."""
    table = table_of([line(s, service=svc) for s, svc, _ in records])
    index = table.column_names.index("pattern_id")
    return table.set_column(index, "pattern_id", pa.array([p for _, _, p in records], pa.string()))


def run_patterns(e: Any, clock: Clock, batches: list[tuple[int, Lines]]) -> None:
    for seq, records in batches:
        clock.now = T0 + timedelta(seconds=max(s for s, _, _ in records))
        e.handle(BusBatch(seq, with_seq(seq, with_patterns(records))))


def test_the_model_defaults_to_every_line_and_accepts_both_modes(tmp_path: Path) -> None:
    spec = Spec()
    assert spec.query == "*" and spec.service is None and spec.lookback == timedelta(days=30)
    assert isinstance(spec.evaluator(), NewPatternEvaluator)
    with pytest.raises(ValidationError, match="group_by cannot hold 'pattern_id'"):
        Spec(group_by=["pattern_id"])
    with pytest.raises(ValidationError, match="'new', 'rate_change' or 'gone'"):
        Spec(match="spike")
    (tmp_path / "p.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n      - name: p1\n        type: pattern\n        match: new\n"
        "        service: api\n        window: 10m\n      - name: p2\n        type: pattern\n"
        "        match: rate_change\n        window: 10m\n"
    )
    new, rate = load_rules_dir(tmp_path).rules
    assert isinstance(new, PatternRule) and new.service == "api" and new.query == "*"
    assert isinstance(rate, PatternRule) and rate.match == "rate_change"


def test_a_new_pattern_fires_with_its_id_and_only_for_the_service(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec(service="api"))
    run_patterns(e, clock, [(1, [(1, "api", "p1"), (2, "web", "p9"), (3, "api", None), (4, "api", "p1")])])
    assert [a.labels for a in e.alerts()] == [{"tenant": "default", "service": "api", "pattern_id": "p1"}]
    run_patterns(e, clock, [(2, [(5, "api", "p1"), (6, "api", "p2")])])
    assert sorted(a.labels["pattern_id"] for a in e.alerts()) == ["p1", "p2"]
    clock.now = T0 + timedelta(minutes=5)
    e.tick()
    assert e.alerts() == [] and [s for s, _, _ in transitions(e)] == ["firing", "firing", "resolved", "resolved"]
    e.close()


def test_lines_without_a_pattern_never_alert(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec())
    run_patterns(e, clock, [(1, [(1, "api", None), (2, "web", None)])])
    assert e.alerts() == [] and e.status()[0]["matched"] == 0  # the rule looks at lines with a pattern only
    e.close()


def test_patterns_in_history_are_known(tmp_path: Path) -> None:
    history = FakeHistory(with_patterns([(-600, "api", "p1"), (-500, "web", "p2")]))
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec(seed=True), history=history)
    run_patterns(e, clock, [(1, [(1, "api", "p1"), (2, "api", "p2"), (3, "web", "p2")])])
    assert [(a.labels["service"], a.labels["pattern_id"]) for a in e.alerts()] == [("api", "p2")]
    # The service and pattern are core columns: the attrs JSON is not read.
    columns = history.calls[0][3]
    assert columns is not None and "service" in columns and "pattern_id" in columns and "attrs" not in columns
    e.close()


BATCHES: list[tuple[int, Lines]] = [
    (1, [(1, "api", "p1")]),
    (2, [(10, "api", "p1"), (11, "api", "p2")]),
    (3, [(30, "web", "p1")]),
    (4, [(65, "api", "p1")]),  # api/p1 resolves
    (5, [(80, "api", "p2"), (81, "web", "p1")]),  # api/p2 resolves
    (6, [(200, "api", "p3")]),
]


def test_a_restart_mid_window_neither_misses_nor_doubles_a_transition(tmp_path: Path) -> None:
    clock = Clock()
    whole = engine_for(tmp_path / "whole", clock, Spec())
    run_patterns(whole, clock, BATCHES)
    expected = transitions(whole)
    assert [s for s, _, _ in expected].count("firing") == 4
    # The first process dies after batch 3 (no close); the next is handed every batch after its cursor.
    run_patterns(engine_for(tmp_path / "split", clock, Spec()), clock, BATCHES[:3])
    again = engine_for(tmp_path / "split", clock, Spec())
    cursor = again.cursor()
    assert cursor is not None
    run_patterns(again, clock, [b for b in BATCHES if b[0] > cursor])
    assert transitions(again) == expected
    whole.close()
    again.close()


def test_rate_change_has_its_own_evaluator() -> None:
    assert isinstance(Spec(name="rates", match="rate_change").evaluator(), PatternRateEvaluator)
