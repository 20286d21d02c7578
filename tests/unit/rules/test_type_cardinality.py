"""`cardinality` rules: the settings are checked; the window counts distinct values per group exactly up to
`max_values` (then reads the cap), slides, keeps long values as hashes and checkpoints; through the real engine
the count fires per group (pending with `for`), resolves with hysteresis and when its group disappears, counts
late lines, and survives a restart mid-window without a missed or doubled transition."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from pydantic import ValidationError

from logwarden.rules.model import RuleFile
from logwarden.rules.types.cardinality import LONG_VALUE, CardinalityEvaluator, CardinalityRule, DistinctWindow
from tests.unit.rules.harness import T0, Clock, engine, feed, restarted, valued_transitions

TS = pa.timestamp("us", tz="UTC")


def spec(**overrides: Any) -> CardinalityRule:
    settings: dict[str, Any] = {
        "name": "users-per-ip",
        "type": "cardinality",
        "query": "login failed",
        "group_by": ["ip"],
        "field": "user",
        "window": "1m",
        "threshold": 3,
        "samples": 2,
    }
    settings.update(overrides)
    return CardinalityRule.model_validate(settings)


def logins(seconds: float, ip: str, *users: str | None) -> list[dict[str, Any]]:
    ts = (T0 + timedelta(seconds=seconds)).isoformat()
    out = []
    for u in users:
        record: dict[str, Any] = {"ts": ts, "ip": ip, "msg": f"login failed for {u}"}
        if u is not None:
            record["user"] = u
        out.append(record)
    return out


# --- settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"max_values": 3}, "max_values", "must be greater than threshold (3)"),
        ({"max_values": 0}, "max_values", "greater than or equal to 1"),
        ({"field": "a b"}, "field", "should match pattern"),
        ({"resolve_at": 4}, "resolve_at", "at most threshold (3) with op '>'"),
        ({"op": "<", "resolve_at": 2}, "resolve_at", "at least threshold (3) with op '<'"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(overrides: dict[str, Any], field: str, message: str) -> None:
    rule = {"name": "r", "type": "cardinality", "query": "*", "window": "1m", "field": "user", "threshold": 3}
    with pytest.raises(ValidationError) as caught:
        RuleFile.model_validate({"groups": [{"name": "g", "rules": [{**rule, **overrides}]}]})
    (error,) = caught.value.errors()
    assert error["loc"][-1] == field and message in error["msg"]


def test_a_rule_file_gives_a_cardinality_rule_with_its_defaults() -> None:
    rule = {"name": "r", "type": "cardinality", "query": "*", "window": "1m", "field": "host", "threshold": 50}
    (r,) = RuleFile.model_validate({"groups": [{"name": "g", "rules": [rule]}]}).groups[0].rules
    assert isinstance(r, CardinalityRule)
    assert (r.op, r.resolve_at, r.max_values) == (">", None, 10_000)
    assert isinstance(r.evaluator(), CardinalityEvaluator)
    # With `op: <` a cap at the threshold is fine: the count is compared from below.
    assert spec(op="<", threshold=5, max_values=5).max_values == 5


# --- the window ----------------------------------------------------------------------------------------


def window_add(w: DistinctWindow, rows: Sequence[tuple[str, float, str | None]]) -> None:
    keys = pa.array([k for k, _, _ in rows])
    ts = pa.array([T0 + timedelta(seconds=s) for _, s, _ in rows], TS)
    w.add(keys, ts, pa.array([v for _, _, v in rows], pa.string()))


def test_distinct_values_per_group_over_the_sliding_window() -> None:
    w = DistinctWindow(timedelta(minutes=1))
    window_add(w, [("a", 0, "x"), ("a", 1, "y"), ("a", 2, "x"), ("a", 30, "z"), ("b", 5, "x"), ("b", 6, None)])
    assert w.values(T0 + timedelta(seconds=40)) == {"a": 3, "b": 1}
    window_add(w, [("a", 61, "x")])  # seen again: it stays in the window
    # At 62 s the window is (2 s, 62 s]: y (1 s) has left; x is newest at 61 s; b's x (5 s) is still in.
    assert w.values(T0 + timedelta(seconds=62)) == {"a": 2, "b": 1}
    assert w.values(T0 + timedelta(seconds=66)) == {"a": 2}
    assert w.values(T0 + timedelta(minutes=10)) == {} and w.groups == 0


def test_at_the_cap_the_count_reads_max_values_while_a_dropped_value_is_in_the_window() -> None:
    w = DistinctWindow(timedelta(minutes=1), max_values=3)
    window_add(w, [("a", 0, "u1"), ("a", 0, "u2"), ("a", 0, "u3"), ("a", 10, "u4"), ("a", 10, "u5")])
    assert w.values(T0 + timedelta(seconds=10)) == {"a": 3}
    assert len(w._newest["a"]) == 3  # bounded: u4 and u5 were not kept
    window_add(w, [("a", 65, "u6")])
    # At 65 s u1..u3 (0 s) have left; the dropped ones (10 s) are still in the window: the count reads the cap.
    assert w.values(T0 + timedelta(seconds=65)) == {"a": 3}
    # At 75 s they have left too: the count is exact again.
    assert w.values(T0 + timedelta(seconds=75)) == {"a": 1}


def test_long_values_are_kept_as_hashes_and_still_counted_apart() -> None:
    w = DistinctWindow(timedelta(minutes=1))
    long_a, long_b = "q" * 5000 + "a", "q" * 5000 + "b"
    window_add(w, [("g", 0, long_a), ("g", 1, long_b), ("g", 2, long_a), ("g", 3, "short")])
    assert w.values(T0 + timedelta(seconds=5)) == {"g": 3}
    text = orjson.dumps(w.snapshot())
    assert b"qqqq" not in text and len(text) < 4 * LONG_VALUE + 200


def test_late_values_are_counted_not_kept() -> None:
    w = DistinctWindow(timedelta(minutes=1), timedelta(seconds=5))
    window_add(w, [("a", 600, "x")])
    assert w.values(T0 + timedelta(seconds=600)) == {"a": 1}
    window_add(w, [("a", 10, "y"), ("a", 545, "z"), ("a", 10, None)])
    assert w.late_lines == 2 and w.values(T0 + timedelta(seconds=600)) == {"a": 2}


def test_a_restored_window_gives_the_same_counts_as_the_live_one() -> None:
    rng = random.Random(5)
    live = DistinctWindow(timedelta(minutes=1), timedelta(seconds=5), max_values=12)
    copy: DistinctWindow | None = None
    for step in range(40):
        head = 5 * step
        rows = [(rng.choice("ab"), head - rng.uniform(0, 90), f"v{rng.randrange(20)}") for _ in range(10)]
        window_add(live, rows)
        if copy is not None:
            window_add(copy, rows)
        at = T0 + timedelta(seconds=head)
        expected = live.values(at)
        if copy is not None:
            assert copy.values(at) == expected, step
        if step == 15:
            copy = DistinctWindow(timedelta(minutes=1), timedelta(seconds=5), max_values=12)
            copy.restore(orjson.loads(orjson.dumps(live.snapshot())))
    assert copy is not None and copy.late_lines == live.late_lines > 0 and live._dropped


# --- through the engine -----------------------------------------------------------------------------------


def test_distinct_users_fire_per_ip_with_evidence_of_lines_with_the_field(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, spec())
    records = logins(1, "10.0.0.1", "ann", "bob", "ann", "cid", "dan", None) + logins(1, "10.0.0.2", "ann", "ann")
    feed(e, clock, [(1, 2, records)])
    (alert,) = e.alerts()
    assert alert.labels == {"tenant": "default", "ip": "10.0.0.1"} and alert.value == 4
    assert [s["message"] for s in alert.evidence] == ["login failed for cid", "login failed for dan"]
    assert e.status()[0]["groups"] == 2
    e.close()


def test_pending_with_for_then_firing(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, spec(**{"for": "20s"}))
    feed(e, clock, [(1, 1, logins(0, "ip", "a", "b", "c", "d")), (2, 11, logins(10, "ip", "e"))])
    assert [str(a.status) for a in e.alerts()] == ["pending"] and e.history() == []
    feed(e, clock, [(3, 21, logins(20, "ip", "a"))])
    assert [(s, at) for s, at, _, _ in valued_transitions(e)] == [("firing", (T0 + timedelta(seconds=20)).isoformat())]
    e.close()


@pytest.mark.parametrize(("resolve_at", "resolved_at"), [(None, 70), (1, 140)])
def test_hysteresis_keeps_the_alert_until_the_count_is_back_at_resolve_at(
    tmp_path: Path, resolve_at: float | None, resolved_at: int
) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, spec(resolve_at=resolve_at))
    batches = [
        (1, 1, logins(0, "ip", "a", "b", "c", "d")),
        (2, 71, logins(70, "ip", "a", "b")),
        (3, 141, logins(140, "ip", "a")),
    ]
    feed(e, clock, batches)
    log = valued_transitions(e)
    assert [(s, at) for s, at, _, _ in log] == [
        ("firing", T0.isoformat()),
        ("resolved", (T0 + timedelta(seconds=resolved_at)).isoformat()),
    ]
    assert log[1][3] == (2 if resolve_at is None else 1)
    e.close()


def test_too_few_hosts_fires_and_a_service_that_stops_resolves(tmp_path: Path) -> None:
    """With `op: <`, a service whose lines stop has no count — not 0, which would keep it firing forever."""
    clock = Clock()
    e = engine(tmp_path, clock, spec(name="hosts", query="*", group_by=["service"], field="host", op="<", threshold=2))
    api = [{"ts": T0.isoformat(), "service": "api", "host": "h1"}]
    web = [{"ts": (T0 + timedelta(seconds=120)).isoformat(), "service": "web", "host": h} for h in ("h1", "h2")]
    feed(e, clock, [(1, 1, api), (2, 121, web)])
    assert [(s, labels["service"], value) for s, _, labels, value in valued_transitions(e)] == [
        ("firing", "api", 1),
        ("resolved", "api", 1),
    ]
    e.close()


def test_late_lines_are_counted_not_evaluated(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, spec())
    feed(e, clock, [(1, 600, logins(600, "ip", "a")), (2, 601, logins(10, "ip", "b", "c", "d", "e"))])
    assert e.alerts() == [] and e.status()[0]["late"] == 4
    e.close()


BATCHES = [
    (1, 1, logins(0, "ip1", "a", "b") + logins(0, "ip2", "a", "b", "c", "d")),  # ip2 fires
    (2, 11, logins(10, "ip1", "c", "d", "a")),  # ip1 fires: a, b, c, d
    (3, 65, logins(65, "ip1", "e") + logins(65, "ip3", "x")),  # (5 s, 65 s]: ip1 c, d, a, e stays; ip2 resolves
    (4, 75, logins(75, "ip2", "a", "b", "c", "d", "e")),  # ip1: e only, resolves; ip2 fires again
    (5, 200, logins(200, "ip9", "z")),  # the others' windows empty: they resolve
]


@pytest.mark.parametrize("commit", [timedelta(0), timedelta(hours=1)])
@pytest.mark.parametrize("split", range(1, len(BATCHES)))
def test_a_restart_mid_window_neither_misses_nor_doubles_a_transition(
    tmp_path: Path, commit: timedelta, split: int
) -> None:
    rules = (spec(query="*"), spec(name="capped", query="*", threshold=2, max_values=3))
    expected, replayed = restarted(tmp_path, rules, BATCHES, split, commit)
    assert [s for s, _, _, _ in expected].count("firing") >= 5
    assert replayed == expected
