"""`aggregate` rules: the settings are checked; the log-bucketed histogram keeps percentiles within 1% in bounded
bins; the window folds numbers per group and bucket, skips what is not a number, slides, and checkpoints; and
through the real engine a statistic fires per group (pending with `for`), resolves with hysteresis, resolves
when its group disappears, counts late lines, and survives a restart mid-window without a missed or doubled
transition."""

from __future__ import annotations

import math
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
from logwarden.rules.numeric import NumericWindow
from logwarden.rules.sketch import MAX_BINS, bin_codes, bin_value, numbers, quantile
from logwarden.rules.types.aggregate import AggregateEvaluator, AggregateRule
from tests.unit.rules.harness import T0, Clock, engine, feed, restarted, stored, valued_transitions

TS = pa.timestamp("us", tz="UTC")


def spec(**overrides: Any) -> AggregateRule:
    settings: dict[str, Any] = {
        "name": "slow",
        "type": "aggregate",
        "query": "*",
        "group_by": ["service"],
        "window": "1m",
        "field": "duration_ms",
        "fn": "avg",
        "threshold": 100,
        "samples": 2,
    }
    settings.update(overrides)
    return AggregateRule.model_validate(settings)


def lines(seconds: float, service: str, *durations: Any, field: str = "duration_ms") -> list[dict[str, Any]]:
    ts = (T0 + timedelta(seconds=seconds)).isoformat()
    return [{"ts": ts, "service": service, field: d, "msg": f"{service} took {d}"} for d in durations]


# --- settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"field": "message"}, "field", "'message' is not numeric"),
        ({"fn": "p42"}, "fn", "'p99'"),
        ({"resolve_at": 120}, "resolve_at", "at most threshold (100) with op '>'"),
        ({"op": "<", "resolve_at": 80}, "resolve_at", "at least threshold (100) with op '<'"),
        ({"min_count": 0}, "min_count", "greater than or equal to 1"),
        ({"op": ">="}, "op", "'>'"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(overrides: dict[str, Any], field: str, message: str) -> None:
    rule = {"name": "r", "type": "aggregate", "query": "*", "window": "1m", "field": "duration_ms", "fn": "p99"}
    with pytest.raises(ValidationError) as caught:
        RuleFile.model_validate({"groups": [{"name": "g", "rules": [{**rule, "threshold": 100, **overrides}]}]})
    (error,) = caught.value.errors()
    assert error["loc"][-1] == field and message in error["msg"]


def test_a_rule_file_gives_an_aggregate_rule_with_its_defaults() -> None:
    rule = {"name": "r", "type": "aggregate", "query": "*", "window": "5m", "field": "attrs.latency", "fn": "p95"}
    (r,) = RuleFile.model_validate({"groups": [{"name": "g", "rules": [{**rule, "threshold": 2.5}]}]}).groups[0].rules
    assert isinstance(r, AggregateRule)
    assert (r.op, r.resolve_at, r.min_count, r.threshold) == (">", None, 1, 2.5)
    assert isinstance(spec(field="severity").evaluator(), AggregateEvaluator)


# --- numbers and the histogram ------------------------------------------------------------------------


def test_numbers_are_json_numbers_and_numeric_text_and_nothing_else() -> None:
    text = pa.array(["12.5", "-3", "1e3", " 7 ", ".5", "slow", "true", "nan", "inf", "0x1F", "1_000", "1e400", None])
    assert numbers(text).to_pylist() == [12.5, -3.0, 1000.0, 7.0, 0.5, *[None] * 8]


def test_percentiles_are_within_one_percent_with_negatives_and_zero() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(3, 2) for _ in range(5000)] + [-rng.expovariate(0.1) for _ in range(500)] + [0.0] * 50
    codes = bin_codes(pa.array(values, pa.float64())).to_pylist()
    bins: dict[int, int] = {}
    for c in codes:
        bins[c] = bins.get(c, 0) + 1
    ordered = sorted(values)
    for q in (0.0, 0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 1.0):
        exact = ordered[math.floor(q * (len(values) - 1))]
        assert quantile(bins, q) == pytest.approx(exact, rel=0.01, abs=1e-9), q
    # Codes sort like values: every value's bin stands for it within 1%.
    for v, c in zip(values[:200], codes[:200], strict=True):
        assert bin_value(c) == pytest.approx(v, rel=0.01, abs=1e-9)


