"""The engine's shortcuts change nothing an alert shows: threshold rules that differ only in threshold share one
window (and its checkpoint) and alert exactly as they do alone, across a restart too; the lean batch cache (lines
matched by row, evidence trimmed per batch) picks the same evidence and top values as reading every column; and
a current alert whose value alone moved is rewritten with the next refresh, not with every commit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from logwarden.rules.base import BatchCache
from logwarden.rules.engine import SHARED_WINDOWS, RulesEngine
from logwarden.rules.types.aggregate import AggregateRule
from logwarden.rules.types.list import ListRule
from logwarden.rules.types.sequence import SequenceRule
from logwarden.rules.types.threshold import ThresholdRule
from tests.unit.rules.harness import T0, Clock, stored
from tests.unit.rules.test_engine import Spec, errors


def tiered(name: str, threshold: int, **overrides: Any) -> ThresholdRule:
    """A warning or critical level of one error-burst rule: only the threshold (and the name) differ."""
    return Spec(name=name, threshold=threshold, samples=2, top_fields=["host"], **overrides)


def window_of(e: RulesEngine, name: str) -> Any:
    """The count window a rule of the engine evaluates with."""
    rule: Any = e._rules[name][1]
    return rule.window


def lines(second: float, service: str, n: int, host: str = "h1") -> list[dict[str, Any]]:
    return [{**r, "host": host} for r in errors(second, service, n)]


BATCHES = [
    (1, 5, lines(1, "api", 3) + lines(2, "web", 2)),
    (2, 12, lines(10, "api", 4, host="h2") + lines(11, "web", 1)),
    (3, 30, lines(29, "web", 9)),
    (4, 80, lines(79, "db", 2)),  # api's and web's lines have left the minute: their alerts resolve
    (5, 95, lines(94, "db", 6, host="h3")),
]


def transcript(e: RulesEngine) -> list[tuple[str, str, str, dict[str, str], float, list[str], Any]]:
    return [
        (
            h["rule"],
            h["status"],
            h["at"],
            h["alert"]["labels"],
            h["alert"]["value"],
            [line["message"] for line in h["alert"]["evidence"]],
            h["alert"]["top_values"],
        )
        for h in reversed(e.history(limit=1000))
    ]


def run(e: RulesEngine, clock: Clock, batches: list[tuple[int, int, list[dict[str, Any]]]]) -> None:
    for seq, second, records in batches:
        clock.now = T0 + timedelta(seconds=second)
        e.handle(stored(seq, records))
    e.flush()


def test_rules_that_differ_only_in_threshold_share_a_window_and_alert_as_they_do_alone(tmp_path: Path) -> None:
    specs = [tiered("burst-warning", 3), tiered("burst-critical", 6), tiered("burst-other-window", 3, window="2m")]
    clock = Clock()
    together = RulesEngine(tmp_path / "together", specs, clock=clock, idle=timedelta(0), tick=None)
    windows = {spec.name: window_of(together, spec.name) for spec in specs}
    assert windows["burst-warning"] is windows["burst-critical"]
    assert windows["burst-other-window"] is not windows["burst-warning"]  # another window counts differently
    run(together, clock, BATCHES)
    shared = transcript(together)

    alone: list[Any] = []
    for spec in specs:
        clock = Clock()
        e = RulesEngine(tmp_path / spec.name, [spec], clock=clock, idle=timedelta(0), tick=None)
        run(e, clock, BATCHES)
        alone += transcript(e)
        e.close()
    assert sorted(shared) == sorted(alone)
    statuses = {(r, s) for r, s, *_ in shared}
    assert {("burst-warning", "firing"), ("burst-critical", "firing"), ("burst-warning", "resolved")} <= statuses
    # The shared window is checkpointed once; each rule's state refers to it.
    checkpoint = together.store.load("rules")
    assert checkpoint is not None and len(checkpoint.state[SHARED_WINDOWS]) == 1
    together.close()


def test_shared_windows_are_restored_and_shared_again_after_a_restart_mid_window(tmp_path: Path) -> None:
    specs = [tiered("burst-warning", 3), tiered("burst-critical", 6)]
    quiet = (9, 20, lines(19, "db", 1))  # no rule's condition changes: nothing commits it but the interval
    batches = [*BATCHES[:2], quiet, *BATCHES[2:]]
    settings: dict[str, Any] = {"idle": timedelta(0), "tick": None, "commit_interval": timedelta(hours=1)}
    clock = Clock()
    straight = RulesEngine(tmp_path / "straight", specs, clock=clock, **settings)
    run(straight, clock, batches)
    expected = transcript(straight)
    straight.close()

    clock = Clock()
    first = RulesEngine(tmp_path / "restarted", specs, clock=clock, **settings)
    run(first, clock, batches[:2])  # committed (flush) …
    clock.now = T0 + timedelta(seconds=20)
    first.handle(stored(9, quiet[2]))  # … and one more batch it dies without committing
    again = RulesEngine(tmp_path / "restarted", specs, clock=clock, **settings)
    assert again.cursor() == 2 and window_of(again, "burst-warning") is window_of(again, "burst-critical")
    run(again, clock, batches[2:])  # the bus replays every batch after the cursor
    # The same transitions at the same times with the same values (evidence after a restart comes from the
    # batches seen since).
    assert [t[:5] for t in transcript(again)] == [t[:5] for t in expected]
    assert {"firing", "resolved"} <= {t[1] for t in expected}
    again.close()


def test_a_rule_added_later_starts_empty_and_keeps_a_window_of_its_own(tmp_path: Path) -> None:
    clock = Clock()
    e = RulesEngine(tmp_path / "rules", [tiered("burst-warning", 3)], clock=clock, idle=timedelta(0), tick=None)
    run(e, clock, BATCHES[:2])
    e.set_rules([tiered("burst-warning", 3), tiered("burst-critical", 3)])
    assert window_of(e, "burst-warning") is not window_of(e, "burst-critical")
    run(e, clock, [(3, 31, lines(30, "api", 4))])
    # The new rule counted only the lines since it came: 4 api errors (not 11), above 3 all the same.
    values = {(a.rule, a.labels["service"]): a.value for a in e.alerts()}
    assert values[("burst-critical", "api")] == 4.0 and values[("burst-warning", "api")] == 11.0
    e.close()


def test_a_current_alert_whose_value_alone_moved_is_rewritten_with_the_next_refresh(tmp_path: Path) -> None:
    clock = Clock()
    e = RulesEngine(
        tmp_path / "rules",
        [Spec(threshold=2)],
        clock=clock,
        idle=timedelta(0),
        tick=None,
        commit_interval=timedelta(hours=1),  # no refresh falls due by itself in this test
    )

    def rows() -> dict[str, float]:
        return {a["labels"]["service"]: a["value"] for a in e.store.current(None)}

    clock.now = T0 + timedelta(seconds=5)
    e.handle(stored(1, errors(1, "api", 3)))  # api fires: the first commit writes its row
    assert rows() == {"api": 3.0}
    e.handle(stored(2, errors(2, "api", 2) + errors(2, "web", 3)))  # web fires; api only counts on
    assert rows() == {"api": 3.0, "web": 3.0}  # committed with web's transition, api's row not rewritten
    assert {a.labels["service"]: a.value for a in e.alerts()} == {"api": 5.0, "web": 3.0}
    e.flush()  # a refresh: every row whose alert changed
    assert rows() == {"api": 5.0, "web": 3.0}
    e.close()


def lean_and_full(specs: list[Any], batches: list[list[dict[str, Any]]]) -> tuple[list[Any], list[Any]]:
    """The alerts (value, evidence, top values) of the same rules fed through a lean cache and a full one."""
    out = []
    tables = [stored(seq, records).table for seq, records in enumerate(batches, start=1)]
    for lean in (True, False):
        rules = [s.evaluator() for s in specs]
        for table in tables:
            shared = BatchCache(table, lean=lean)
            for rule in rules:
                rule.observe(table, shared)
            for rule in rules:
                rule.evaluate(T0 + timedelta(seconds=60))
        out.append(
            sorted(
                orjson.dumps(
                    {
                        "rule": a.rule,
                        "labels": a.labels,
                        "value": a.value,
                        "evidence": a.evidence,
                        "top": a.top_values,
                    },
                    option=orjson.OPT_SORT_KEYS,
                    default=str,
                )
                for r in rules
                for a in r.tracker.alerts.values()
            )
        )
    return out[0], out[1]


def test_lean_matched_lines_pick_the_same_evidence_and_top_values_as_whole_lines() -> None:
    records = [
        {
            "ts": (T0 + timedelta(seconds=i % 50)).isoformat(),
            "level": "error" if i % 3 else "info",
            "service": f"svc-{i % 4}",
            "host": f"h{i % 7}",
            "msg": f"failed login {i}" if i % 5 else f"login ok {i}",
            "user": f"u{i % 6}",
            "latency_ms": i % 97,
            "kind": "bad" if i % 11 == 0 else "fine",
        }
        for i in range(600)
    ]
    specs = [
        Spec(name="burst", threshold=3, samples=4, top_fields=["host", "user"]),
        Spec(name="burst-hosts", threshold=3, samples=3, group_by=["host"], query="level:error failed"),
        AggregateRule.model_validate(
            {
                "name": "slow",
                "type": "aggregate",
                "query": "*",
                "group_by": ["service"],
                "field": "latency_ms",
                "fn": "max",
                "window": "1m",
                "threshold": 50,
                "samples": 2,
            }
        ),
        ListRule.model_validate(
            {
                "name": "bad-kind",
                "type": "list",
                "query": "level:error",
                "field": "kind",
                "mode": "in",
                "values": ["bad"],
                "group_by": ["service"],
                "window": "1m",
                "samples": 2,
                "top_fields": ["user"],
            }
        ),
        SequenceRule.model_validate(
            {
                "name": "fail-then-ok",
                "type": "sequence",
                "query": "*",
                "by": ["user"],
                "within": "5m",
                "steps": [{"name": "failed", "query": "failed", "count": 2}, {"name": "ok", "query": "ok"}],
            }
        ),
    ]
    batches = [records[i : i + 150] for i in range(0, 600, 150)]
    lean, full = lean_and_full(specs, batches)
    assert lean == full
    assert {orjson.loads(a)["rule"] for a in lean} == {"burst", "burst-hosts", "slow", "bad-kind", "fail-then-ok"}
    assert all(orjson.loads(a)["evidence"] for a in lean)
