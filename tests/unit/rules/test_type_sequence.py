"""`sequence` rules on the real engine with a fake clock: counts then a step (brute force that succeeded), a
trailing absence (a payment never finished) fired by the watermark and by the wall clock, lines out of order and
late, a negation in the middle, `for`, bounds, and a restart anywhere in the stream neither missing nor doubling
a transition."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from logwarden.bus.base import BusBatch
from logwarden.rules.base import BatchCache
from logwarden.rules.engine import RulesEngine
from logwarden.rules.loader import RulesError, load_rules_dir
from logwarden.rules.sequence_engine import MAX_PENDING, Line, Pattern, SequenceMatcher
from logwarden.rules.types.sequence import SequenceEvaluator, SequenceRule
from tests.unit.rules.harness import T0, stored
from tests.unit.rules.samples import make_dir

LATER = T0 + timedelta(hours=1)  # the wall clock, ahead of every line: heads are the newest event times
NOW, HOUR = timedelta(0), timedelta(hours=1)

BRIEF_EXAMPLES = """\
groups:
  - name: seeds
    rules:
      - name: brute-force-then-success
        type: sequence
        query: 'service:auth'
        by: [attrs.user]
        within: 5m
        steps:
          - name: failed
            query: 'event:LOGIN_FAILED'
            count: 3
          - name: ok
            query: 'event:LOGIN_OK'
      - name: payment-not-finished
        type: sequence
        query: 'service:payments'
        by: [attrs.order_id]
        within: 2m
        steps:
          - {name: started, query: 'event:PAYMENT_STARTED'}
          - {name: done, query: 'event:PAYMENT_DONE', absent: true}
"""


def brute_force(**overrides: Any) -> SequenceRule:
    settings: dict[str, Any] = {
        "name": "brute-force-then-success",
        "type": "sequence",
        "query": "service:auth",
        "by": ["attrs.user"],
        "within": "5m",
        "steps": [
            {"name": "failed", "query": "event:LOGIN_FAILED", "count": 3},
            {"name": "ok", "query": "event:LOGIN_OK"},
        ],
    }
    settings.update(overrides)
    return SequenceRule.model_validate(settings)


def payment(**overrides: Any) -> SequenceRule:
    settings: dict[str, Any] = {
        "name": "payment-not-finished",
        "type": "sequence",
        "query": "service:payments",
        "by": ["attrs.order_id"],
        "within": "2m",
        "steps": [
            {"name": "started", "query": "event:PAYMENT_STARTED"},
            {"name": "done", "query": "event:PAYMENT_DONE", "absent": True},
        ],
    }
    settings.update(overrides)
    return SequenceRule.model_validate(settings)


class Clock:
    def __init__(self, now: datetime = LATER) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def login(seconds: float, event: str, user: str | None = "alice") -> dict[str, Any]:
    record: dict[str, Any] = {"ts": at(seconds).isoformat(), "service": "auth", "event": event}
    record["msg"] = f"{event} {user} at {seconds}"
    if user is not None:
        record["user"] = user
    return record


def failed(user: str, *seconds: float) -> list[dict[str, Any]]:
    return [login(s, "LOGIN_FAILED", user) for s in seconds]


def pay(seconds: float, event: str, order: str) -> dict[str, Any]:
    return {
        "ts": at(seconds).isoformat(),
        "service": "payments",
        "event": event,
        "order_id": order,
        "msg": f"{event} {order}",
    }


def filler(seconds: float) -> dict[str, Any]:
    """A line no rule matches: it only moves the stream's head."""
    return {"ts": at(seconds).isoformat(), "service": "web", "msg": "GET /"}


def engine(path: Path, clock: Clock, *specs: SequenceRule, **kwargs: Any) -> RulesEngine:
    return RulesEngine(path, specs, clock=clock, idle=timedelta(0), tick=None, **kwargs)