def histograms(w: NumericWindow) -> dict[tuple[str, int], tuple[int, int]]:
    """Per (group, bucket), the number of bins and of values the window's histograms hold, as it checkpoints them."""
    state = orjson.loads(orjson.dumps(w.snapshot()))
    cells = state["cells"]
    out: dict[tuple[str, int], tuple[int, int]] = {}
    for g, b, n in zip(cells["g"], cells["b"], cells["n"], strict=True):
        bins, values = out.get((state["keys"][g], b), (0, 0))
        out[(state["keys"][g], b)] = (bins + 1, values + n)
    return out


def test_a_bucket_keeps_at_most_max_bins_and_high_percentiles_stay_accurate() -> None:
    w = NumericWindow(timedelta(minutes=1), histogram=True)
    values = [10 ** (e / 100) for e in range(-900, 1300)]  # 1e-9 .. 1e13: about 2400 bins at 1%
    b0 = int(T0.timestamp())  # 1 s buckets
    w.add(pa.array(["g"] * len(values)), pa.array([T0] * len(values), TS), pa.array(values, pa.float64()))
    assert histograms(w) == {("g", b0): (MAX_BINS, len(values))}  # before the first evaluation
    p99 = w.values(T0, "p99")["g"]
    assert histograms(w) == {("g", b0): (MAX_BINS, len(values))}  # in the ring
    # Values for a bucket already in the window: collapsed there too, and the window's percentiles follow.
    at = T0 + timedelta(seconds=1)
    w.add(pa.array(["g"] * len(values)), pa.array([at] * len(values), TS), pa.array(values[::-1], pa.float64()))
    assert histograms(w) == {("g", b0): (MAX_BINS, len(values)), ("g", b0 + 1): (MAX_BINS, len(values))}
    assert w.values(at, "count")["g"] == 2 * len(values)
    assert p99 == pytest.approx(sorted(values)[math.floor(0.99 * (len(values) - 1))], rel=0.01)
    # More bins for a bucket already full, in a later batch: still MAX_BINS, every value kept, the top exact.
    w.add(pa.array(["g"] * 3), pa.array([T0] * 3, TS), pa.array([1e14, 2e14, 4e14], pa.float64()))
    assert histograms(w)[("g", b0)] == (MAX_BINS, len(values) + 3)
    everything = sorted([*values, *values, 1e14, 2e14, 4e14])
    assert w.values(at, "max")["g"] == 4e14
    assert w.values(at, "p99")["g"] == pytest.approx(everything[math.floor(0.99 * (len(everything) - 1))], rel=0.01)


# --- the window ----------------------------------------------------------------------------------------


def window_add(w: NumericWindow, rows: Sequence[tuple[str, float, float | None]]) -> None:
    keys = pa.array([k for k, _, _ in rows])
    ts = pa.array([T0 + timedelta(seconds=s) for _, s, _ in rows], TS)
    w.add(keys, ts, pa.array([v for _, _, v in rows], pa.float64()))


def test_statistics_per_group_over_the_sliding_window() -> None:
    w = NumericWindow(timedelta(minutes=1), histogram=True)
    window_add(w, [("a", 0, 40), ("a", 1, 41), ("a", 5, 30), ("a", 30, 20), ("b", 40, -4), ("b", 41, None)])
    at = T0 + timedelta(seconds=50)
    assert w.values(at, "avg") == {"a": 32.75, "b": -4.0}
    assert w.values(at, "sum") == {"a": 131.0, "b": -4.0}
    assert w.values(at, "min") == {"a": 20.0, "b": -4.0}
    assert w.values(at, "max") == {"a": 41.0, "b": -4.0}
    assert w.values(at, "count") == {"a": 4.0, "b": 1.0}
    assert w.values(at, "p50")["a"] == pytest.approx(30, rel=0.01)
    assert w.values(at, "count", min_count=2) == {"a": 4.0}
    # At 62 s the window is (2 s, 62 s]: the values at 0 and 1 s have left it, and p50 follows.
    later = T0 + timedelta(seconds=62)
    assert w.values(later, "avg") == {"a": 25.0, "b": -4.0}
    assert w.values(later, "p50")["a"] == pytest.approx(20, rel=0.01)
    assert w.values(later, "max")["a"] == 30.0
    assert w.values(T0 + timedelta(minutes=10), "avg") == {} and w.groups == 0


