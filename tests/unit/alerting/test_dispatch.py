"""RouterCore and its Dispatcher beyond timing: `continue`, integrations, tenants, send_resolved, truncation, muting by
silences / inhibition / time intervals (simple fake Muters), the group views and the dropped-alert feed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from logwarden.alerting.config import AlertingConfig
from logwarden.alerting.dispatch.core import Outgoing, RouterCore
from logwarden.alerting.dispatch.group import Dispatcher
from logwarden.alerting.dispatch.route import RouteNode
from logwarden.alerting.model import AlertMessage
from logwarden.alerting.mute.base import Muter
from logwarden.alerting.notify.dedup import NflogEntry, Reason

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)  # a Sunday
S, M, H = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)
HOOK = "http://127.0.0.1:9099/hook"


def config(route: dict[str, Any], receivers: Sequence[dict[str, Any]] | None = None, **extra: Any) -> AlertingConfig:
    names = {"ops", "db", "pager"}
    receivers = receivers or [{"name": n, "webhook": {"url": f"{HOOK}/{n}"}} for n in sorted(names)]
    return AlertingConfig.model_validate({"route": route, "receivers": receivers, **extra})


def fire(fp: str, at: timedelta = timedelta(0), **labels: str) -> AlertMessage:
    base = {"alertname": "HighErrors", "tenant": "acme", "host": fp}
    return AlertMessage(fingerprint=fp, status="firing", labels={**base, **labels}, starts_at=T0 + at)


def resolved(alert: AlertMessage, at: timedelta) -> AlertMessage:
    return replace(alert, status="resolved", ends_at=T0 + at)


def fps(out: Outgoing) -> list[tuple[str, str]]:
    assert out.notification is not None
    return [(a.fingerprint, a.status) for a in out.notification.alerts]


# --- routing and integrations ---------------------------------------------------------------------------------


def test_continue_notifies_each_matching_routes_receiver_in_its_own_group() -> None:
    router = RouterCore(
        config(
            {
                "receiver": "ops",
                "group_wait": "0s",
                "routes": [
                    {"matchers": ['service="db"'], "receiver": "db", "continue": True},
                    {"matchers": ['severity="critical"'], "receiver": "pager"},
                ],
            }
        )
    )
    router.put(fire("a", service="db", severity="critical"), T0)
    out = router.step(T0)
    assert [(o.receiver, o.integration, o.notification.receiver if o.notification else None) for o in out] == [
        ("db", "webhook[0]", "db"),
        ("pager", "webhook[0]", "pager"),
    ]
    assert out[0].nflog_key == ('{}/{service="db"}/0:{tenant="acme"}', "db/webhook[0]")
    assert out[1].nflog_key == ('{}/{severity="critical"}/1:{tenant="acme"}', "pager/webhook[0]")
    assert [g.receiver for g in router.groups()] == ["db", "pager"]


def test_each_integration_is_named_per_kind_and_logged_on_its_own() -> None:
    receivers = [
        {
            "name": "ops",
            "slack": {"url": "https://hooks.slack.test/T/B/x"},
            "webhook": [{"url": f"{HOOK}/0", "send_resolved": False}, {"url": f"{HOOK}/1"}],
        }
    ]
    router = RouterCore(config({"receiver": "ops", "group_wait": "0s", "group_interval": "1m"}, receivers))
    a, b = fire("a"), fire("b")
    router.put(a, T0)
    router.put(b, T0)
    first = router.step(T0)
    assert [(o.kind, o.integration) for o in first] == [
        ("slack", "slack[0]"),
        ("webhook", "webhook[0]"),
        ("webhook", "webhook[1]"),
    ]
    assert str(first[2].config.url.get_secret_value()) == f"{HOOK}/1"  # type: ignore[attr-defined]
    assert set(router.nflog) == {('{}:{tenant="acme"}', f"ops/{i}") for i in ("slack[0]", "webhook[0]", "webhook[1]")}
    router.put(resolved(b, 10 * S), T0 + 10 * S)
    second = router.step(T0 + 1 * M)
    # webhook[0] has send_resolved false: one alert resolving among firing ones is no news for it.
    assert [(o.integration, o.reason) for o in second] == [
        ("slack[0]", Reason.RESOLVED),
        ("webhook[1]", Reason.RESOLVED),
    ]


def test_outgoing_carries_tenant_entry_and_a_complete_notification() -> None:
    router = RouterCore(
        config({"receiver": "ops", "group_by": ["alertname"], "group_wait": "0s"}),
        external_url="https://logs.example.com",
    )
    router.put(fire("a"), T0)
    [out] = router.step(T0)
    assert out.tenant == "acme"
    assert out.at == T0
    assert out.nflog_entry == NflogEntry(frozenset({"a"}), frozenset(), T0)
    assert router.nflog[out.nflog_key] == out.nflog_entry
    n = out.notification
    assert n is not None
    assert (n.receiver, n.group_key, dict(n.group_labels), n.external_url, n.truncated_alerts) == (
        "ops",
        '{}:{alertname="HighErrors", tenant="acme"}',
        {"alertname": "HighErrors", "tenant": "acme"},
        "https://logs.example.com",
        0,
    )


def test_the_nflog_mapping_given_is_the_one_consulted_and_updated() -> None:
    key = ('{}:{tenant="acme"}', "ops/webhook[0]")
    log: dict[tuple[str, str], NflogEntry] = {key: NflogEntry(frozenset({"a"}), frozenset(), T0 - 1 * H)}
    router = RouterCore(config({"receiver": "ops", "group_wait": "0s"}), nflog=log)
    router.put(fire("a"), T0)
    assert router.step(T0) == []  # already notified an hour ago, repeat_interval 4h
    router.put(fire("b"), T0 + 1 * M)
    [out] = router.step(T0 + 5 * M)
    assert out.reason is Reason.NEW_FIRING
    assert log[key] == NflogEntry(frozenset({"a", "b"}), frozenset(), T0 + 5 * M)


# --- tenants and group_by -------------------------------------------------------------------------------------


def test_groups_never_mix_tenants() -> None:
    for group_by in (["alertname"], []):
        router = RouterCore(config({"receiver": "ops", "group_by": group_by, "group_wait": "0s"}))
        router.put(fire("a1", tenant="acme"), T0)
        router.put(fire("g1", tenant="globex"), T0)
        router.put(fire("a2", tenant="acme"), T0)
        out = router.step(T0)
        by_tenant = {o.tenant: fps(o) for o in out}
        assert by_tenant == {"acme": [("a1", "firing"), ("a2", "firing")], "globex": [("g1", "firing")]}
        assert all(o.notification and o.notification.group_labels["tenant"] == o.tenant for o in out)


def test_group_by_all_labels_makes_one_group_per_alert() -> None:
    router = RouterCore(config({"receiver": "ops", "group_by": ["..."], "group_wait": "0s"}))
    for fp in ("a", "b", "c"):
        router.put(fire(fp), T0)
    out = router.step(T0)
    assert sorted(fps(o)[0][0] for o in out) == ["a", "b", "c"]
    assert all(len(o.notification.alerts) == 1 for o in out if o.notification)
    assert len(router.groups()) == 3


# --- send_resolved and truncation ------------------------------------------------------------------------------


def test_send_resolved_false_leaves_resolved_alerts_out_and_sends_nothing_when_only_those_are_left() -> None:
    receivers = [{"name": "ops", "webhook": {"url": HOOK, "send_resolved": False}}]
    router = RouterCore(config({"receiver": "ops", "group_wait": "0s", "group_interval": "1m"}, receivers))
    a, b = fire("a"), fire("b")
    router.put(a, T0)
    router.put(b, T0)
    router.step(T0)
    router.put(resolved(a, 10 * S), T0 + 10 * S)
    router.put(fire("c"), T0 + 10 * S)
    [mixed] = router.step(T0 + 1 * M)
    assert mixed.reason is Reason.NEW_FIRING
    assert fps(mixed) == [("b", "firing"), ("c", "firing")]
    assert mixed.nflog_entry == NflogEntry(frozenset({"b", "c"}), frozenset({"a"}), T0 + 1 * M)
    router.put(resolved(b, 70 * S), T0 + 70 * S)
    router.put(resolved(fire("c"), 70 * S), T0 + 70 * S)
    [last] = router.step(T0 + 2 * M)
    # Alertmanager logs the all-resolved state even without send_resolved; the channel gets nothing.
    assert (last.reason, last.notification) == (Reason.ALL_RESOLVED, None)
    assert router.nflog[last.nflog_key].firing == frozenset()
    assert router.groups() == []


def test_notifications_are_truncated_firing_first() -> None:
    router = RouterCore(
        config({"receiver": "ops", "group_wait": "0s", "group_interval": "1m"}, max_alerts_per_notification=3)
    )
    old = [fire(fp, -10 * M + i * S) for i, fp in enumerate(("o1", "o2"))]  # started earliest: listed first …
    new = [fire(fp, i * S) for i, fp in enumerate(("n1", "n2"))]
    for alert in (*old, *new):
        router.put(alert, T0)
    [first] = router.step(T0)
    assert fps(first) == [("o1", "firing"), ("o2", "firing"), ("n1", "firing")]
    assert first.notification is not None and first.notification.truncated_alerts == 1
    for alert in old:
        router.put(resolved(alert, 10 * S), T0 + 10 * S)
    [second] = router.step(T0 + 1 * M)
    # … but once resolved, they come after the firing ones, and are the ones cut.
    assert fps(second) == [("n1", "firing"), ("n2", "firing"), ("o1", "resolved")]
    assert second.notification is not None and second.notification.truncated_alerts == 1


# --- muting ----------------------------------------------------------------------------------------------------


class FakeSilence:
    """Mutes alerts with `labels` from `start` until `end`."""

    def __init__(self, labels: Mapping[str, str], start: datetime, end: datetime) -> None:
        self.labels, self.start, self.end = dict(labels), start, end

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.start <= now < self.end and all(labels.get(k) == v for k, v in self.labels.items())

    def muted_by(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        return ["silence-1"] if self.mutes(labels, now) else []


class FakeInhibitor:
    """A firing critical alert of a service mutes that service's warnings."""

    def __init__(self) -> None:
        self.fed: list[list[str]] = []
        self.sources: list[AlertMessage] = []

    def set_firing(self, alerts: Iterable[AlertMessage]) -> None:
        alerts = list(alerts)
        self.fed.append(sorted(a.fingerprint for a in alerts))
        self.sources = [a for a in alerts if a.severity == "critical"]

    def muted_by(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        if labels.get("severity") != "warning":
            return []
        return [s.fingerprint for s in self.sources if s.labels.get("service") == labels.get("service")]

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        return bool(self.muted_by(labels, now))


def test_silenced_alerts_are_left_out_and_a_fully_silenced_flush_sends_nothing() -> None:
    silence = FakeSilence({"host": "a"}, T0, T0 + 12 * M)
    router = RouterCore(config({"receiver": "ops", "group_wait": "0s", "group_interval": "5m"}), muters=[silence])
    router.put(fire("a"), T0)
    assert router.step(T0) == []
    assert router.nflog == {}  # untouched: when the silence ends the alert is news
    router.put(fire("b"), T0 + 1 * M)
    [partial] = router.step(T0 + 5 * M)
    assert fps(partial) == [("b", "firing")]
    assert router.step(T0 + 10 * M) == []
    [after] = router.step(T0 + 15 * M)  # the silence ended at 12m
    assert after.reason is Reason.NEW_FIRING and fps(after) == [("a", "firing"), ("b", "firing")]
    assert router.muted_by({"host": "a"}, T0 + 1 * M) == ["silence-1"]


def test_inhibited_alerts_are_left_out_while_the_source_fires() -> None:
    inhibitor = FakeInhibitor()
    router = RouterCore(
        config({"receiver": "ops", "group_wait": "0s", "group_interval": "1m"}),
        inhibitor=inhibitor,
    )
    down = fire("down", alertname="service-down", severity="critical", service="checkout")
    router.put(down, T0)
    router.put(fire("w1", severity="warning", service="checkout"), T0)
    router.put(fire("w2", severity="warning", service="cart"), T0)
    [first] = router.step(T0)
    assert inhibitor.fed == [["down", "w1", "w2"]]
    assert fps(first) == [("down", "firing"), ("w2", "firing")]
    assert router.muted_by(fire("w1", severity="warning", service="checkout").labels, T0) == ["down"]
    router.put(resolved(down, 30 * S), T0 + 30 * S)
    [second] = router.step(T0 + 1 * M)
    assert inhibitor.fed[-1] == ["w1", "w2"]  # the resolved source no longer inhibits
    assert second.reason is Reason.NEW_FIRING
    assert fps(second) == [("w1", "firing"), ("w2", "firing"), ("down", "resolved")]


class FakeTimeMuters:
    """A time-muter factory recording what it was asked for; its muters mute before 06:00."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[str, ...], tuple[str, ...]]] = []

    def __call__(self, active: Sequence[str], mute: Sequence[str]) -> Muter:
        self.calls.append((tuple(active), tuple(mute)))
        return FakeSilence({}, T0.replace(hour=0), T0.replace(hour=6))


def test_route_time_intervals_mute_whole_flushes_and_are_inherited() -> None:
    factory = FakeTimeMuters()
    db = {"matchers": ["team=db"], "receiver": "db", "mute_time_intervals": ["nights"]}
    # Set on the db route, inherited by its child (which takes the alert).
    route = {
        "receiver": "ops",
        "group_wait": "30s",
        "routes": [{**db, "routes": [{"matchers": ["severity=critical"]}]}],
    }
    intervals = [{"name": "nights", "time_intervals": [{"times": [{"start_time": "00:00", "end_time": "06:00"}]}]}]
    router = RouterCore(config(route, time_intervals=intervals), time_muter_factory=factory)
    night = T0.replace(hour=1)
    router.put(fire("a", team="db", severity="critical"), night)
    router.put(fire("b", team="web"), night)
    out = router.step(night + 30 * S)
    assert [o.receiver for o in out] == ["ops"]  # the db route is muted at night, the root route is not
    assert factory.calls == [((), ("nights",))]
    while (due := router.next_due()) is not None and due < T0.replace(hour=6):
        assert all(o.receiver == "ops" for o in router.step(due))
    [morning] = router.step(router.next_due() or night)
    assert (morning.receiver, morning.reason, morning.at) == ("db", Reason.FIRST, T0.replace(hour=6, second=30))
    assert factory.calls == [((), ("nights",))]  # one muter per list of intervals, reused


def test_the_default_time_muter_uses_the_configs_time_intervals() -> None:
    route = {
        "receiver": "ops",
        "group_wait": "30s",
        "routes": [{"matchers": ["team=db"], "receiver": "db", "active_time_intervals": ["weekdays"]}],
    }
    intervals = [{"name": "weekdays", "time_intervals": [{"weekdays": ["monday:friday"]}]}]
    router = RouterCore(config(route, time_intervals=intervals))
    sunday_night = T0.replace(hour=23, minute=58)
    router.put(fire("a", team="db"), sunday_night)
    assert router.step(sunday_night + 30 * S) == []  # Sunday: outside the route's active time
    monday = sunday_night + 30 * S + 5 * M
    [out] = router.step(monday)
    assert (out.receiver, out.reason, out.at.strftime("%A %H:%M:%S")) == ("db", Reason.FIRST, "Monday 00:03:30")


# --- views and the dropped-alert feed -----------------------------------------------------------------------------


def test_groups_and_alerts_views() -> None:
    router = RouterCore(config({"receiver": "ops", "group_by": ["alertname"]}))
    router.put(fire("b"), T0)
    router.put(fire("a", 5 * S), T0 + 5 * S)
    router.put(fire("c", alertname="DiskFull"), T0 + 10 * S)
    views = router.groups()
    assert [v.to_json() for v in views] == [
        {
            "route": "{}",
            "receiver": "ops",
            "group_key": '{}:{alertname="HighErrors", tenant="acme"}',
            "group_labels": {"alertname": "HighErrors", "tenant": "acme"},
            "alerts": ["b", "a"],
            "next_flush": (T0 + 30 * S).isoformat(),
            "flushed": False,
        },
        {
            "route": "{}",
            "receiver": "ops",
            "group_key": '{}:{alertname="DiskFull", tenant="acme"}',
            "group_labels": {"alertname": "DiskFull", "tenant": "acme"},
            "alerts": ["c"],
            "next_flush": (T0 + 40 * S).isoformat(),
            "flushed": False,
        },
    ]
    assert [a.fingerprint for a in router.alerts()] == ["a", "b", "c"]
    assert router.next_due() == T0 + 30 * S


def test_a_resolved_alert_is_dropped_once_no_group_holds_it() -> None:
    route = {
        "receiver": "ops",
        "routes": [
            {"matchers": ["team=db"], "receiver": "db", "continue": True, "group_wait": "10s"},
            {"matchers": ["team=db"], "receiver": "pager", "group_wait": "1m"},
        ],
    }
    router = RouterCore(config(route))
    a = fire("a", team="db")
    router.put(a, T0)
    router.step(T0 + 10 * S)
    router.step(T0 + 1 * M)
    router.put(resolved(a, 2 * M), T0 + 2 * M)
    assert [o.receiver for o in router.step(T0 + 5 * M + 10 * S)] == ["db"]
    assert router.take_dropped() == []  # the pager group still holds it
    assert [o.receiver for o in router.step(T0 + 6 * M)] == ["pager"]
    assert router.take_dropped() == ["a"]
    assert router.take_dropped() == []
    assert router.alerts() == []


def test_an_alert_firing_again_during_a_flush_is_not_dropped() -> None:
    # Alertmanager's DeleteIfNotModified: the flush carried the resolved alert, but it fired again meanwhile.
    config_ = config({"receiver": "ops", "group_wait": "0s"})
    assert config_.route is not None
    dispatcher = Dispatcher(RouteNode.from_config(config_.route))
    a = fire("a")
    dispatcher.put(a, T0)
    dispatcher.due(T0)
    dispatcher.put(resolved(a, 1 * M), T0 + 1 * M)
    [flush] = dispatcher.due(T0 + 5 * M)
    assert [x.status for x in flush.alerts] == ["resolved"]
    again = fire("a", 5 * M)
    dispatcher.put(again, T0 + 5 * M)
    dispatcher.notified(flush)
    assert dispatcher.alerts() == [again]
    assert dispatcher.take_dropped() == []
    # Without the new firing state, the same flush would have dropped it.
    dispatcher.put(resolved(again, 6 * M), T0 + 6 * M)
    [flush] = dispatcher.due(T0 + 10 * M)
    dispatcher.notified(flush)
    assert dispatcher.alerts() == [] and dispatcher.take_dropped() == ["a"]


def test_without_a_route_nothing_is_held_or_sent() -> None:
    router = RouterCore(AlertingConfig())
    router.put(fire("a"), T0)
    router.put(resolved(fire("b"), 1 * M), T0 + 1 * M)
    assert router.next_due() is None
    assert router.step(T0 + 1 * H) == []
    assert router.alerts() == [] and router.groups() == []
    assert router.take_dropped() == ["b"]