def firing(e: RulesEngine, rule: str | None = None) -> dict[str, Any]:
    """Firing alerts by their key's value (the one label beside `tenant`)."""
    out = {}
    for a in e.alerts():
        if a.status == "firing" and (rule is None or a.rule == rule):
            (value,) = [v for k, v in a.labels.items() if k != "tenant"]
            out[value] = a
    return out


def log_of(e: RulesEngine) -> list[tuple[str, str, str, dict[str, str], float]]:
    return [(h["rule"], h["status"], h["at"], h["alert"]["labels"], h["alert"]["value"]) for h in reversed(e.history())]


# --- the rule file ------------------------------------------------------------------------------------------


def test_the_examples_load_from_a_rule_file_with_window_defaulting_to_within(tmp_path: Path) -> None:
    rules = load_rules_dir(make_dir(tmp_path, {"seq.yaml": BRIEF_EXAMPLES})).rules
    assert [type(r) for r in rules] == [SequenceRule, SequenceRule]
    brute, pay_rule = rules
    assert isinstance(brute, SequenceRule) and isinstance(pay_rule, SequenceRule)
    assert brute.window == brute.within == timedelta(minutes=5)
    assert brute.key_fields == ("attrs.user",)
    assert [(s.name, s.count, s.absent) for s in pay_rule.steps] == [("started", 1, False), ("done", 1, True)]
    assert brute_force(window="1m", group_by=["attrs.user"], by=[]).key_fields == ("attrs.user",)


@pytest.mark.parametrize(
    ("steps", "extra", "message"),
    [
        ("[{name: a, query: 'event:A'}]", "", "steps: a sequence has 2 to 20 steps, not 1"),
        ("[{name: a, query: 'event:A', absent: true}, {name: b, query: 'event:B'}]", "", "first step cannot be"),
        (
            "[{name: a, query: 'event:A'}, {name: b, query: 'event:B', absent: true, count: 2}]",
            "",
            "cannot have a count",
        ),
        ("[{name: a, query: 'event:A'}, {name: a, query: 'event:B'}]", "", "step name 'a' is used twice"),
        (
            "[{name: a, query: 'event:A'}, {name: b, query: 'event:('}]",
            "",
            "steps.1 (b).query: invalid query at column 8",
        ),
        ("[{name: a, query: 'event:A'}, {name: b, query: 'event:B'}]", "group_by: [host]", "give `by` or `group_by`"),
    ],
)
def test_an_invalid_sequence_is_refused_with_its_place(tmp_path: Path, steps: str, extra: str, message: str) -> None:
    text = f"""\
groups:
  - name: g
    rules:
      - name: bad
        type: sequence
        query: '*'
        {extra or "description: x"}
        by: [attrs.user]
        within: 1m
        steps: {steps}
"""
    with pytest.raises(RulesError) as caught:
        load_rules_dir(make_dir(tmp_path, {"bad.yaml": text}))
    (problem,) = caught.value.problems
    assert "groups.0 (g).rules.0 (bad)" in problem and message in problem


# --- counts then a step -------------------------------------------------------------------------------------


def test_brute_force_then_success_fires_in_the_batch_of_its_last_line_with_evidence(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, brute_force(samples=10))
    e.handle(
        stored(
            1,
            [
                *failed("alice", 0, 10, 20),
                *failed("bob", 5, 15),  # two failures only
                login(25, "LOGIN_OK", "bob"),
                login(26, "LOGIN_OK", "carol"),  # a success without failures
                login(30, "LOGIN_OK", "alice"),
            ],
        )
    )
    alerts = firing(e)
    assert set(alerts) == {"alice"}
    alert = alerts["alice"]
    assert alert.labels == {"tenant": "default", "attrs.user": "alice"}
    assert alert.value == 1 and alert.fired_at == at(30)  # the head is the success's time: no max_delay wait
    assert [(x["step"], x["message"]) for x in alert.evidence] == [
        ("failed", "LOGIN_FAILED alice at 0"),
        ("failed", "LOGIN_FAILED alice at 10"),
        ("failed", "LOGIN_FAILED alice at 20"),
        ("ok", "LOGIN_OK alice at 30"),
    ]
    assert all(x["log_id"] and x["service"] == "auth" for x in alert.evidence)
    assert alert.evidence[0]["ts"] == at(0).isoformat()
    # Nothing else completes; after `window` (= within, 5m) without a completion the alert resolves.
    e.handle(stored(2, [filler(329)]))
    assert set(firing(e)) == {"alice"}
    e.handle(stored(3, [filler(331)]))
    assert firing(e) == {}
    assert [(s, when, labels["attrs.user"]) for _, s, when, labels, _ in log_of(e)] == [
        ("firing", at(30).isoformat(), "alice"),
        ("resolved", at(331).isoformat(), "alice"),
    ]
    e.close()