def test_late_values_are_counted_not_folded_and_ahead_values_wait_for_the_head() -> None:
    w = NumericWindow(timedelta(minutes=1), lateness=timedelta(seconds=5))
    window_add(w, [("a", 600, 1.0)])
    assert w.values(T0 + timedelta(seconds=600), "count") == {"a": 1.0}
    # 545 s: in the window (540 s, 600 s]; 536 s: before it but within max_delay (not late); 10 s: late.
    window_add(w, [("a", 10, 5.0), ("a", 545, 7.0), ("a", 536, 3.0), ("a", 700, 9.0)])
    assert w.late_lines == 1
    assert w.values(T0 + timedelta(seconds=600), "sum") == {"a": 8.0}
    assert w.values(T0 + timedelta(seconds=700), "sum") == {"a": 9.0}


def test_a_restored_window_gives_the_same_values_as_the_live_one() -> None:
    rng = random.Random(3)
    live = NumericWindow(timedelta(minutes=1), lateness=timedelta(seconds=5), histogram=True)
    copy: NumericWindow | None = None
    for step in range(40):
        head = 5 * step
        rows = [(rng.choice("abc"), head - rng.uniform(0, 90), rng.uniform(-50, 500)) for _ in range(30)]
        window_add(live, rows)
        if copy is not None:
            window_add(copy, rows)
        at = T0 + timedelta(seconds=head)
        for fn in ("avg", "sum", "min", "max", "count", "p90"):
            expected = live.values(at, fn)
            if copy is not None:
                assert copy.values(at, fn) == expected, (step, fn)
        if step == 15:
            snapshot = orjson.loads(orjson.dumps(live.snapshot()))  # through JSON, as checkpointed
            copy = NumericWindow(timedelta(minutes=1), lateness=timedelta(seconds=5), histogram=True)
            copy.restore(snapshot)
    assert copy is not None and copy.late_lines == live.late_lines > 0


def test_window_percentiles_are_the_quantiles_of_the_window_histograms_per_group() -> None:
    """The vectorized percentiles over many groups and buckets read as `quantile` over each group's values in
    the window, kept within the group's min and max."""
    rng = random.Random(11)
    w = NumericWindow(timedelta(minutes=1), lateness=timedelta(seconds=30), histogram=True)
    held: list[tuple[str, float, float]] = []
    for step in range(12):
        head = 10 * step
        rows = [(f"g{rng.randrange(40)}", head - rng.uniform(0, 60), rng.lognormvariate(4, 2)) for _ in range(400)]
        rows += [("neg", head - rng.uniform(0, 10), -rng.expovariate(0.1)) for _ in range(50)]
        window_add(w, rows)
        held += rows
        at = T0 + timedelta(seconds=head)
        for fn, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
            got = w.values(at, fn)
            inside: dict[str, list[float]] = {}
            for key, seconds, value in held:
                if head - 60 < timedelta(seconds=seconds) // timedelta(seconds=1) <= head:  # 1 s buckets
                    inside.setdefault(key, []).append(value)
            assert got.keys() == inside.keys(), (step, fn)
            for key, xs in inside.items():
                codes = bin_codes(pa.array(xs, pa.float64())).to_pylist()
                bins = {c: codes.count(c) for c in set(codes)}
                assert got[key] == min(max(quantile(bins, q), min(xs)), max(xs)), (step, fn, key)


