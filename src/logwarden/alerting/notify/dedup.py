"""The notification log's decision (Alertmanager's `DedupStage.needsUpdate`): does a group's state at a flush need a
notification to an integration, given what that integration was last sent?

The log keeps, per (group, receiver/integration), the fingerprints last notified as firing and as resolved and when.
A flush notifies when:
- nothing was sent before and something fires (a group of only resolved alerts the receiver never heard of stays
  quiet);
- an alert fires that was not firing in the last notification (after an all-resolved notification this counts as a
  first notification);
- nothing fires any more but the last notification had firing alerts — always, even with `send_resolved: false`, so
  the log forgets the firing state (the notifier then sends nothing);
- with `send_resolved`, an alert resolved that was not notified as resolved;
- otherwise, when `repeat_interval` has elapsed since the last notification — unless every firing alert is
  acknowledged (logwarden's ack: it stops the reminders until the alert resolves; a new unacknowledged alert still
  notifies through the rules above).

One difference from Alertmanager, deliberate: `sent_at` is the flush instant and the repeat test is `elapsed >=
repeat_interval`. Alertmanager stamps the entry after sending and tests `elapsed > repeat_interval`, so with
`repeat_interval` equal to `group_interval` (or any multiple of it) its reminders come one tick late —
alertmanager#676's "5m and 5m gives a mail every 10 minutes". Here they come when configured.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


class Reason(enum.StrEnum):
    """Why a notification is sent (kept in the history)."""

    FIRST = "first notification"
    NEW_FIRING = "new alerts firing"
    RESOLVED = "alerts resolved"
    ALL_RESOLVED = "all alerts resolved"
    REPEAT = "repeat interval elapsed"


@dataclass(frozen=True, slots=True)
class NflogEntry:
    """What one integration was last notified about one group: firing and resolved fingerprints, and when."""

    firing: frozenset[str]
    resolved: frozenset[str]
    sent_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"firing": sorted(self.firing), "resolved": sorted(self.resolved), "sent_at": self.sent_at.isoformat()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NflogEntry:
        return cls(
            firing=frozenset(str(f) for f in data.get("firing") or ()),
            resolved=frozenset(str(f) for f in data.get("resolved") or ()),
            sent_at=datetime.fromisoformat(str(data["sent_at"])),
        )


def update_reason(
    entry: NflogEntry | None,
    firing: Set[str],
    resolved: Set[str],
    *,
    send_resolved: bool,
    repeat_interval: timedelta,
    now: datetime,
    acked: Set[str] = frozenset(),
) -> Reason | None:
    """Why the group state (`firing`, `resolved` fingerprints) needs a notification given the last one (`entry`),
    or None when it does not. `acked`: fingerprints of acknowledged alerts."""
    if entry is None:
        return Reason.FIRST if firing else None
    if not firing <= entry.firing:
        return Reason.NEW_FIRING if entry.firing else Reason.FIRST
    if not firing:
        # Fired and resolved between two flushes, never notified: the receiver does not know about them.
        return Reason.ALL_RESOLVED if entry.firing else None
    if send_resolved and not resolved <= entry.resolved:
        return Reason.RESOLVED
    if firing <= acked:
        return None
    return Reason.REPEAT if now - entry.sent_at >= repeat_interval else None


def needs_update(
    entry: NflogEntry | None,
    firing: Set[str],
    resolved: Set[str],
    *,
    send_resolved: bool,
    repeat_interval: timedelta,
    now: datetime,
    acked: Set[str] = frozenset(),
) -> bool:
    """Whether the group state needs a notification (`update_reason` is not None)."""
    reason = update_reason(
        entry, firing, resolved, send_resolved=send_resolved, repeat_interval=repeat_interval, now=now, acked=acked
    )
    return reason is not None
