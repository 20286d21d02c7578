"""Inhibition: Alertmanager's rules (source, target, `equal`; a label missing on both sides is equal; an alert never
inhibits itself), plus tenants: a source only mutes its own tenant's alerts."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from logwarden.alerting.config import InhibitRule
from logwarden.alerting.model import AlertMessage, Status
from logwarden.alerting.mute.inhibit import Inhibitor

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SEED = InhibitRule(
    source_matchers=['alertname="service-down"', 'severity="critical"'],
    target_matchers=['severity="warning"'],
    equal=["service"],
)


def alert(status: Status = "firing", **labels: str) -> AlertMessage:
    labels.setdefault("tenant", "default")
    fingerprint = hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:32]
    return AlertMessage(fingerprint=fingerprint, status=status, labels=labels)


def down(service: str, **labels: Any) -> AlertMessage:
    return alert(alertname="service-down", severity="critical", service=service, **labels)


def warning(service: str, **labels: Any) -> AlertMessage:
    return alert(alertname="slow-requests", severity="warning", service=service, **labels)


def test_a_critical_service_down_mutes_that_services_warnings() -> None:
    inhibitor = Inhibitor([SEED])
    api_down = down("api")
    inhibitor.set_firing([api_down, warning("api"), warning("web")])
    assert inhibitor.mutes(warning("api").labels, NOW)
    assert inhibitor.muted_by(warning("api").labels, NOW) == [api_down.fingerprint]
    assert not inhibitor.mutes(warning("web").labels, NOW)  # another service
    assert inhibitor.muted_by(warning("web").labels, NOW) == []
    info = alert(alertname="slow-requests", severity="info", service="api")
    assert not inhibitor.mutes(info.labels, NOW)  # not a target
    assert not inhibitor.mutes(api_down.labels, NOW)  # the source itself


def test_only_firing_sources_inhibit_and_set_firing_replaces_them() -> None:
    inhibitor = Inhibitor([SEED])
    inhibitor.set_firing([down("api", status="resolved")])
    assert not inhibitor.mutes(warning("api").labels, NOW)
    inhibitor.set_firing([down("api")])
    assert inhibitor.mutes(warning("api").labels, NOW)
    inhibitor.set_firing([warning("api")])  # the outage ended
    assert not inhibitor.mutes(warning("api").labels, NOW)


def test_a_label_missing_on_both_sides_counts_as_equal() -> None:
    rule = SEED.model_copy(update={"equal": ["service", "cluster"]})
    inhibitor = Inhibitor([rule])
    inhibitor.set_firing([down("api")])  # no cluster
    assert inhibitor.mutes(warning("api").labels, NOW)  # no cluster either
    assert inhibitor.mutes(warning("api", cluster="").labels, NOW)  # empty is missing
    assert not inhibitor.mutes(warning("api", cluster="eu").labels, NOW)
    inhibitor.set_firing([down("api", cluster="eu")])
    assert not inhibitor.mutes(warning("api").labels, NOW)
    assert inhibitor.mutes(warning("api", cluster="eu").labels, NOW)
    # Without `equal` every target is muted while a source fires (of the same tenant).
    everything = Inhibitor([SEED.model_copy(update={"equal": []})])
    everything.set_firing([down("api")])
    assert everything.mutes(warning("web").labels, NOW)


def test_an_alert_never_inhibits_itself() -> None:
    # Source and target sides overlap: an alert that matches both is not muted by itself, nor by another alert
    # that matches both (Alertmanager's two-sided rule), only by a source that is not a target.
    rule = InhibitRule(
        source_matchers=['severity=~"critical|warning"'],
        target_matchers=['severity=~"warning|info"'],
        equal=["service"],
    )
    inhibitor = Inhibitor([rule])
    lone = warning("api")
    inhibitor.set_firing([lone])
    assert not inhibitor.mutes(lone.labels, NOW)
    other = alert(alertname="queue-backlog", severity="warning", service="api")
    inhibitor.set_firing([lone, other])
    assert not inhibitor.mutes(lone.labels, NOW) and not inhibitor.mutes(other.labels, NOW)
    critical = down("api")
    inhibitor.set_firing([lone, other, critical])
    assert inhibitor.muted_by(lone.labels, NOW) == [critical.fingerprint]
    info = alert(alertname="slow", severity="info", service="api")  # a target only: muted by both warnings too
    assert inhibitor.muted_by(info.labels, NOW) == [lone.fingerprint, other.fingerprint, critical.fingerprint]
    # One rule whose source matchers select the target too: the firing alert does not mute itself.
    broad = Inhibitor([InhibitRule(source_matchers=['alertname="service-down"'], target_matchers=['service="api"'])])
    broad.set_firing([critical])
    assert not broad.mutes(critical.labels, NOW)
    assert broad.mutes(warning("api").labels, NOW)


def test_sources_only_mute_their_own_tenants_alerts() -> None:
    inhibitor = Inhibitor([SEED])
    acme_down = down("api", tenant="acme")
    inhibitor.set_firing([acme_down])
    assert inhibitor.muted_by(warning("api", tenant="acme").labels, NOW) == [acme_down.fingerprint]
    assert not inhibitor.mutes(warning("api", tenant="default").labels, NOW)
    assert not inhibitor.mutes(warning("api", tenant="globex").labels, NOW)
    # Even without `equal`: tenants never inhibit each other.
    everything = Inhibitor([SEED.model_copy(update={"equal": []})])
    everything.set_firing([acme_down])
    assert everything.mutes(warning("web", tenant="acme").labels, NOW)
    assert not everything.mutes(warning("web", tenant="globex").labels, NOW)


def test_every_rule_is_tried_and_muted_by_lists_each_source_once() -> None:
    by_cluster = InhibitRule(
        source_matchers=['alertname="cluster-down"'],
        target_matchers=['severity=~"warning|critical"'],
        equal=["cluster"],
    )
    inhibitor = Inhibitor([SEED, by_cluster, SEED])
    api_down = down("api", cluster="eu")
    eu_down = alert(alertname="cluster-down", cluster="eu")
    inhibitor.set_firing([api_down, eu_down])
    assert inhibitor.muted_by(warning("api", cluster="eu").labels, NOW) == [api_down.fingerprint, eu_down.fingerprint]
    assert inhibitor.muted_by(warning("web", cluster="eu").labels, NOW) == [eu_down.fingerprint]
    assert inhibitor.muted_by(api_down.labels, NOW) == [eu_down.fingerprint]  # a critical alert is a target here
    assert inhibitor.muted_by(warning("web", cluster="us").labels, NOW) == []
    assert not Inhibitor([]).mutes(warning("api").labels, NOW)


def test_many_sources_each_mute_only_their_own_service() -> None:
    inhibitor = Inhibitor([SEED])
    sources = [down(f"svc-{i}") for i in range(5000)]
    inhibitor.set_firing([*sources, *(warning(f"svc-{i}") for i in range(0, 5000, 7))])
    assert inhibitor.muted_by(warning("svc-4321").labels, NOW) == [sources[4321].fingerprint]
    assert not inhibitor.mutes(warning("svc-5000").labels, NOW)