def test_only_groups_whose_range_reaches_beyond_the_bar_get_a_percentile_and_kept_ones_always() -> None:
    w = NumericWindow(timedelta(minutes=1), histogram=True)
    window_add(w, [("low", 1, -10.0), ("low", 2, -12.0), ("mid", 1, -1.0), ("mid", 2, 1.0), ("high", 3, 50.0)])
    at = T0 + timedelta(seconds=5)
    every = w.values(at, "p50")
    assert every["low"] == pytest.approx(-12, rel=0.01) and every["high"] == pytest.approx(50, rel=0.01)
    # Above a bar below zero: "low" never reaches it (not even as a value of 0 it was never given).
    assert w.values(at, "p50", beyond=(True, -5.0)).keys() == {"mid", "high"}
    assert w.values(at, "p50", beyond=(False, -5.0)).keys() == {"low"}
    # A group that alerts is reported whatever its value, and with the same value.
    kept = w.values(at, "p50", beyond=(True, 100.0), keep=["low", "gone"])
    assert kept == {"low": every["low"]}


def test_a_window_checkpointed_before_histograms_were_columns_restores() -> None:
    """State written by the previous version (per group `[bucket, n, sum, min, max, [code, count, …]]` rows, the
    window's histogram rebuilt from them) restores with the same values, and goes on from there."""
    saved = {
        "late": 1,
        "horizon": 1772366376,
        "at": [1772366381, 1772366440],
        "buckets": {
            "a": [
                [1772366410, 1, 100.0, 100.0, 100.0, [1268, 1]],
                [1772366420, 2, 450.0, 200.0, 250.0, [1302, 1, 1314, 1]],
                [1772366600, 1, 7.0, 7.0, 7.0, [1135, 1]],  # beyond the ring: waits for the head
            ],
            "b": [[1772366430, 1, -3.0, -3.0, -3.0, [-1092, 1]]],
        },
    }
    w = NumericWindow(timedelta(minutes=1), lateness=timedelta(seconds=5), histogram=True)
    w.restore(orjson.loads(orjson.dumps(saved)))
    at = T0 + timedelta(seconds=40)
    assert w.late_lines == 1 and w.groups == 2
    assert w.values(at, "sum") == {"a": 550.0, "b": -3.0}
    assert w.values(at, "p50") == {"a": pytest.approx(198.37, rel=1e-4), "b": -3.0}
    window_add(w, [("a", 45, 300.0), ("b", 41, -1.0)])
    later = T0 + timedelta(seconds=70)
    assert w.values(later, "p50") == {"a": pytest.approx(252.18, rel=1e-4), "b": pytest.approx(-2.9742, rel=1e-4)}
    assert w.values(later, "count") == {"a": 3.0, "b": 2.0}
    assert w.values(T0 + timedelta(seconds=200), "sum") == {"a": 7.0}


def test_a_snapshot_restores_in_the_same_process_and_keeps_sums_that_overflow() -> None:
    live = NumericWindow(timedelta(minutes=1), histogram=True)
    window_add(live, [("big", 1, 1e308), ("big", 2, 1e308), ("small", 1, 3.0), ("ahead", 500, 1.0)])
    at = T0 + timedelta(seconds=10)
    expected = {fn: live.values(at, fn) for fn in ("sum", "avg", "p50", "max")}
    assert expected["sum"]["big"] == math.inf
    for state in (live.snapshot(), orjson.loads(orjson.dumps(live.snapshot()))):
        copy = NumericWindow(timedelta(minutes=1), histogram=True)
        copy.restore(state)
        assert {fn: copy.values(at, fn) for fn in expected} == expected
        assert copy.values(T0 + timedelta(seconds=500), "count") == {"ahead": 1.0}


# --- through the engine -----------------------------------------------------------------------------------


def test_a_percentile_fires_per_service_with_evidence_of_numbers_and_skips_what_is_not_one(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, spec(fn="p95", threshold=90))
    records = lines(1, "api", *range(1, 101)) + lines(2, "web", *range(1, 51)) + lines(3, "api", "slow", True)
    records += [{"ts": (T0 + timedelta(seconds=3)).isoformat(), "service": "api", "msg": "no duration"}]
    clock.now = T0 + timedelta(seconds=5)
    e.handle(stored(1, records))
    (alert,) = e.alerts()
    assert alert.labels == {"tenant": "default", "service": "api"} and str(alert.status) == "firing"
    assert alert.value == pytest.approx(95, rel=0.01)
    assert [s["message"] for s in alert.evidence] == ["api took 99", "api took 100"]
    (status,) = e.status()
    assert status["groups"] == 2
    (rule,) = [r for _, r in e._rules.values()]
    assert isinstance(rule, AggregateEvaluator) and rule.skipped_values == 2
    e.close()


