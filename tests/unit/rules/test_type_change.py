"""`change` rules through the real engine on a fake clock: a group's value changing fires with `from`/`to`
labels, within a batch (lines ordered by event time) and across batches; nulls, `max_age`, `threshold`,
lines older than the value carried, `for`, resolve, and a restart mid-window."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from logwarden.rules.loader import load_rules_dir
from logwarden.rules.types.change import ChangeEvaluator, ChangeRule
from tests.unit.rules.harness import T0, Clock, stored, transitions
from tests.unit.rules.test_type_new_value import engine_for, line, restarted, run


def Spec(**overrides: Any) -> ChangeRule:  # noqa: N802 - reads like the rule it builds
    settings: dict[str, Any] = {
        "name": "version-change",
        "type": "change",
        "query": "*",
        "group_by": ["host"],
        "field": "version",
        "window": "1m",
        "max_delay": "5s",
        "samples": 3,
    }
    settings.update(overrides)
    return ChangeRule.model_validate(settings)


def deploy(seconds: float, host: str, version: str | None) -> dict[str, Any]:
    return line(seconds, host=host, **({"version": version} if version is not None else {}))


def changes(e: Any) -> list[tuple[str, str, str, str]]:
    return sorted((a.labels["host"], a.labels["from"], a.labels["to"], str(a.status)) for a in e.alerts())


def test_the_model_checks_its_field_and_labels(tmp_path: Path) -> None:
    assert Spec().ignore_null and Spec().max_age is None and Spec().threshold == 0
    with pytest.raises(ValidationError, match="label of the group"):
        Spec(field="host")
    with pytest.raises(ValidationError, match="label change alerts set"):
        Spec(group_by=["from"])
    (tmp_path / "r.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n      - name: c\n        type: change\n        query: '*'\n"
        "        field: attrs.country\n        group_by: [user]\n        window: 10m\n        max_age: 1d\n"
    )
    (rule,) = load_rules_dir(tmp_path).rules
    assert isinstance(rule, ChangeRule) and rule.max_age == timedelta(days=1)


def test_a_change_fires_with_from_and_to_and_resolves_after_the_window(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec())
    # Within one batch, lines arrive out of order: they are compared in event-time order (1.0 → 1.1 on a).
    run(e, clock, [(1, [deploy(2, "a", "1.1"), deploy(1, "a", "1.0"), deploy(1, "b", "7"), deploy(3, "b", "7")])])
    assert changes(e) == [("a", "1.0", "1.1", "firing")]
    (alert,) = e.alerts()
    assert alert.labels == {"tenant": "default", "host": "a", "from": "1.0", "to": "1.1"}
    assert [ev["ts"] for ev in alert.evidence] == [(T0 + timedelta(seconds=2)).isoformat()]
    # Across batches: b's carried value 7 changes to 8; a stays.
    run(e, clock, [(2, [deploy(20, "b", "8"), deploy(21, "a", "1.1")])])
    assert changes(e) == [("a", "1.0", "1.1", "firing"), ("b", "7", "8", "firing")]
    # Another tenant's host "a" has its own value: its first line is no change.
    e.handle(stored(3, [deploy(22, "a", "9.9")], tenant="other"))
    assert len(e.alerts()) == 2
    run(e, clock, [(4, [deploy(63, "a", "1.1")])])  # a's change (2 s) has left the window
    assert changes(e) == [("b", "7", "8", "firing")]
    clock.now = T0 + timedelta(minutes=5)
    e.tick()
    assert e.alerts() == [] and e.status()[0]["groups"] == 0
    assert [s for s, _, _ in transitions(e)] == ["firing", "firing", "resolved", "resolved"]
    e.close()


def test_nulls_are_skipped_unless_ignore_null_is_false(tmp_path: Path) -> None:
    clock = Clock()
    batch = [deploy(1, "a", "1"), deploy(2, "a", None), deploy(3, "a", "1")]
    skip = engine_for(tmp_path / "skip", clock, Spec())
    run(skip, clock, [(1, batch)])
    assert changes(skip) == []
    count = engine_for(tmp_path / "count", clock, Spec(ignore_null=False))
    run(count, clock, [(1, batch)])
    assert changes(count) == [("a", "", "1", "firing"), ("a", "1", "", "firing")]
    skip.close()
    count.close()


def test_a_previous_value_older_than_max_age_does_not_count(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec(max_age="30s"))
    run(e, clock, [(1, [deploy(0, "a", "1"), deploy(10, "b", "1")])])
    run(e, clock, [(2, [deploy(40, "a", "2"), deploy(39, "b", "2")])])  # a: 40 s old, b: 29 s
    assert changes(e) == [("b", "1", "2", "firing")]
    e.close()


def test_threshold_counts_changes_of_one_kind_in_the_window(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec(threshold=1))
    run(e, clock, [(1, [deploy(1, "a", "x"), deploy(2, "a", "y"), deploy(3, "a", "x")])])
    assert changes(e) == []  # x → y once, y → x once
    run(e, clock, [(2, [deploy(4, "a", "y")])])
    assert changes(e) == [("a", "x", "y", "firing")]
    e.close()


def test_a_line_older_than_the_value_carried_is_not_compared(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec())
    run(e, clock, [(1, [deploy(1, "a", "1"), deploy(10, "a", "2")])])
    run(e, clock, [(2, [deploy(5, "a", "1"), deploy(11, "a", "2")])])  # the 5 s line arrives late
    assert [(a.labels["from"], a.labels["to"]) for a in e.alerts()] == [("1", "2")]
    assert [s for s, _, _ in transitions(e)] == ["firing"]
    e.close()


def test_for_keeps_a_change_pending(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec(**{"for": "30s"}))
    run(e, clock, [(1, [deploy(1, "a", "1"), deploy(2, "a", "2")])])
    assert changes(e) == [("a", "1", "2", "pending")]
    run(e, clock, [(2, [deploy(40, "b", "1")])])
    assert changes(e) == [("a", "1", "2", "firing")]
    e.close()


BATCHES = [
    (1, [deploy(1, "a", "1"), deploy(2, "b", "1")]),
    (2, [deploy(10, "a", "2")]),  # a 1 → 2
    (3, [deploy(30, "b", "2"), deploy(31, "a", "2")]),  # b 1 → 2
    (4, [deploy(80, "a", "3")]),  # a's first change leaves the window; a 2 → 3
    (5, [deploy(100, "b", "2"), deploy(101, "a", "3")]),
    (6, [deploy(200, "b", "1")]),
]


def test_a_restart_mid_window_neither_misses_nor_doubles_a_transition(tmp_path: Path) -> None:
    clock = Clock()
    whole = engine_for(tmp_path / "whole", clock, Spec())
    run(whole, clock, BATCHES)
    expected = transitions(whole)
    assert [s for s, _, _ in expected].count("firing") == 4 and [s for s, _, _ in expected].count("resolved") == 3
    second = restarted(tmp_path / "split", clock, Spec(), BATCHES, 3)
    assert transitions(second) == expected
    whole.close()
    second.close()


def test_carried_values_expire_with_max_age_and_are_capped() -> None:
    rule = Spec(max_age="1m", max_groups=10).evaluator()
    assert isinstance(rule, ChangeEvaluator)
    rule.observe(stored(1, [deploy(i, f"h{i}", "1") for i in range(11)]).table, None)
    assert len(rule.last) == 9 and not {"default\x1fh0", "default\x1fh1"} & set(rule.last)
    copy = Spec(max_age="1m", max_groups=10).evaluator()
    copy.restore(orjson.loads(orjson.dumps(rule.snapshot())))
    assert copy.last == rule.last
    rule.evaluate(T0 + timedelta(minutes=5), idle_head=T0 + timedelta(minutes=5))
    assert rule.last == {}