def test_a_sequence_must_complete_within_its_bound_from_its_first_line(tmp_path: Path) -> None:
    e = engine(tmp_path, Clock(), brute_force())
    e.handle(
        stored(
            1,
            [
                *failed("dave", 0, 240, 270),  # three failures, but 0 → success is 5m10s
                login(310, "LOGIN_OK", "dave"),
                *failed("erin", 0, 180, 240, 270),  # the attempt from 180 s fits in 5m
                login(310, "LOGIN_OK", "erin"),
            ],
        )
    )
    assert set(firing(e)) == {"erin"}
    assert firing(e)["erin"].evidence[0]["message"] == "LOGIN_FAILED erin at 180"
    e.close()


def test_one_burst_completes_once_and_matching_starts_again_after_it(tmp_path: Path) -> None:
    e = engine(tmp_path, Clock(), brute_force(window="1h"))
    burst = [float(s) for s in range(10)]
    e.handle(stored(1, [*failed("alice", *burst), login(10, "LOGIN_OK")]))
    alert = firing(e)["alice"]
    assert alert.value == 1
    assert [x["message"] for x in alert.evidence] == [
        "LOGIN_FAILED alice at 7.0",
        "LOGIN_FAILED alice at 8.0",
        "LOGIN_FAILED alice at 9.0",
        "LOGIN_OK alice at 10",
    ]
    # The burst's lines are used up: two more failures and a success are not a second brute force.
    e.handle(stored(2, [*failed("alice", 20, 21), login(22, "LOGIN_OK")]))
    assert firing(e)["alice"].value == 1
    e.handle(stored(3, [*failed("alice", 30, 31, 32), login(33, "LOGIN_OK")]))
    assert firing(e)["alice"].value == 2
    assert [s for _, s, _, _, _ in log_of(e)] == ["firing"]
    e.close()


def test_lines_of_a_key_without_its_by_field_are_not_matched(tmp_path: Path) -> None:
    e = engine(tmp_path, Clock(), brute_force())
    e.handle(stored(1, [*(login(s, "LOGIN_FAILED", None) for s in (0, 1, 2)), login(3, "LOGIN_OK", None)]))
    assert e.alerts() == []
    assert e.status()[0]["groups"] == 0
    e.close()


def test_keys_appear_and_disappear_per_tenant(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, brute_force())
    e.handle(stored(1, [*failed("alice", 0, 1, 2), login(3, "LOGIN_OK")], tenant="a"))
    e.handle(stored(2, [*failed("alice", 4, 5)], tenant="b"))  # same user, another tenant: its own key
    assert {a.labels["tenant"] for a in e.alerts()} == {"a"}
    assert e.status()[0]["groups"] == 2
    e.handle(stored(3, [*failed("alice", 6)], tenant="b"))
    e.handle(stored(4, [login(7, "LOGIN_OK")], tenant="b"))
    assert {a.labels["tenant"] for a in e.alerts()} == {"a", "b"}
    # Once every attempt is over and the completions are out of the window, no key is kept.
    clock.now = at(1000)
    e.tick()
    assert e.alerts() == [] and e.status()[0]["groups"] == 0
    e.close()


