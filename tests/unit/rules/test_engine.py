"""The rules engine on a fake clock: a threshold rule fires and resolves per tenant and group, evidence comes
with it, a restart mid-window (the process dies between batches) neither misses nor doubles a transition, and
a failing batch leaves no trace in the state."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from logwarden.bus.base import BusBatch, RewindError
from logwarden.rules.engine import RulesEngine
from logwarden.rules.types.threshold import ThresholdRule
from tests.unit.rules.harness import T0, Clock, stored, transitions


def Spec(**overrides: Any) -> ThresholdRule:  # noqa: N802 - reads like the rule it builds
    """A threshold rule as a rule file would give it (3 errors per service in 1m, 3 evidence lines)."""
    settings: dict[str, Any] = {
        "name": "error-burst",
        "type": "threshold",
        "query": "level:error",
        "group_by": ["service"],
        "window": timedelta(minutes=1),
        "max_delay": timedelta(seconds=5),
        "samples": 3,
        "threshold": 3,
        "severity": "critical",
        "labels": {"team": "core"},
    }
    settings.update(overrides)
    return ThresholdRule.model_validate(settings)


def errors(seconds: float, service: str, n: int, level: str = "error") -> list[dict[str, Any]]:
    ts = (T0 + timedelta(seconds=seconds)).isoformat()
    return [{"ts": ts, "level": level, "service": service, "msg": f"{service} failed {i}"} for i in range(n)]


def engine(tmp_path: Path, clock: Clock, *specs: ThresholdRule) -> RulesEngine:
    return RulesEngine(tmp_path / "rules", specs or (Spec(),), clock=clock, idle=timedelta(0), tick=None)


def test_a_threshold_rule_fires_per_tenant_and_group_with_evidence_and_resolves(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock)
    clock.now = T0 + timedelta(seconds=30)
    e.handle(stored(1, errors(1, "api", 3) + errors(2, "web", 5, level="info")))
    assert e.alerts() == []  # 3 is not > 3
    e.handle(stored(2, errors(10, "api", 1) + errors(11, "web", 9)))  # web lines are errors now
    firing = {a.labels["service"]: a for a in e.alerts()}
    assert set(firing) == {"api", "web"}
    assert firing["api"].labels == {"tenant": "default", "service": "api"}
    assert firing["api"].value == 4 and firing["web"].value == 9
    assert [s["message"] for s in firing["web"].evidence] == ["web failed 6", "web failed 7", "web failed 8"]
    e.handle(stored(3, errors(12, "api", 5), tenant="other"))  # another tenant's lines: their own alert
    assert {(a.labels["tenant"], a.labels["service"]) for a in e.alerts()} == {
        ("default", "api"),
        ("default", "web"),
        ("other", "api"),
    }
    history = e.history()
    assert history[0]["alert"]["severity"] == "critical"
    assert history[0]["alert"]["labels"]["team"] == "core"
    # The lines stop; the clock moves on: a tick resolves every alert once their window is empty.
    clock.now = T0 + timedelta(minutes=5)
    e.tick()
    assert e.alerts() == []
    statuses = [(h["status"], h["alert"]["labels"]["service"]) for h in reversed(e.history())]
    assert statuses.count(("resolved", "api")) == 2 and statuses.count(("resolved", "web")) == 1
    e.close()


def test_late_lines_are_counted_not_evaluated(tmp_path: Path) -> None:
    clock = Clock()
    clock.now = T0 + timedelta(hours=1)
    e = engine(tmp_path, clock)
    e.handle(stored(1, errors(600, "api", 1)))
    e.handle(stored(2, errors(10, "api", 10)))  # ten minutes behind a one-minute window
    assert e.alerts() == []
    assert e.status()[0]["late"] == 10
    e.close()


BATCHES = [
    (1, errors(1, "api", 2)),
    (2, errors(5, "api", 2)),  # 4 > 3: fires
    (3, errors(20, "web", 4)),  # web fires too
    (4, errors(70, "web", 1)),  # api's window empties at the watermark 65 s: resolves
    (5, errors(140, "web", 1)),
]


def run(e: RulesEngine, clock: Clock, batches: list[tuple[int, list[dict[str, Any]]]]) -> None:
    for seq, records in batches:
        clock.now = T0 + timedelta(seconds=60 * seq)
        e.handle(stored(seq, records))


def test_a_restart_mid_window_neither_misses_nor_doubles_a_transition(tmp_path: Path) -> None:
    clock = Clock()
    whole = engine(tmp_path / "whole", clock)
    run(whole, clock, BATCHES)
    expected = transitions(whole)
    assert [s for s, _, _ in expected].count("firing") == 2 and [s for s, _, _ in expected].count("resolved") >= 1

    first = engine(tmp_path / "split", clock)
    run(first, clock, BATCHES[:3])
    assert first.cursor() == 3
    # The process dies here (no close); the next one resumes at the committed cursor.
    second = engine(tmp_path / "split", clock)
    assert second.cursor() == 3
    run(second, clock, BATCHES[3:])
    assert transitions(second) == expected
    whole.close()
    second.close()


def test_a_batch_that_fails_midway_rewinds_to_the_committed_state(tmp_path: Path) -> None:
    clock = Clock()
    clock.now = T0 + timedelta(seconds=30)
    # Commits only with transitions (or the first batch): batches 2 and 3 are handled but not committed.
    e = RulesEngine(
        tmp_path / "rules", (Spec(threshold=100),), clock=clock, tick=None, commit_interval=timedelta(hours=1)
    )
    batches = [stored(seq, errors(seq, "api", 2)) for seq in (1, 2, 3)]
    for b in batches:
        e.handle(b)
    assert e.cursor() == 1
    bad = BusBatch(4, stored(4, errors(4, "api", 2)).table.drop_columns(["ts"]))
    with pytest.raises(RewindError) as rewound:
        e.handle(bad)
    assert rewound.value.seq == 1
    # The bus hands everything after the committed cursor again (here with batch 4 corrected).
    for b in [*batches[1:], stored(4, errors(4, "api", 2))]:
        e.handle(b)
    assert e.status()[0]["matched"] == 8
    e.close()
    assert RulesEngine(tmp_path / "rules", (Spec(threshold=100),), clock=clock, tick=None).cursor() == 4


def test_uncommitted_batches_are_replayed_after_a_crash_with_the_same_outcome(tmp_path: Path) -> None:
    clock = Clock()
    slow = RulesEngine(tmp_path / "a", (Spec(),), clock=clock, tick=None, commit_interval=timedelta(hours=1))
    run(slow, clock, BATCHES[:2])  # batch 2 fires: committed with its transition
    run(slow, clock, [(3, errors(20, "web", 2))])  # no transition: not committed
    assert slow.cursor() == 2
    # Crash: the next engine starts from seq 2 and is handed 3 again, then the rest.
    again = RulesEngine(tmp_path / "a", (Spec(),), clock=clock, tick=None)
    run(again, clock, [(3, errors(20, "web", 2)), (4, errors(21, "web", 2))])
    whole = RulesEngine(tmp_path / "b", (Spec(),), clock=clock, tick=None)
    run(whole, clock, [*BATCHES[:2], (3, errors(20, "web", 2)), (4, errors(21, "web", 2))])
    assert transitions(again) == transitions(whole)
    assert [s for s, _, labels in transitions(whole) if labels["service"] == "web"] == ["firing"]
    again.close()
    whole.close()


def test_transitions_held_for_the_next_commit_are_replayed_after_a_crash_and_logged_once(tmp_path: Path) -> None:
    clock = Clock()
    hours = timedelta(hours=1)
    held = RulesEngine(tmp_path / "a", (Spec(),), clock=clock, tick=None, commit_interval=hours, transition_gap=hours)
    run(held, clock, BATCHES[:1])  # the first batch commits (a new engine has no cursor yet)
    run(held, clock, BATCHES[1:2])  # batch 2 fires: held, not committed yet
    assert held.cursor() == 1 and transitions(held) == []
    # Crash before the commit: the next engine replays batch 2 and logs its firing once, as a whole run does.
    again = RulesEngine(tmp_path / "a", (Spec(),), clock=clock, tick=None)
    run(again, clock, BATCHES[1:2])
    whole = RulesEngine(tmp_path / "b", (Spec(),), clock=clock, tick=None)
    run(whole, clock, BATCHES[:2])
    assert transitions(again) == transitions(whole) != []
    # Held transitions are committed with the state at the next commit — at the latest when the engine closes.
    later = RulesEngine(tmp_path / "c", (Spec(),), clock=clock, tick=None, commit_interval=hours, transition_gap=hours)
    run(later, clock, BATCHES[:2])
    assert later.cursor() == 1 and transitions(later) == []
    later.close()
    reopened = RulesEngine(tmp_path / "c", (Spec(),), clock=clock, tick=None)
    assert reopened.cursor() == 2 and transitions(reopened) == transitions(whole)
    for e in (held, again, whole, reopened):
        e.close()


def test_changed_rules_start_over_and_unchanged_ones_keep_their_state(tmp_path: Path) -> None:
    clock = Clock()
    clock.now = T0 + timedelta(seconds=30)
    e = engine(tmp_path, clock, Spec(), Spec(name="other", threshold=100))
    e.handle(stored(1, errors(1, "api", 5)))
    assert [a.rule for a in e.alerts()] == ["error-burst"]
    e.set_rules([Spec(labels={"team": "new"}), Spec(name="other", threshold=1)])
    assert {a.rule for a in e.alerts()} == {"error-burst"}  # kept; "other" starts empty
    assert {s["rule"]: s["matched"] for s in e.status()} == {"error-burst": 5, "other": 0}
    e.close()


def test_an_alert_carries_its_threshold_window_top_values_and_the_search_that_shows_its_lines(tmp_path: Path) -> None:
    clock = Clock()
    clock.now = T0 + timedelta(seconds=30)
    e = engine(tmp_path, clock, Spec(top_fields=["host", "route"]))
    ts = (T0 + timedelta(seconds=5)).isoformat()
    lines = [
        {"ts": ts, "level": "error", "service": "api", "host": f"h{i % 2}", "route": "/pay" if i < 3 else "/cart"}
        for i in range(5)
    ]
    e.handle(stored(1, lines))
    (alert,) = e.alerts()
    assert alert.top_values == {"host": [["h0", 3], ["h1", 2]], "route": [["/pay", 3], ["/cart", 2]]}
    (logged,) = e.history()
    body = logged["alert"]
    assert body["threshold"] == 3 and body["window"] == "1m"
    assert body["top_values"]["route"] == [["/pay", 3], ["/cart", 2]]
    search = body["search"]
    assert search["q"] == '(level:error) AND service:"api"'
    assert search["end"] == ts and search["start"] == (T0 - timedelta(seconds=55)).isoformat()
    assert search["url"].startswith("/?q=%28level%3Aerror%29+AND+service%3A%22api%22&start=")
    e.close()


def test_with_no_streaming_rules_a_batch_only_moves_the_cursor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The rules subscriber runs on every stored batch; with nothing to evaluate it must not pay for the batch cache.
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a batch cache was built with no streaming rules")

    monkeypatch.setattr("logwarden.rules.engine.BatchCache", refuse)
    clock = Clock()
    e = RulesEngine(tmp_path / "rules", (), clock=clock, idle=timedelta(0), tick=None, commit_interval=timedelta(0))
    e.handle(stored(1, errors(1, "api", 3)))
    e.handle(stored(2, errors(2, "api", 3)))
    assert e.cursor() == 2 and e.alerts() == []
    e.close()
    assert RulesEngine(tmp_path / "rules", (), clock=clock, idle=timedelta(0), tick=None).cursor() == 2
