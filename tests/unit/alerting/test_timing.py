"""group_wait, group_interval and repeat_interval on a fake clock, through the real RouterCore: Alertmanager's
documented behaviour step by step, and the cases its users found confusing (alertmanager #676, #2166, #3370 and
their neighbours) — the same cases docs/alerting.md ("Grouping and timing") draws."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from logwarden.alerting.config import AlertingConfig
from logwarden.alerting.dispatch.core import Outgoing, RouterCore
from logwarden.alerting.model import AlertMessage
from logwarden.alerting.notify.dedup import Reason

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
S, M, H = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)


def core(send_resolved: bool = True, **route: Any) -> RouterCore:
    hook = {"url": "http://127.0.0.1:9099/hook", "send_resolved": send_resolved}
    config = AlertingConfig.model_validate(
        {
            "route": {"receiver": "ops", "group_by": ["alertname"], **route},
            "receivers": [{"name": "ops", "webhook": hook}],
        }
    )
    return RouterCore(config)


def fire(fp: str, at: timedelta = timedelta(0), name: str = "HighErrors", **labels: str) -> AlertMessage:
    return AlertMessage(
        fingerprint=fp,
        status="firing",
        labels={"alertname": name, "tenant": "default", "host": fp, **labels},
        starts_at=T0 + at,
    )


def resolve(alert: AlertMessage, at: timedelta) -> AlertMessage:
    return replace(alert, status="resolved", ends_at=T0 + at)


def ack(alert: AlertMessage, at: timedelta) -> AlertMessage:
    return replace(alert, acked={"by": "ana", "at": (T0 + at).isoformat(), "comment": "on it"})


@dataclass(frozen=True)
class Sent:
    at: timedelta
    reason: Reason
    firing: tuple[str, ...]
    resolved: tuple[str, ...]


def run(router: RouterCore, events: Sequence[tuple[timedelta, AlertMessage]], until: timedelta) -> list[Sent]:
    """Drive `router` like the router thread would: put each alert at its time, step whenever something is due."""
    pending = sorted(events, key=lambda e: e[0])
    sent: list[Sent] = []
    i = 0
    while True:
        due = router.next_due()
        times = [t for t in (due, T0 + pending[i][0] if i < len(pending) else None) if t is not None]
        if not times or min(times) > T0 + until:
            return sent
        now = min(times)
        while i < len(pending) and T0 + pending[i][0] == now:
            router.put(pending[i][1], now)
            i += 1
        sent += [_sent(o, now) for o in router.step(now)]


def _sent(out: Outgoing, now: datetime) -> Sent:
    assert out.notification is not None
    n = out.notification
    return Sent(now - T0, out.reason, tuple(a.fingerprint for a in n.firing), tuple(a.fingerprint for a in n.resolved))


def times(sent: list[Sent]) -> list[timedelta]:
    return [s.at for s in sent]


# --- group_wait ------------------------------------------------------------------------------------------------


def test_first_notification_waits_group_wait_and_batches_what_arrives_meanwhile() -> None:
    a, b = fire("a"), fire("b", 10 * S)
    sent = run(core(), [(0 * S, a), (10 * S, b)], until=4 * M)
    assert sent == [Sent(30 * S, Reason.FIRST, ("a", "b"), ())]


def test_nothing_is_sent_before_group_wait() -> None:
    router = core()
    router.put(fire("a"), T0)
    assert router.next_due() == T0 + 30 * S
    assert router.step(T0 + 29 * S) == []
    assert len(router.step(T0 + 30 * S)) == 1


def test_group_wait_zero_notifies_at_once() -> None:
    router = core(group_wait="0s", group_interval="1m", repeat_interval="4h")
    router.put(fire("a"), T0)
    assert router.next_due() == T0
    [out] = router.step(T0)
    assert out.reason is Reason.FIRST and out.at == T0


def test_an_alert_that_already_waited_group_wait_is_not_made_to_wait_again() -> None:
    # Alertmanager's rule for a new group: an alert that started firing group_wait ago (a restart, a late
    # delivery) flushes the group at once.
    router = core()
    router.put(fire("a", at=-5 * M), T0)
    assert router.next_due() == T0
    assert [o.reason for o in router.step(T0)] == [Reason.FIRST]


def test_the_catch_up_rule_does_not_apply_after_the_first_flush() -> None:
    router = core()
    router.put(fire("a"), T0)
    router.step(T0 + 30 * S)
    router.put(fire("b", at=-1 * H), T0 + 1 * M)
    assert router.next_due() == T0 + 30 * S + 5 * M


def test_a_late_step_flushes_then_ticks_group_interval_from_when_it_ran() -> None:
    # Like Alertmanager's timer reset: a router that wakes late does not fire a burst of missed ticks.
    router = core()
    router.put(fire("a"), T0)
    late = T0 + 30 * S + 12 * M
    [out] = router.step(late)
    assert out.at == late and out.nflog_entry.sent_at == late
    assert router.next_due() == late + 5 * M


def test_groups_keep_their_own_timers() -> None:
    sent = run(core(), [(0 * S, fire("a", name="A")), (2 * M, fire("b", 2 * M, name="B"))], until=3 * M)
    assert [(s.at, s.firing) for s in sent] == [(30 * S, ("a",)), (2 * M + 30 * S, ("b",))]


# --- group_interval -------------------------------------------------------------------------------------------


def test_an_alert_joining_after_the_first_flush_waits_for_the_next_group_interval_tick() -> None:
    sent = run(core(), [(0 * S, fire("a")), (1 * M, fire("b", 1 * M))], until=20 * M)
    assert sent == [
        Sent(30 * S, Reason.FIRST, ("a",), ()),
        Sent(5 * M + 30 * S, Reason.NEW_FIRING, ("a", "b"), ()),
    ]


def test_unchanged_ticks_send_nothing() -> None:
    router = core()
    sent = run(router, [(0 * S, fire("a"))], until=3 * H)
    assert times(sent) == [30 * S]
    assert router.next_due() == T0 + 30 * S + 36 * (5 * M)  # the group still ticks every group_interval


def test_the_resolved_notification_waits_for_the_next_tick_then_the_group_is_gone() -> None:
    # alertmanager #1660 / #3210: "resolved" comes at the group's next tick, not when the alert resolves.
    router = core()
    a = fire("a")
    sent = run(router, [(0 * S, a), (1 * M, resolve(a, 1 * M))], until=1 * H)
    assert sent == [Sent(30 * S, Reason.FIRST, ("a",), ()), Sent(5 * M + 30 * S, Reason.ALL_RESOLVED, (), ("a",))]
    assert router.take_dropped() == ["a"]
    assert router.groups() == [] and router.next_due() is None


def test_one_resolved_alert_among_firing_ones_is_notified_at_the_tick() -> None:
    a, b = fire("a"), fire("b")
    sent = run(core(), [(0 * S, a), (0 * S, b), (2 * M, resolve(b, 2 * M))], until=20 * M)
    assert sent == [Sent(30 * S, Reason.FIRST, ("a", "b"), ()), Sent(5 * M + 30 * S, Reason.RESOLVED, ("a",), ("b",))]


def test_resolved_and_firing_again_within_one_interval_sends_no_resolved_notice() -> None:
    # alertmanager #2398: the tick only sees the state at the tick.
    a = fire("a")
    again = fire("a", 3 * M)
    sent = run(core(), [(0 * S, a), (1 * M, resolve(a, 1 * M)), (3 * M, again)], until=1 * H)
    assert times(sent) == [30 * S]


def test_alerts_that_fire_and_resolve_before_the_first_flush_send_nothing() -> None:
    router = core()
    a = fire("a")
    sent = run(router, [(0 * S, a), (10 * S, resolve(a, 10 * S))], until=1 * H)
    assert sent == []
    assert router.take_dropped() == ["a"]


# --- repeat_interval ------------------------------------------------------------------------------------------


def test_a_continuous_condition_repeats_every_repeat_interval() -> None:
    sent = run(core(), [(0 * S, fire("a"))], until=9 * H)
    assert times(sent) == [30 * S, 4 * H + 30 * S, 8 * H + 30 * S]
    assert [s.reason for s in sent] == [Reason.FIRST, Reason.REPEAT, Reason.REPEAT]


def test_repeat_comes_on_the_first_tick_after_repeat_interval() -> None:
    # alertmanager #2166, #2647: reminders only go out on group_interval ticks, so repeat_interval is rounded up
    # to a multiple of group_interval (12m with 5m ticks: every 15m).
    sent = run(core(group_interval="5m", repeat_interval="12m"), [(0 * S, fire("a"))], until=50 * M)
    assert times(sent) == [30 * S, 15 * M + 30 * S, 30 * M + 30 * S, 45 * M + 30 * S]


def test_group_wait_shifts_the_ticks_the_repeats_land_on() -> None:
    # alertmanager #2601/#2647: group_wait 15m, group_interval 15m, repeat_interval 20m → every 30m.
    router = core(group_wait="15m", group_interval="15m", repeat_interval="20m")
    sent = run(router, [(0 * S, fire("a"))], until=2 * H)
    assert times(sent) == [15 * M, 45 * M, 75 * M, 105 * M]


def test_repeat_interval_equal_to_group_interval_repeats_every_tick() -> None:
    # alertmanager #676: "group_interval 5m, repeat_interval 5m: a mail every 10 minutes". Alertmanager stamps its
    # log after sending, so the tick at exactly 5m sees 4m59.9s; logwarden stamps the flush instant.
    sent = run(core(group_interval="5m", repeat_interval="5m"), [(0 * S, fire("a"))], until=21 * M)
    assert times(sent) == [30 * S, 5 * M + 30 * S, 10 * M + 30 * S, 15 * M + 30 * S, 20 * M + 30 * S]


def test_repeat_interval_not_a_multiple_of_group_interval() -> None:
    # alertmanager #676's second case: 3m ticks, 5m repeat → every 6 minutes.
    sent = run(core(group_interval="3m", repeat_interval="5m"), [(0 * S, fire("a"))], until=19 * M)
    assert times(sent) == [30 * S, 6 * M + 30 * S, 12 * M + 30 * S, 18 * M + 30 * S]


def test_repeat_interval_shorter_than_group_interval_repeats_every_group_interval() -> None:
    # alertmanager #3370: group_wait 5s, group_interval 1m, repeat_interval 15s → every minute, not every 15s.
    router = core(group_wait="5s", group_interval="1m", repeat_interval="15s")
    sent = run(router, [(0 * S, fire("a"))], until=3 * M + 10 * S)
    assert times(sent) == [5 * S, 1 * M + 5 * S, 2 * M + 5 * S, 3 * M + 5 * S]


def test_a_change_in_the_group_restarts_the_repeat_clock() -> None:
    # alertmanager #2166's "unpredictable" reminders: any notification about the group (here b joining) counts as
    # the last one, so the next reminder is repeat_interval after it, not after the first notification.
    sent = run(core(repeat_interval="1h"), [(0 * S, fire("a")), (40 * M, fire("b", 40 * M))], until=3 * H)
    assert [(s.at, s.reason) for s in sent] == [
        (30 * S, Reason.FIRST),
        (40 * M + 30 * S, Reason.NEW_FIRING),
        (1 * H + 40 * M + 30 * S, Reason.REPEAT),
        (2 * H + 40 * M + 30 * S, Reason.REPEAT),
    ]


def test_a_short_lived_alert_between_ticks_still_sends_its_resolved_notice() -> None:
    # alertmanager #2320: b fires and resolves between two ticks; the tick sends "b resolved" with a still firing.
    b = fire("b", 41 * M)
    sent = run(core(repeat_interval="24h"), [(0 * S, fire("a")), (41 * M, b), (43 * M, resolve(b, 43 * M))], 2 * H)
    assert sent == [Sent(30 * S, Reason.FIRST, ("a",), ()), Sent(45 * M + 30 * S, Reason.RESOLVED, ("a",), ("b",))]


def test_without_send_resolved_the_short_lived_alert_is_not_mentioned() -> None:
    b = fire("b", 41 * M)
    router = core(send_resolved=False, repeat_interval="24h")
    sent = run(router, [(0 * S, fire("a")), (41 * M, b), (43 * M, resolve(b, 43 * M))], 2 * H)
    assert times(sent) == [30 * S]


# --- acknowledgement --------------------------------------------------------------------------------------------


def test_ack_stops_repeats_until_something_changes() -> None:
    a = fire("a")
    b = fire("b", 5 * H)
    events = [(0 * S, a), (1 * H, ack(a, 1 * H)), (5 * H, b), (14 * H, resolve(a, 14 * H))]
    sent = run(core(), events, until=20 * H)
    assert [(s.at, s.reason, s.firing, s.resolved) for s in sent] == [
        (30 * S, Reason.FIRST, ("a",), ()),
        # No reminder at 4h: a is acknowledged. b is new and not acknowledged: notified at the next tick …
        (5 * H + 30 * S, Reason.NEW_FIRING, ("a", "b"), ()),
        # … and reminded about, since not every firing alert is acknowledged.
        (9 * H + 30 * S, Reason.REPEAT, ("a", "b"), ()),
        (13 * H + 30 * S, Reason.REPEAT, ("a", "b"), ()),
        (14 * H + 30 * S, Reason.RESOLVED, ("b",), ("a",)),
        (18 * H + 30 * S, Reason.REPEAT, ("b",), ()),  # a was dropped after its resolved notice
    ]


def test_an_acknowledged_alert_still_sends_its_resolved_notice() -> None:
    a = fire("a")
    sent = run(core(), [(0 * S, a), (1 * M, ack(a, 1 * M)), (10 * H, resolve(ack(a, 1 * M), 10 * H))], until=12 * H)
    assert [(s.at, s.reason) for s in sent] == [(30 * S, Reason.FIRST), (10 * H + 30 * S, Reason.ALL_RESOLVED)]


# --- the notification log survives the groups -------------------------------------------------------------------


def test_a_restart_with_the_log_kept_does_not_notify_again() -> None:
    first = core()
    run(first, [(0 * S, fire("a"))], until=1 * H)
    # A new core (a restart) with the log it persisted and the alert it held: the group flushes at once (the alert
    # waited group_wait long ago) and finds the log entry — nothing new to say until repeat_interval.
    again = core()
    again.nflog.update(first.nflog)
    again.put(fire("a"), T0 + 1 * H)
    assert again.next_due() == T0 + 1 * H
    assert again.step(T0 + 1 * H) == []
    sent = run(again, [], until=5 * H)
    # The new group ticks at 1h + k·5m; the first tick at least 4h after the last notification (30s) is 4h05m.
    assert times(sent) == [4 * H + 5 * M]


def test_the_timeline_drawn_in_docs_alerting_md() -> None:
    # docs/alerting.md, "Grouping and timing": keep the picture true.
    a, b, c = fire("A"), fire("B", 10 * S), fire("C", 2 * M)
    events = [
        (0 * S, a),
        (10 * S, b),
        (2 * M, c),
        (12 * M, resolve(a, 12 * M)),
        (33 * M, resolve(b, 33 * M)),
        (33 * M, resolve(c, 33 * M)),
    ]
    router = core(group_by=[], group_wait="30s", group_interval="5m", repeat_interval="15m")
    sent = run(router, events, until=1 * H)
    assert [(s.at, s.reason, s.firing, s.resolved) for s in sent] == [
        (30 * S, Reason.FIRST, ("A", "B"), ()),
        (5 * M + 30 * S, Reason.NEW_FIRING, ("A", "B", "C"), ()),
        (15 * M + 30 * S, Reason.RESOLVED, ("B", "C"), ("A",)),
        (30 * M + 30 * S, Reason.REPEAT, ("B", "C"), ()),
        (35 * M + 30 * S, Reason.ALL_RESOLVED, (), ("B", "C")),
    ]
    assert router.groups() == []
