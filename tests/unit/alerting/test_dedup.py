"""The notification log's decision, case by case (Alertmanager's DedupStage.needsUpdate, plus acknowledgements)."""

from __future__ import annotations

import json
from collections.abc import Set
from datetime import UTC, datetime, timedelta, timezone

import pytest

from logwarden.alerting.notify.dedup import NflogEntry, Reason, needs_update, update_reason

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REPEAT = timedelta(hours=4)


def entry(firing: Set[str], resolved: Set[str] = frozenset(), at: datetime = T0) -> NflogEntry:
    return NflogEntry(frozenset(firing), frozenset(resolved), at)


def reason(
    last: NflogEntry | None,
    firing: Set[str],
    resolved: Set[str] = frozenset(),
    *,
    send_resolved: bool = True,
    now: datetime = T0 + timedelta(minutes=5),
    acked: Set[str] = frozenset(),
) -> Reason | None:
    return update_reason(
        last, firing, resolved, send_resolved=send_resolved, repeat_interval=REPEAT, now=now, acked=acked
    )


def test_first_notification_needs_something_firing() -> None:
    assert reason(None, {"a"}) is Reason.FIRST
    assert reason(None, set(), {"a"}) is None
    assert reason(None, set()) is None


def test_a_new_firing_alert_notifies_at_once() -> None:
    assert reason(entry({"a"}), {"a", "b"}) is Reason.NEW_FIRING
    # After an all-resolved notification the group starts over.
    assert reason(entry(set(), {"a"}), {"a"}) is Reason.FIRST


def test_fewer_firing_alerts_alone_do_not_notify() -> None:
    # `b` went away without a resolved state (e.g. its resolved notice was muted): nothing new to say.
    assert reason(entry({"a", "b"}), {"a"}) is None


def test_all_resolved_notifies_even_without_send_resolved() -> None:
    assert reason(entry({"a"}), set(), {"a"}) is Reason.ALL_RESOLVED
    assert reason(entry({"a"}), set(), {"a"}, send_resolved=False) is Reason.ALL_RESOLVED


def test_alerts_that_fired_and_resolved_unseen_stay_quiet() -> None:
    assert reason(entry(set(), {"x"}), set(), {"a"}) is None


def test_a_newly_resolved_alert_notifies_only_with_send_resolved() -> None:
    last = entry({"a", "b"})
    assert reason(last, {"a"}, {"b"}) is Reason.RESOLVED
    assert reason(last, {"a"}, {"b"}, send_resolved=False) is None
    # Already notified as resolved: nothing new.
    assert reason(entry({"a"}, {"b"}), {"a"}, {"b"}) is None


def test_repeat_when_repeat_interval_has_elapsed_inclusive() -> None:
    last = entry({"a"})
    assert reason(last, {"a"}, now=T0 + REPEAT - timedelta(microseconds=1)) is None
    assert reason(last, {"a"}, now=T0 + REPEAT) is Reason.REPEAT
    assert reason(last, {"a"}, now=T0 + REPEAT + timedelta(minutes=1)) is Reason.REPEAT


def test_acknowledged_alerts_are_not_repeated() -> None:
    late = T0 + 3 * REPEAT
    assert reason(entry({"a"}), {"a"}, now=late, acked={"a"}) is None
    assert reason(entry({"a", "b"}), {"a", "b"}, now=late, acked={"a", "b"}) is None
    # One firing alert not acknowledged: the reminder comes, for the group.
    assert reason(entry({"a", "b"}), {"a", "b"}, now=late, acked={"a"}) is Reason.REPEAT


def test_acknowledgement_does_not_hide_changes() -> None:
    assert reason(entry({"a"}), {"a", "b"}, acked={"a"}) is Reason.NEW_FIRING
    assert reason(entry({"a"}), set(), {"a"}, acked={"a"}) is Reason.ALL_RESOLVED
    assert reason(entry({"a", "b"}), {"a"}, {"b"}, acked={"a"}) is Reason.RESOLVED


@pytest.mark.parametrize(
    ("last", "firing", "resolved", "expected"),
    [
        (None, {"a"}, set(), True),
        (None, set(), {"a"}, False),
        (entry({"a"}), {"a"}, set(), False),
        (entry({"a"}), {"a", "b"}, set(), True),
        (entry({"a"}), set(), {"a"}, True),
        (entry({"a"}, at=T0 - REPEAT), {"a"}, set(), True),
    ],
)
def test_needs_update_is_update_reason_not_none(
    last: NflogEntry | None, firing: set[str], resolved: set[str], expected: bool
) -> None:
    now = T0 + timedelta(minutes=5)
    assert needs_update(last, firing, resolved, send_resolved=True, repeat_interval=REPEAT, now=now) is expected


def test_entry_json_round_trip_keeps_sets_and_instant() -> None:
    shanghai = timezone(timedelta(hours=8))
    original = NflogEntry(frozenset({"b", "a"}), frozenset({"c"}), datetime(2026, 3, 1, 20, 0, 5, 123, shanghai))
    data = json.loads(json.dumps(original.to_json()))
    assert data == {"firing": ["a", "b"], "resolved": ["c"], "sent_at": "2026-03-01T20:00:05.000123+08:00"}
    back = NflogEntry.from_json(data)
    assert back == original
    assert back.sent_at == datetime(2026, 3, 1, 12, 0, 5, 123, UTC)


def test_entry_from_json_tolerates_missing_lists() -> None:
    back = NflogEntry.from_json({"sent_at": T0.isoformat()})
    assert back == NflogEntry(frozenset(), frozenset(), T0)