# --- negation -----------------------------------------------------------------------------------------------


def test_a_trailing_absence_fires_when_within_passes_at_the_watermark(tmp_path: Path) -> None:
    e = engine(tmp_path, Clock(), payment())
    e.handle(
        stored(1, [pay(0, "PAYMENT_STARTED", "o1"), pay(10, "PAYMENT_STARTED", "o2"), pay(60, "PAYMENT_DONE", "o2")])
    )
    e.handle(stored(2, [filler(124)]))  # o1's deadline is 120 s; lines up to 5 s late may still come
    assert e.alerts() == []
    e.handle(stored(3, [filler(125)]))
    alert = firing(e)["o1"]
    assert set(firing(e)) == {"o1"} and alert.fired_at == at(125)
    assert [(x["step"], x["message"]) for x in alert.evidence] == [("started", "PAYMENT_STARTED o1")]
    e.handle(stored(4, [filler(300)]))
    assert [(s, when, labels["attrs.order_id"]) for _, s, when, labels, _ in log_of(e)] == [
        ("firing", at(125).isoformat(), "o1"),
        ("resolved", at(300).isoformat(), "o1"),  # window = within = 2m after the completion at 120 s
    ]
    e.close()


def test_a_trailing_absence_fires_by_the_wall_clock_when_nothing_arrives(tmp_path: Path) -> None:
    clock = Clock(at(1))
    e = engine(tmp_path, clock, payment())
    e.handle(stored(1, [pay(0, "PAYMENT_STARTED", "o1")]))
    clock.now = at(124)
    e.tick()  # the idle head is now - max_delay = 119 s: a PAYMENT_DONE at 119.5 s may still arrive
    assert e.alerts() == []
    clock.now = at(125)
    e.tick()
    assert set(firing(e)) == {"o1"} and firing(e)["o1"].fired_at == at(120)
    e.close()


def test_a_line_late_within_max_delay_still_counts_and_an_older_one_is_late(tmp_path: Path) -> None:
    e = engine(tmp_path, Clock(), payment())
    e.handle(stored(1, [pay(0, "PAYMENT_STARTED", "o1"), pay(0, "PAYMENT_STARTED", "o2"), filler(118)]))
    # The final point is 113 s: o1's DONE at 115 s is in time, o2's at 110 s is late.
    e.handle(stored(2, [pay(115, "PAYMENT_DONE", "o1"), pay(110, "PAYMENT_DONE", "o2")]))
    e.handle(stored(3, [filler(200)]))
    assert set(firing(e)) == {"o2"}
    assert e.status()[0]["late"] == 1
    e.close()


def test_an_absent_step_in_the_middle_ends_the_attempt(tmp_path: Path) -> None:
    spec = brute_force(
        name="reset-then-login",
        within="1m",
        steps=[
            {"name": "reset", "query": "event:RESET"},
            {"name": "no-mail", "query": "event:MAIL_SENT", "absent": True},
            {"name": "login", "query": "event:LOGIN_OK"},
        ],
    )
    e = engine(tmp_path, Clock(), spec)
    e.handle(
        stored(
            1,
            [
                *(login(s, ev, "u1") for s, ev in ((0, "RESET"), (10, "MAIL_SENT"), (20, "LOGIN_OK"))),
                *(login(s, ev, "u2") for s, ev in ((0, "RESET"), (20, "LOGIN_OK"))),
                *(login(s, ev, "u3") for s, ev in ((0, "RESET"), (10, "MAIL_SENT"), (15, "RESET"), (20, "LOGIN_OK"))),
            ],
        )
    )
    assert set(firing(e)) == {"u2", "u3"}
    assert [x["step"] for x in firing(e)["u3"].evidence] == ["reset", "login"]
    e.close()


