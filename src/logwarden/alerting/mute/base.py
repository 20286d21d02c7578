"""The one muting interface (Alertmanager's `types.Muter`): silences, inhibition rules and time intervals each
implement it, and the router asks each in turn before a notification is sent."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol


class Muter(Protocol):
    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        """Whether an alert with `labels` is muted at `now`."""
        ...

    def muted_by(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        """What mutes it (silence ids, the inhibiting alerts' fingerprints, interval names); empty when nothing."""
        ...
