"""`new_value` rules through the real engine on a fake clock: a value a group has not shown fires (labels carry
it) and resolves after `window`; known values, history seeding before the first batch, `lookback` expiry, the
`max_values` cap, late lines, `for`, and a restart mid-window that neither misses nor doubles a transition.

The helpers here (`stored`, `Clock`, `FakeHistory`, …) are shared by the other event-rule type tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from pydantic import ValidationError

from logwarden.rules.engine import RulesEngine
from logwarden.rules.loader import load_rules_dir
from logwarden.rules.types.new_value import NewValueEvaluator, NewValueRule
from tests.unit.rules.harness import T0, Clock, stored, table_of, transitions


def line(seconds: float, **fields: Any) -> dict[str, Any]:
    return {"ts": (T0 + timedelta(seconds=seconds)).isoformat(), "level": "info", "msg": "m", **fields}


def engine_for(path: Path, clock: Clock, *specs: Any, history: Any = None) -> RulesEngine:
    return RulesEngine(path, specs, clock=clock, idle=timedelta(0), tick=None, history=history)


def run(e: RulesEngine, clock: Clock, batches: Sequence[tuple[int, list[dict[str, Any]]]]) -> None:
    """Hand the batches over, the clock at the newest line of each (so the head is that line)."""
    for seq, records in batches:
        clock.now = max(datetime.fromisoformat(r["ts"]) for r in records)
        e.handle(stored(seq, records))


def restarted(
    path: Path, clock: Clock, spec: Any, batches: Sequence[tuple[int, list[dict[str, Any]]]], at: int
) -> RulesEngine:
    """An engine that handled `batches[:at]` and died (no close: what it had not committed is lost), and the
    next one on the same directory, handed every batch after the committed cursor as the bus does."""
    run(engine_for(path, clock, spec), clock, batches[:at])
    second = engine_for(path, clock, spec)
    cursor = second.cursor()
    assert cursor is not None
    run(second, clock, [(seq, records) for seq, records in batches if seq > cursor])
    return second


class FakeHistory:
    """A HistoryReader over a list of stored tables (the real one reads the store): filters by time only,
    records what it was asked."""

    def __init__(self, *tables: pa.Table) -> None:
        self.tables = tables
        self.calls: list[tuple[str, datetime, datetime, tuple[str, ...] | None]] = []

    def scan(self, query: str, start: datetime, end: datetime, columns: Sequence[str] | None = None) -> list[pa.Table]:
        self.calls.append((query, start, end, tuple(columns) if columns is not None else None))
        out = []
        for t in self.tables:
            ts = t.column("ts").to_pylist()
            keep = pa.array([start <= x < end for x in ts])
            picked = t.filter(keep)
            out.append(picked.select([c for c in columns if c in picked.column_names]) if columns else picked)
        return out


def Spec(**overrides: Any) -> NewValueRule:  # noqa: N802 - reads like the rule it builds
    settings: dict[str, Any] = {
        "name": "new-country",
        "type": "new_value",
        "query": "*",
        "group_by": ["user"],
        "fields": ["attrs.country"],
        "window": "1m",
        "max_delay": "5s",
        "samples": 2,
        "seed": False,
    }
    settings.update(overrides)
    return NewValueRule.model_validate(settings)


def login(seconds: float, user: str, country: str | None, **more: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"user": user, **more}
    if country is not None:
        fields["country"] = country
    return line(seconds, **fields)


# --- the model ------------------------------------------------------------------------------------


def test_settings_have_their_defaults_and_fields_are_checked() -> None:
    spec = Spec()
    assert spec.lookback == timedelta(days=30) and spec.max_values == 100_000
    assert NewValueRule(name="n", query="*", fields=("user",), window=timedelta(minutes=1)).seed is True
    for fields, problem in [
        (["user"], "label of the group"),
        (["tenant"], "label of the group"),
        (["country", "country"], "listed twice"),
        (["bad field"], "not a field name"),
        ([], "at least 1"),
    ]:
        with pytest.raises(ValidationError, match=problem):
            Spec(fields=fields)


def test_a_rule_file_with_new_value_rules_loads(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n      - name: nv\n        type: new_value\n        query: '*'\n"
        "        fields: [user, attrs.country]\n        window: 10m\n        lookback: 7d\n"
    )
    (rule,) = load_rules_dir(tmp_path).rules
    assert isinstance(rule, NewValueRule)
    assert rule.fields == ("user", "attrs.country") and rule.lookback == timedelta(days=7) and rule.seed


# --- evaluation -----------------------------------------------------------------------------------


def test_a_new_value_fires_with_its_value_in_the_labels_and_resolves_after_the_window(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec())
    run(e, clock, [(1, [login(1, "ann", "fr"), login(2, "bob", "de"), login(3, "ann", "fr")])])
    # Every value is new at first (no history): one alert per (user, country), each from its first line.
    firing = sorted((a.labels["user"], a.labels["attrs.country"], a.value) for a in e.alerts())
    assert firing == [("ann", "fr", 1.0), ("bob", "de", 1.0)]
    (ann,) = [a for a in e.alerts() if a.labels["user"] == "ann"]
    assert ann.labels == {"tenant": "default", "user": "ann", "attrs.country": "fr"}
    assert [ev["ts"] for ev in ann.evidence] == [(T0 + timedelta(seconds=1)).isoformat()]
    # Known values do not alert again; a user's new country does, beside the others; another tenant's own.
    run(e, clock, [(2, [login(30, "ann", "fr"), login(31, "ann", "us"), login(32, "bob", "de")])])
    e.handle(stored(3, [login(32, "ann", "fr")], tenant="other"))
    assert sorted((a.labels["tenant"], a.labels["user"], a.labels["attrs.country"]) for a in e.alerts()) == [
        ("default", "ann", "fr"),
        ("default", "ann", "us"),
        ("default", "bob", "de"),
        ("other", "ann", "fr"),
    ]
    assert [s for s, _, _ in transitions(e)] == ["firing"] * 4
    # The first alerts resolve a window after their event; ann/us a window after its own.
    run(e, clock, [(4, [login(62, "ann", "fr")])])
    assert sorted((a.labels["tenant"], a.labels["attrs.country"]) for a in e.alerts()) == [
        ("default", "us"),
        ("other", "fr"),
    ]
    clock.now = T0 + timedelta(minutes=5)
    e.tick()
    assert e.alerts() == []
    assert e.status()[0]["groups"] == 0
    assert [s for s, _, _ in transitions(e)].count("resolved") == 4
    e.close()


def test_lines_without_every_field_are_ignored_and_combinations_count(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec(group_by=[], fields=["user", "attrs.country"]))
    run(e, clock, [(1, [login(1, "ann", None), login(2, "ann", "fr"), login(3, "bob", "fr"), login(4, "ann", "fr")])])
    assert sorted((a.labels["user"], a.labels["attrs.country"]) for a in e.alerts()) == [("ann", "fr"), ("bob", "fr")]
    e.close()


def test_for_keeps_a_new_value_pending_until_it_has_held(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec(**{"for": "20s"}))
    run(e, clock, [(1, [login(1, "ann", "fr")])])
    assert [a.status for a in e.alerts()] == ["pending"]
    run(e, clock, [(2, [login(15, "ann", "fr")])])
    assert [a.status for a in e.alerts()] == ["pending"]
    run(e, clock, [(3, [login(21, "ann", "fr")])])
    assert [a.status for a in e.alerts()] == ["firing"]
    assert [(s, at) for s, at, _ in transitions(e)] == [("firing", (T0 + timedelta(seconds=21)).isoformat())]
    e.close()


def test_a_value_unseen_for_the_lookback_is_new_again(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec(lookback="10m", window="1m"))
    run(e, clock, [(1, [login(0, "ann", "fr")])])
    run(e, clock, [(2, [login(500, "ann", "fr")])])  # seen 500 s later: within 10 m, not new
    run(e, clock, [(3, [login(1101, "ann", "fr")])])  # 601 s after it was last seen: new again
    assert [(s, at) for s, at, _ in transitions(e) if s == "firing"] == [
        ("firing", T0.isoformat()),
        ("firing", (T0 + timedelta(seconds=1101)).isoformat()),
    ]
    e.close()


def test_values_are_forgotten_after_the_lookback_and_capped_at_max_values() -> None:
    rule = Spec(lookback="10m", max_values=10).evaluator()
    assert isinstance(rule, NewValueEvaluator)
    rule.observe(stored(1, [login(i, "ann", f"c{i}") for i in range(11)]).table, None)
    # Past 10, the least recently seen tenth goes: c0 and c1 (one tenth of 10 is 1, down to 9 values).
    assert len(rule.known) == 9
    assert not any(k.endswith("\x1fc0") or k.endswith("\x1fc1") for k in rule.known)
    # An hour later (the clock moves the head when nothing arrives), every value is older than the lookback.
    rule.evaluate(T0 + timedelta(hours=1), idle_head=T0 + timedelta(hours=1))
    assert rule.known == {}


def test_a_late_new_value_is_counted_late_not_alerted(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec())
    run(e, clock, [(1, [login(600, "ann", "fr")])])
    clock.now = T0 + timedelta(seconds=600)
    e.handle(stored(2, [login(10, "bob", "de")]))  # ten minutes behind a one-minute window
    assert {a.labels["user"] for a in e.alerts()} == {"ann"}
    assert e.status()[0]["late"] == 1
    e.close()


# --- history --------------------------------------------------------------------------------------


def test_values_in_history_do_not_alert_in_the_first_batch(tmp_path: Path) -> None:
    past = table_of([login(-3600, "ann", "fr"), login(-60, "bob", "de"), login(-40 * 86400, "cid", "it")])
    history = FakeHistory(past)
    clock = Clock(T0 + timedelta(seconds=10))
    e = engine_for(tmp_path, clock, Spec(seed=True), history=history)
    first = [login(5, "ann", "fr"), login(6, "bob", "de"), login(7, "ann", "us"), login(8, "cid", "it")]
    run(e, clock, [(1, first)])
    # ann/fr and bob/de are in the last 30 days; cid/it only 40 days ago: new, like ann/us.
    assert sorted((a.labels["user"], a.labels["attrs.country"]) for a in e.alerts()) == [("ann", "us"), ("cid", "it")]
    # Read up to the first matching line, so the lines being handed over are never taken for history: the
    # 30 days newest first, from a day at a time; sparse slices make the next one twice as long (1, 2, 4, 8 days,
    # then the 15 left), so a store with little history is read in a few queries.
    first_line = T0 + timedelta(seconds=5)
    ends = [0, 1, 3, 7, 15, 30]
    assert [(q, start, end) for q, start, end, _ in history.calls] == [
        ("*", first_line - timedelta(days=b), first_line - timedelta(days=a)) for a, b in pairwise(ends)
    ]
    columns = history.calls[0][3]
    assert columns is not None and {"ts", "tenant", "attrs"} <= set(columns)
    e.close()
    # A restart with the rule's state saved does not read history again.
    again = engine_for(tmp_path, clock, Spec(seed=True), history=history)
    run(again, clock, [(2, [login(9, "ann", "us")])])
    assert len(history.calls) == 5
    again.close()


def test_history_is_read_newest_first_until_max_values_are_known(tmp_path: Path) -> None:
    days = [login(-d * 86400 - 60, "ann", f"c{d}") for d in range(5)]  # c0 yesterday's last minute … c4
    history = FakeHistory(table_of(days))
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec(seed=True, max_values=3), history=history)
    run(e, clock, [(1, [login(1, "ann", f"c{d}") for d in range(5)])])
    # Three days read (a day, then two: a sparse slice makes the next twice as long), three values known (c0, c1,
    # c2); the older c3 and c4 look new.
    assert len(history.calls) == 2
    assert sorted(a.labels["attrs.country"] for a in e.alerts()) == ["c3", "c4"]
    e.close()


def test_a_rule_with_seed_false_or_a_failing_history_starts_from_what_it_sees(tmp_path: Path) -> None:
    history = FakeHistory(table_of([login(-60, "ann", "fr")]))
    clock = Clock()
    e = engine_for(tmp_path / "a", clock, Spec(seed=False), history=history)
    run(e, clock, [(1, [login(1, "ann", "fr")])])
    assert history.calls == [] and len(e.alerts()) == 1
    e.close()

    class Broken(FakeHistory):
        def scan(self, *args: Any, **kwargs: Any) -> list[pa.Table]:
            raise OSError("store unavailable")

    e = engine_for(tmp_path / "b", clock, Spec(seed=True), history=Broken())
    run(e, clock, [(1, [login(1, "ann", "fr")])])
    assert len(e.alerts()) == 1
    e.close()


# --- restarts -------------------------------------------------------------------------------------

BATCHES = [
    (1, [login(1, "ann", "fr"), login(2, "bob", "de")]),
    (2, [login(20, "ann", "fr"), login(21, "ann", "us")]),
    (3, [login(70, "bob", "de"), login(71, "bob", "uk")]),  # ann/fr, bob/de resolve; bob/uk fires
    (4, [login(100, "ann", "us"), login(101, "cid", "fr")]),  # ann/us resolves; cid/fr fires
    (5, [login(200, "bob", "uk"), login(201, "ann", "it")]),
]


def test_a_restart_mid_window_neither_misses_nor_doubles_a_transition(tmp_path: Path) -> None:
    clock = Clock()
    whole = engine_for(tmp_path / "whole", clock, Spec())
    run(whole, clock, BATCHES)
    expected = transitions(whole)
    assert [s for s, _, _ in expected].count("firing") == 6 and [s for s, _, _ in expected].count("resolved") >= 4
    second = restarted(tmp_path / "split", clock, Spec(), BATCHES, 3)
    assert transitions(second) == expected
    whole.close()
    second.close()


def test_the_snapshot_is_json_and_restores_the_known_values() -> None:
    rule = Spec().evaluator()
    rule.observe(stored(1, [login(1, "ann", "fr")]).table, None)
    rule.evaluate(T0 + timedelta(seconds=1))
    copy = Spec().evaluator()
    copy.restore(orjson.loads(orjson.dumps(rule.snapshot())))
    assert copy.known == rule.known
    copy.observe(stored(2, [login(2, "ann", "fr"), login(3, "ann", "de")]).table, None)
    assert {t.alert.labels["attrs.country"] for t in copy.evaluate(T0 + timedelta(seconds=3))} == {"de"}