def test_a_trailing_absence_uses_its_lines_once(tmp_path: Path) -> None:
    spec = payment(
        steps=[
            {"name": "packed", "query": "event:PACKED", "count": 2},
            {"name": "shipped", "query": "event:SHIPPED"},
            {"name": "delivered", "query": "event:DELIVERED", "absent": True},
        ]
    )
    e = engine(tmp_path, Clock(), spec)
    events = [(0, "PACKED"), (10, "PACKED"), (20, "SHIPPED"), (30, "PACKED"), (40, "SHIPPED")]
    e.handle(stored(1, [pay(s, name, "o1") for s, name in events]))
    e.handle(stored(2, [filler(200)]))
    # 0/10/20 s completes at 120 s; the attempt 10/30/40 s shares the line at 10 s: it ends with that match.
    alert = firing(e)["o1"]
    assert alert.value == 1
    assert [x["step"] for x in alert.evidence] == ["packed", "packed", "shipped"]
    e.close()


# --- order and lateness -------------------------------------------------------------------------------------


def test_lines_out_of_order_are_matched_in_event_time_order(tmp_path: Path) -> None:
    e = engine(tmp_path, Clock(), brute_force(max_delay="1m"))
    e.handle(stored(1, [login(30, "LOGIN_OK")]))  # the success arrives first
    assert e.alerts() == []
    e.handle(stored(2, failed("alice", 0, 10, 20)))  # its failures, earlier in event time, after it
    assert firing(e)["alice"].value == 1
    assert [x["step"] for x in firing(e)["alice"].evidence] == ["failed", "failed", "failed", "ok"]
    e.close()


def test_a_success_arriving_out_of_order_moves_the_completion_without_doubling_it(tmp_path: Path) -> None:
    e = engine(tmp_path, Clock(), brute_force(max_delay="1m"))
    e.handle(stored(1, [*failed("alice", 0, 10, 20), login(30, "LOGIN_OK")]))
    assert firing(e)["alice"].value == 1
    e.handle(stored(2, [login(25, "LOGIN_OK")]))  # the earlier success completes it; the one at 30 s then does not
    assert firing(e)["alice"].value == 1
    e.handle(stored(3, [filler(200)]))  # settled: still one completion
    assert firing(e)["alice"].value == 1
    assert [s for _, s, _, _, _ in log_of(e)] == ["firing"]
    e.close()


# --- alert states -------------------------------------------------------------------------------------------


def test_for_keeps_the_alert_pending_while_completions_last_less_than_it(tmp_path: Path) -> None:
    e = engine(tmp_path, Clock(), brute_force(**{"for": "1m"}))
    e.handle(stored(1, [*failed("alice", 0, 1, 2), login(3, "LOGIN_OK")]))
    assert [a.status for a in e.alerts()] == ["pending"]
    e.handle(stored(2, [filler(62)]))
    assert [a.status for a in e.alerts()] == ["pending"]  # the completion at 3 s holds for 59 s so far
    e.handle(stored(3, [filler(63)]))
    assert firing(e)["alice"].fired_at == at(63)
    e.close()


def test_keep_firing_for_holds_the_alert_after_its_window(tmp_path: Path) -> None:
    e = engine(tmp_path, Clock(), brute_force(window="1m", keep_firing_for="2m"))
    e.handle(stored(1, [*failed("alice", 0, 1, 2), login(3, "LOGIN_OK")]))
    e.handle(stored(2, [filler(100)]))  # the window is empty, but it keeps firing 2m after it last held
    assert set(firing(e)) == {"alice"}
    e.handle(stored(3, [filler(200)]))
    assert firing(e) == {}
    e.close()


# --- bounds -------------------------------------------------------------------------------------------------


def feed(rule: SequenceEvaluator, records: list[dict[str, Any]], seq: int) -> None:
    batch = stored(seq, records)
    rule.observe(batch.table, BatchCache(batch.table))
    rule.evaluate(LATER)