def test_numeric_text_counts_and_severity_is_a_numeric_field(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(
        tmp_path, clock, spec(name="text", fn="max", threshold=10), spec(name="sev", field="severity", threshold=10)
    )
    clock.now = T0 + timedelta(seconds=5)
    recs = [*lines(1, "api", "12.5"), {"ts": T0.isoformat(), "service": "db", "level": "fatal", "msg": "down"}]
    e.handle(stored(1, recs))
    assert {(a.rule, a.labels["service"], a.value) for a in e.alerts()} == {("text", "api", 12.5), ("sev", "db", 21)}
    e.close()


def test_pending_with_for_then_firing(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, spec(**{"for": "30s"}))
    feed(e, clock, [(1, 1, lines(0, "api", 150)), (2, 21, lines(20, "api", 150))])
    assert [str(a.status) for a in e.alerts()] == ["pending"] and e.history() == []
    feed(e, clock, [(3, 41, lines(40, "api", 150))])
    assert [(s, at) for s, at, _, _ in valued_transitions(e)] == [("firing", (T0 + timedelta(seconds=40)).isoformat())]
    e.close()


@pytest.mark.parametrize(("resolve_at", "resolved_at"), [(None, 70), (80, 140)])
def test_hysteresis_keeps_the_alert_until_the_value_is_back_at_resolve_at(
    tmp_path: Path, resolve_at: float | None, resolved_at: int
) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, spec(resolve_at=resolve_at))
    feed(e, clock, [(1, 1, lines(0, "api", 110, 130)), (2, 71, lines(70, "api", 90)), (3, 141, lines(140, "api", 70))])
    log = valued_transitions(e)
    assert [(s, at) for s, at, _, _ in log] == [
        ("firing", T0.isoformat()),
        ("resolved", (T0 + timedelta(seconds=resolved_at)).isoformat()),
    ]
    assert log[1][3] == (90 if resolve_at is None else 70)
    e.close()


def test_a_group_that_disappears_resolves_even_for_too_little(tmp_path: Path) -> None:
    """With `op: <`, a host that stops reporting has no value — not 0, which would keep it firing forever."""
    clock = Clock()
    rule = spec(name="disk", group_by=["host"], field="free_mb", fn="min", op="<", threshold=100)
    e = engine(tmp_path, clock, rule)
    free = [{"ts": T0.isoformat(), "host": "a", "free_mb": 50}, {"ts": T0.isoformat(), "host": "b", "free_mb": 500}]
    later = [{"ts": (T0 + timedelta(seconds=120)).isoformat(), "host": "b", "free_mb": 400}]
    feed(e, clock, [(1, 1, free), (2, 121, later)])
    log = valued_transitions(e)
    assert [(s, labels["host"], value) for s, _, labels, value in log] == [("firing", "a", 50), ("resolved", "a", 50)]
    assert e.alerts() == []
    e.close()


def test_when_lines_stop_the_clock_resolves_the_alert_keeping_its_last_value(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, spec(op="<", threshold=10, field="rps", fn="max"))
    feed(e, clock, [(1, 1, lines(0, "api", 4, field="rps"))])
    assert [str(a.status) for a in e.alerts()] == ["firing"]
    clock.now = T0 + timedelta(minutes=5)
    e.tick()  # no line for minutes: the head follows the clock (now - max_delay)
    assert e.alerts() == []
    assert valued_transitions(e)[-1] == (
        "resolved",
        (clock.now - timedelta(seconds=5)).isoformat(),
        {"tenant": "default", "service": "api"},
        4,
    )
    e.close()


def test_min_count_holds_back_a_group_with_few_values(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, spec(fn="p99", min_count=5))
    feed(e, clock, [(1, 1, lines(0, "api", 900, 900, 900, 900))])
    assert e.alerts() == []
    feed(e, clock, [(2, 2, lines(1, "api", 900))])
    assert [a.value for a in e.alerts()] == [pytest.approx(900, rel=0.01)]
    e.close()


