"""Inhibition (Alertmanager's `inhibit_rules`): a firing alert matching a rule's `source_matchers` mutes the alerts
matching its `target_matchers` that have the same values of every `equal` label.

Alertmanager's rules, plus one of logwarden's: a label missing on both sides counts as equal (missing is the empty
string); an alert that matches both the source and the target matchers is not muted by sources that do too, so an
alert never inhibits itself; and sources only mute targets of their own tenant (the `tenant` label), always.
The router feeds the firing alerts it holds with `set_firing` before each decision; sources are indexed by rule
and by their `equal` values, so one decision costs a dictionary lookup per rule whatever the number of alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from logwarden.alerting.config import InhibitRule
from logwarden.alerting.matchers import matches_all
from logwarden.alerting.model import AlertMessage

TENANT_LABEL = "tenant"

_Key = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Source:
    fingerprint: str
    labels: Mapping[str, str]
    also_target: bool  # matches the rule's target matchers too (excluded for targets that are sources too)


class Inhibitor:
    """The `Muter` of the inhibition rules; `muted_by` gives the inhibiting alerts' fingerprints."""

    def __init__(self, rules: Sequence[InhibitRule]) -> None:
        self.rules = tuple(rules)
        # Per rule: (tenant, *equal values) → the firing sources with those values. Replaced whole by set_firing,
        # so a decision on another thread sees either the old index or the new one.
        self._index: tuple[dict[_Key, list[_Source]], ...] = tuple({} for _ in self.rules)

    def set_firing(self, alerts: Iterable[AlertMessage]) -> None:
        """The alerts that fire now (resolved ones are ignored): the candidate sources of every rule."""
        index: tuple[dict[_Key, list[_Source]], ...] = tuple({} for _ in self.rules)
        for alert in alerts:
            if alert.status != "firing":
                continue
            for rule, sources in zip(self.rules, index, strict=True):
                if matches_all(rule.source_matchers, alert.labels):
                    source = _Source(alert.fingerprint, alert.labels, matches_all(rule.target_matchers, alert.labels))
                    sources.setdefault(_key(rule, alert.labels), []).append(source)
        self._index = index

    def _inhibitors(self, labels: Mapping[str, str], *, first: bool) -> list[str]:
        found: list[str] = []
        for rule, sources in zip(self.rules, self._index, strict=True):
            if not sources or not matches_all(rule.target_matchers, labels):
                continue
            # A target that is a source too is only muted by sources that are not targets themselves.
            also_source = matches_all(rule.source_matchers, labels)
            for source in sources.get(_key(rule, labels), ()):
                if (also_source and source.also_target) or source.labels == labels:
                    continue
                if source.fingerprint not in found:
                    found.append(source.fingerprint)
                    if first:
                        return found
        return found

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        """Whether a firing source of some rule mutes an alert with `labels` (`now` is not needed: the sources
        are the alerts firing as of the last `set_firing`)."""
        return bool(self._inhibitors(labels, first=True))

    def muted_by(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        """The fingerprints of every firing alert that mutes an alert with `labels`."""
        return self._inhibitors(labels, first=False)


def _key(rule: InhibitRule, labels: Mapping[str, str]) -> _Key:
    return (labels.get(TENANT_LABEL, ""), *(labels.get(name, "") for name in rule.equal))