def test_max_runs_bounds_the_attempts_of_a_key(tmp_path: Path) -> None:
    records = [*failed("alice", 0, 10, 20, 290), login(305, "LOGIN_OK")]
    roomy = brute_force().evaluator()
    feed(roomy, records, 1)
    assert len(roomy.tracker.firing()) == 1 and roomy.dropped_runs == 0  # the attempt from 10 s
    tight = brute_force(max_runs=1).evaluator()
    feed(tight, records, 1)
    assert tight.tracker.firing() == [] and tight.dropped_runs == 3  # only the attempt from 0 s: over by 305 s
    # The attempt kept is the oldest, the furthest along: one burst still completes with a single run.
    burst = brute_force(max_runs=1).evaluator()
    feed(burst, [*failed("alice", 0, 10, 20), login(30, "LOGIN_OK")], 1)
    assert len(burst.tracker.firing()) == 1


def test_max_keys_forgets_the_least_recently_active_key(tmp_path: Path) -> None:
    rule = brute_force(max_keys=2).evaluator()
    feed(rule, [*failed("a", 0, 1), *failed("b", 2, 3), *failed("c", 4, 5)], 1)  # a is forgotten for c
    assert rule.evicted_keys == 1
    feed(rule, [*failed("a", 6), *failed("c", 7), login(8, "LOGIN_OK", "a"), login(9, "LOGIN_OK", "c")], 2)
    assert [a.labels["attrs.user"] for a in rule.tracker.firing()] == ["c"]
    assert rule.evicted_keys == 2 and rule.groups == 2


def test_pending_lines_per_key_are_bounded(tmp_path: Path) -> None:
    rule = brute_force(max_delay="1h").evaluator()
    feed(rule, [login(s / 100, "LOGIN_OK") for s in range(MAX_PENDING + 100)], 1)
    snapshot = rule.snapshot()["window"]
    (key,) = snapshot["keys"]
    assert len(key[3]) <= MAX_PENDING  # pending lines
    feed(rule, failed("alice", 0.5), 2)  # before the lines settled early: late
    assert rule.late_lines == 1


# --- checkpoints --------------------------------------------------------------------------------------------


def _mixed_stream() -> list[BusBatch]:
    return [
        stored(1, [*failed("alice", 0, 10), pay(0, "PAYMENT_STARTED", "o1"), pay(5, "PAYMENT_STARTED", "o2")]),
        stored(2, [*failed("alice", 20), *failed("bob", 21, 22, 23), pay(40, "PAYMENT_DONE", "o2")]),
        stored(3, [login(37, "LOGIN_OK"), pay(50, "PAYMENT_STARTED", "o3")]),  # alice completes (3 s late)
        stored(4, [login(60, "LOGIN_OK", "bob"), *failed("carol", 1), filler(124)]),  # carol's line is too late
        stored(5, [pay(123, "PAYMENT_DONE", "o3"), filler(126)]),  # o1 fires
        stored(6, [*failed("alice", 200, 201, 202), login(203, "LOGIN_OK"), filler(330)]),
        stored(7, [filler(700)]),  # everything resolves
    ]


@pytest.mark.parametrize(
    ("crash_after", "commit_every"),
    [(1, HOUR), (2, NOW), (3, HOUR), (4, NOW), (5, HOUR), (6, NOW)],  # every commit, or only with transitions
)
def test_a_restart_anywhere_neither_misses_nor_doubles_a_transition(
    tmp_path: Path, crash_after: int, commit_every: timedelta
) -> None:
    clock = Clock()
    specs = (brute_force(), payment())
    batches = _mixed_stream()
    whole = engine(tmp_path / "whole", clock, *specs)
    for b in batches:
        whole.handle(b)
    expected = log_of(whole)
    fired = [(rule, when, labels) for rule, status, when, labels, _ in expected if status == "firing"]
    assert fired == [
        ("brute-force-then-success", at(50).isoformat(), {"tenant": "default", "attrs.user": "alice"}),
        ("brute-force-then-success", at(124).isoformat(), {"tenant": "default", "attrs.user": "bob"}),
        ("payment-not-finished", at(126).isoformat(), {"tenant": "default", "attrs.order_id": "o1"}),
    ]
    assert [s for _, s, *_ in expected].count("resolved") == 3

    first = engine(tmp_path / "split", clock, *specs, commit_interval=commit_every)
    for b in batches[:crash_after]:
        first.handle(b)
    # The process dies here (no close); the next one is handed every batch after its committed cursor.
    second = engine(tmp_path / "split", clock, *specs)
    cursor = second.cursor() or 0
    assert cursor <= crash_after
    for b in batches:
        if b.seq > cursor:
            second.handle(b)
    assert log_of(second) == expected
    whole.close()
    second.close()