def test_late_lines_are_counted_not_evaluated(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, spec())
    feed(e, clock, [(1, 600, lines(600, "api", 10)), (2, 601, lines(10, "api", 1000, 1000))])
    assert e.alerts() == [] and e.status()[0]["late"] == 2
    e.close()


BATCHES = [
    (1, 1, lines(0, "api", 50) + lines(0, "web", 120)),  # web fires
    (2, 11, lines(10, "api", 300)),  # api fires: avg 175
    (3, 31, lines(30, "api", 20, 20) + lines(30, "web", 10)),  # api 97.5, web 65: both resolve
    (4, 41, lines(40, "api", 400)),  # api fires again: 100 + 400 → avg 158
    (5, 75, lines(75, "web", 200)),  # api: (15 s, 75 s] holds 20, 20, 400: avg 146.7; web 105 fires
    (6, 200, lines(200, "db", 1)),  # the others' windows empty: they resolve
]


@pytest.mark.parametrize("commit", [timedelta(0), timedelta(hours=1)])
@pytest.mark.parametrize("split", range(1, len(BATCHES)))
def test_a_restart_mid_window_neither_misses_nor_doubles_a_transition(
    tmp_path: Path, commit: timedelta, split: int
) -> None:
    rules = (spec(fn="avg"), spec(name="slow-p90", fn="p90", threshold=250))
    expected, replayed = restarted(tmp_path, rules, BATCHES, split, commit)
    assert [s for s, _, _, _ in expected].count("firing") == 5
    assert replayed == expected


def latencies(seconds: float, service: str, *values: float) -> list[dict[str, Any]]:
    return lines(seconds, service, *values, field="latency_ms")


P95_BATCHES = [
    (1, 1, latencies(0, "api", *range(100, 120)) + latencies(0, "web", *[100] * 15, *[900] * 5)),  # web pending
    (2, 12, latencies(11, "web", *[900] * 5)),  # web firing
    (3, 25, latencies(-100, "web", 5000) + latencies(300, "db", *[9999] * 5)),  # late; db far ahead: waits
    (4, 40, latencies(39, "api", *[2000] * 10)),  # api pending
    (5, 55, latencies(54, "web", *[400] * 40) + latencies(54, "api", 100)),  # api firing; web 400 holds (>300)
    (6, 80, latencies(79, "web", *[100] * 10)),  # the 900s have left: web 400, still above resolve_at
    (7, 130, latencies(129, "web", *[100] * 10)),  # api's window is empty: resolves; web resolves
    (8, 301, latencies(300, "api", 1)),  # db's lines come into the window: pending
    (9, 325, latencies(320, "db", *[9999] * 5)),  # db firing
    (10, 420, latencies(419, "web", 1)),  # db resolves
]


@pytest.mark.parametrize("split", range(1, len(P95_BATCHES)))
def test_a_p95_restart_with_late_and_early_lines_neither_misses_nor_doubles_a_transition(
    tmp_path: Path, split: int
) -> None:
    clock = Clock()
    rule = spec(name="p95", field="latency_ms", fn="p95", threshold=500, resolve_at=300, min_count=5, **{"for": "10s"})
    whole = engine(tmp_path / "whole", clock, rule)
    feed(whole, clock, P95_BATCHES)
    expected = valued_transitions(whole)
    assert [(s, labels["service"]) for s, _, labels, _ in expected] == [
        ("firing", "web"),
        ("firing", "api"),
        ("resolved", "api"),  # its window is empty: no value, its last one kept
        ("resolved", "web"),
        ("firing", "db"),
        ("resolved", "db"),
    ]
    assert whole.status()[0]["late"] == 1
    first = engine(tmp_path / "split", clock, rule, commit=timedelta(hours=1))
    feed(first, clock, P95_BATCHES[:split])
    # The process dies here (no close); the next one replays what came after the committed cursor.
    second = engine(tmp_path / "split", clock, rule, commit=timedelta(hours=1))
    feed(second, clock, P95_BATCHES)
    assert valued_transitions(second) == expected and second.status()[0]["late"] == 1
    whole.close()
    second.close()
