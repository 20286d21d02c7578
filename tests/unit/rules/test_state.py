"""The alert state machine on a fake (event-time) clock: pending → firing → resolved, `for`, keep_firing_for,
hysteresis, groups appearing and disappearing, and checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from logwarden.rules.state import AlertStatus, AlertTracker, fingerprint

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
API = {"service": "api"}
WEB = {"service": "web"}
FP_API = fingerprint("burst", API)
FP_WEB = fingerprint("burst", WEB)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def values(**by_service: float) -> dict[str, tuple[dict[str, str], float]]:
    return {fingerprint("burst", {"service": s}): ({"service": s}, v) for s, v in by_service.items()}


def test_fingerprints_are_stable_and_order_independent() -> None:
    assert fingerprint("r", {"a": "1", "b": "2"}) == fingerprint("r", {"b": "2", "a": "1"})
    assert fingerprint("r", {"a": "1"}) != fingerprint("r2", {"a": "1"})
    # Persisted alert state refers to fingerprints: the scheme must not change between versions.
    assert fingerprint("r", {"a": "1"}) == "e830913f101f7a3e"


def test_fires_at_once_without_for_and_resolves_when_the_value_drops() -> None:
    t = AlertTracker("burst", threshold=100)
    assert t.update(at(0), values(api=100)) == []  # not above the threshold
    (fired,) = t.update(at(1), values(api=101, web=3))
    assert (fired.status, fired.alert.labels, fired.alert.value, fired.at) == (AlertStatus.FIRING, API, 101, at(1))
    assert t.update(at(2), values(api=150)) == []  # still firing: no new transition
    (resolved,) = t.update(at(3), values(api=20))
    assert (resolved.status, resolved.alert.resolved_at, resolved.alert.value) == (AlertStatus.RESOLVED, at(3), 20)
    assert t.alerts == {}


def test_pending_for_then_firing_and_a_pending_alert_that_stops_never_fires() -> None:
    t = AlertTracker("burst", threshold=10, for_=timedelta(seconds=30))
    assert t.update(at(0), values(api=11, web=11)) == []
    assert {a.status for a in t.alerts.values()} == {AlertStatus.PENDING}
    assert t.update(at(10), values(api=12)) == []  # web stopped while pending: dropped silently
    assert set(t.alerts) == {FP_API}
    (fired,) = t.update(at(30), values(api=13))
    assert fired.status is AlertStatus.FIRING and fired.alert.active_at == at(0)


def test_a_group_that_disappears_counts_as_zero() -> None:
    t = AlertTracker("burst", threshold=1)
    t.update(at(0), values(api=5))
    (resolved,) = t.update(at(1), {})
    assert resolved.status is AlertStatus.RESOLVED and resolved.alert.value == 0


def test_keep_firing_for_holds_a_firing_alert_through_short_gaps() -> None:
    t = AlertTracker("burst", threshold=1, keep_firing_for=timedelta(seconds=60))
    t.update(at(0), values(api=5))
    assert t.update(at(30), values(api=0)) == []
    assert t.update(at(45), values(api=9)) == []  # back before the hold ran out: still the same alert
    assert t.update(at(100), values(api=0)) == []
    (resolved,) = t.update(at(105), values(api=0))
    assert resolved.at == at(105)


def test_hysteresis_resolves_only_below_the_recovery_threshold() -> None:
    t = AlertTracker("burst", threshold=100, recover=80)
    (fired,) = t.update(at(0), values(api=101))
    assert fired.status is AlertStatus.FIRING
    for i, v in enumerate([99, 100, 85, 81], start=1):  # hovering around the threshold: no flapping
        assert t.update(at(i), values(api=v)) == []
    (resolved,) = t.update(at(9), values(api=80))
    assert resolved.status is AlertStatus.RESOLVED
    # Once resolved, firing again needs the full threshold.
    assert t.update(at(10), values(api=90)) == []
    (again,) = t.update(at(11), values(api=101))
    assert again.status is AlertStatus.FIRING


def test_a_restored_tracker_goes_on_exactly_where_the_snapshot_was_taken() -> None:
    t = AlertTracker("burst", threshold=1, for_=timedelta(seconds=10))
    t.update(at(0), values(api=5, web=5))
    t.update(at(10), values(api=5, web=5))
    saved = t.snapshot()
    restored = AlertTracker("burst", threshold=1, for_=timedelta(seconds=10))
    restored.restore(saved)
    assert [a.to_json() for a in restored.alerts.values()] == saved["alerts"]
    original = t.update(at(20), values(api=0, web=5))
    replayed = restored.update(at(20), values(api=0, web=5))
    assert [(x.status, x.alert.fingerprint) for x in original] == [(x.status, x.alert.fingerprint) for x in replayed]
    assert [x.alert.fingerprint for x in original] == [FP_API]
    assert FP_WEB in restored.alerts


def test_an_alert_below_its_threshold_fires_for_too_little_and_recovers_above_its_level() -> None:
    t = AlertTracker("quiet", threshold=10, above=False, recover=20)
    assert [x.status for x in t.update(at(0), values(api=5))] == [AlertStatus.FIRING]
    assert t.update(at(1), values(api=15)) == []  # above 10 but not above the recovery level 20
    assert [x.status for x in t.update(at(2), values(api=25))] == [AlertStatus.RESOLVED]


def test_a_flapping_alert_is_held_firing_until_clear_for_the_flap_window() -> None:
    t = AlertTracker("flappy", threshold=1, flap_window=timedelta(minutes=10), flap_changes=3)
    statuses = []
    for minute in range(0, 6, 2):  # fires at 0, 2, 4, resolving in between
        statuses += [x.status for x in t.update(at(minute * 60), values(api=5))]
        statuses += [x.status for x in t.update(at(minute * 60 + 60), values(api=0))]
    # The third start of firing within 10 minutes makes it flap: the resolve after it is held back.
    assert statuses == [AlertStatus.FIRING, AlertStatus.RESOLVED] * 2 + [AlertStatus.FIRING]
    (alert,) = t.alerts.values()
    assert alert.flapping and alert.status is AlertStatus.FIRING
    assert t.update(at(4 * 60 + 9 * 60), values(api=0)) == []  # clear 9 minutes: still held
    saved = t.snapshot()
    again = AlertTracker("flappy", threshold=1, flap_window=timedelta(minutes=10), flap_changes=3)
    again.restore(saved)
    assert [x.status for x in again.update(at(4 * 60 + 11 * 60), values(api=0))] == [AlertStatus.RESOLVED]