def test_a_snapshot_is_json_and_restores_to_the_same_state() -> None:
    batches = _mixed_stream()
    for spec in (brute_force(), payment()):
        rule = spec.evaluator()
        for b in batches[:3]:
            rule.observe(b.table, BatchCache(b.table))
            rule.evaluate(LATER)
        state = orjson.loads(orjson.dumps(rule.snapshot()))
        again = spec.evaluator()
        again.restore(state)
        assert orjson.loads(orjson.dumps(again.snapshot())) == state
        for b in batches[3:]:
            for r in (rule, again):
                r.observe(b.table, BatchCache(b.table))
            assert again.evaluate(LATER) == rule.evaluate(LATER)


# --- the matcher: arrival order does not matter -------------------------------------------------------------

PATTERNS = {
    "counts": [("failed", 3, False), ("ok", 1, False)],
    "guarded": [("a", 1, False), ("b", 1, True), ("c", 2, False)],
    "absent": [("started", 1, False), ("done", 1, True)],
    "mixed": [("a", 2, False), ("b", 1, True), ("c", 1, False), ("d", 1, True)],
}


def _completions(m: SequenceMatcher) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for key, log in m.done.items():
        out.setdefault(key, []).extend(log.times)
    for key, st in m.keys.items():
        out.setdefault(key, []).extend(c.at_us for c in st.t_done)
    return {k: sorted(v) for k, v in out.items() if v}


@pytest.mark.parametrize("name", sorted(PATTERNS))
@pytest.mark.parametrize("seed", range(12))
def test_matching_is_the_same_whatever_the_arrival_order_and_final_point(name: str, seed: int) -> None:
    """Lines arriving shuffled (never late), the final point moving at random: at every step the completions
    equal those of the same lines handed over sorted at once."""
    rng = random.Random(seed)
    steps = PATTERNS[name]
    pattern = Pattern.build(steps, within_us=60_000_000, max_runs=4, samples=3)
    lines = sorted(
        (
            (rng.randrange(0, 300) * 1_000_000, seq, 1 << rng.randrange(len(steps)), (f"id{seq}",))
            for seq in range(rng.randrange(40, 120))
        ),
        key=lambda line: (line[0], line[1]),
    )
    keyed = [(rng.choice("xyz"), line) for line in lines]
    arrival = sorted(keyed, key=lambda kl: kl[1][0] + rng.randrange(0, 30_000_000))  # up to 30 s out of order
    m = SequenceMatcher(pattern, max_keys=100)
    delivered: list[tuple[str, Line]] = []
    final = 0
    for start in range(0, len(arrival), 7):
        for key, line in arrival[start : start + 7]:
            m.add(key, line)
            delivered.append((key, line))
        rest = [line[0] for _, line in arrival[start + 7 :]]
        final = max(final, rng.randrange(final, (min(rest) if rest else 400_000_000)))
        m.advance(final)
        reference = SequenceMatcher(pattern, max_keys=100)
        for key, line in sorted(delivered, key=lambda kl: (kl[1][0], kl[1][1])):
            reference.add(key, line)
        reference.advance(final)
        assert _completions(m) == _completions(reference)
        if rng.random() < 0.3:  # a restored copy goes on the same way
            again = SequenceMatcher(pattern, max_keys=100)
            again.restore(orjson.loads(orjson.dumps(m.snapshot())))
            m = again
    assert m.late_lines == 0
