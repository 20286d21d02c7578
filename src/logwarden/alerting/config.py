"""The `alerting:` section of the server config: routing tree, receivers, inhibition rules, time intervals.

Alertmanager's shape (docs/alerting.md), parsed once into frozen models; every mistake fails at start naming the
field (`alerting.route.routes[1].receiver: no receiver named 'db'`).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from logwarden.alerting.matchers import Matcher, parse_matchers
from logwarden.alerting.notifiers import NOTIFIERS
from logwarden.alerting.notifiers.base import NotifierConfig
from logwarden.model.units import Duration

DEFAULT_GROUP_WAIT = timedelta(seconds=30)  # Alertmanager's defaults
DEFAULT_GROUP_INTERVAL = timedelta(minutes=5)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)
ALL_LABELS = "..."  # `group_by: ['...']`: every label, i.e. one group per alert


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True, populate_by_name=True)


def _matchers(value: Any) -> Any:
    return parse_matchers(value)


class Route(_Frozen):
    """A node of the routing tree. Unset timing and grouping settings are inherited from the parent route."""

    receiver: str | None = None
    """Receiver of the alerts this route takes (inherited when unset; the root route must set it)."""
    matchers: list[Matcher] = Field(default_factory=list)
    """Label matchers an alert must satisfy to enter this route: `['service="api"', 'severity=~"warning|critical"']`."""
    match: dict[str, str] = Field(default_factory=dict)
    """Deprecated Alertmanager form: label → value equality matchers (use `matchers`)."""
    match_re: dict[str, str] = Field(default_factory=dict)
    """Deprecated Alertmanager form: label → regular expression (use `matchers`)."""
    continue_: bool = Field(False, alias="continue")
    """Also try the following sibling routes after this one matched (default: the first matching sibling wins)."""
    group_by: list[str] | None = None
    """Labels that split alerts into aggregation groups; `['...']` groups by every label (one group per alert);
    `[]` puts every alert of the route in one group."""
    group_wait: Duration | None = Field(None, ge=timedelta(0))
    """How long a new group waits for more alerts before its first notification (default 30s)."""
    group_interval: Duration | None = Field(None, gt=timedelta(0))
    """How long to wait after a group's notification before notifying about alerts added to or resolved in it
    (default 5m)."""
    repeat_interval: Duration | None = Field(None, gt=timedelta(0))
    """How long to wait before notifying again about a group that has not changed (default 4h)."""
    active_time_intervals: list[str] = Field(default_factory=list)
    """Names of time intervals outside which this route's notifications are muted."""
    mute_time_intervals: list[str] = Field(default_factory=list)
    """Names of time intervals during which this route's notifications are muted."""
    routes: list[Route] = Field(default_factory=list)
    """Child routes, tried in order."""

    @field_validator("matchers", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        return _matchers(value)

    @field_validator("match_re")
    @classmethod
    def _regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{name}: invalid regular expression: {exc}") from None
        return value

    def all_matchers(self) -> list[Matcher]:
        """`matchers` plus the deprecated `match` / `match_re` as matchers."""
        extra = parse_matchers(self.match) + [Matcher.create(k, "=~", v) for k, v in self.match_re.items()]
        return [*self.matchers, *extra]


class InhibitRule(_Frozen):
    """While an alert matching `source_matchers` fires, alerts matching `target_matchers` that have the same values
    of every `equal` label are muted (an alert never inhibits itself)."""

    source_matchers: list[Matcher] = Field(min_length=1)
    """Matchers selecting the alerts that inhibit: `['alertname="service-down"', 'severity="critical"']`."""
    target_matchers: list[Matcher] = Field(min_length=1)
    """Matchers selecting the alerts that are muted: `['severity="warning"']`."""
    equal: list[str] = Field(default_factory=list)
    """Labels whose values must be equal in source and target (`[service]`: only that service's warnings)."""

    @field_validator("source_matchers", "target_matchers", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        return _matchers(value)


_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class TimeRange(_Frozen):
    start_time: str
    """`HH:MM`, inclusive."""
    end_time: str
    """`HH:MM`, exclusive (`24:00` is the end of the day)."""

    @field_validator("start_time", "end_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        m = _HHMM.match(value)
        if m is None or (m.group(1) == "24" and m.group(2) != "00"):
            raise ValueError(f"{value!r}: write a time of day as HH:MM (00:00 to 24:00)")
        return value

    @model_validator(mode="after")
    def _order(self) -> TimeRange:
        if self.end_time <= self.start_time:
            raise ValueError(f"end_time {self.end_time} must be after start_time {self.start_time}")
        return self


def _check_ranges(
    values: list[str], names: tuple[str, ...] | None, low: int, high: int, what: str, first: int = 0
) -> list[str]:
    """Each value a name, a number in [low, high], or a range `a:b` of them with a ≤ b (Alertmanager refuses
    `friday:monday`); names count from `first` (months from 1, weekdays from 0 = Sunday)."""
    for value in values:
        bounds = str(value).split(":")
        if len(bounds) > 2:
            raise ValueError(f"{value!r}: not a {what} or a range of them (a:b)")
        numbers = []
        for bound in bounds:
            text = bound.strip().lower()
            if names is not None and text in names:
                numbers.append(names.index(text) + first)
                continue
            try:
                number = int(text)
            except ValueError:
                raise ValueError(f"{value!r}: not a {what} or a range of them (a:b)") from None
            if not (low <= number <= high) or (number == 0 and low < 0):
                raise ValueError(f"{value!r}: {what} out of range")
            numbers.append(number)
        if len(numbers) == 2 and (numbers[0] < 0) == (numbers[1] < 0) and numbers[0] > numbers[1]:
            raise ValueError(f"{value!r}: a range must not end before it starts")
    return [str(v).lower() for v in values]


class TimeSpec(_Frozen):
    """One period; an instant is in it when it matches every field that is set (Alertmanager's `time_intervals`)."""

    times: list[TimeRange] = Field(default_factory=list)
    """Times of day (`[{start_time: '09:00', end_time: '17:00'}]`)."""
    weekdays: list[str] = Field(default_factory=list)
    """Days of the week or ranges: `['monday:friday', 'sunday']`."""
    days_of_month: list[str] = Field(default_factory=list)
    """Days of the month or ranges; negative counts from the end: `['1:5', '-1']`."""
    months: list[str] = Field(default_factory=list)
    """Months by name or number, or ranges: `['january:march', '12']`."""
    years: list[str] = Field(default_factory=list)
    """Years or ranges: `['2026:2027']`."""
    location: str = "UTC"
    """IANA time zone the times are in: `Asia/Shanghai`, `Europe/Berlin`, `Local` (the server's zone)."""

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, v: list[str]) -> list[str]:
        return _check_ranges(v, _WEEKDAYS, 0, 6, "weekday")

    @field_validator("days_of_month")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        return _check_ranges(v, None, -31, 31, "day of month")

    @field_validator("months")
    @classmethod
    def _months(cls, v: list[str]) -> list[str]:
        return _check_ranges(v, _MONTHS, 1, 12, "month", first=1)

    @field_validator("years")
    @classmethod
    def _years(cls, v: list[str]) -> list[str]:
        return _check_ranges(v, None, 1, 9999, "year")

    @field_validator("location")
    @classmethod
    def _zone(cls, v: str) -> str:
        if v != "Local":
            from zoneinfo import ZoneInfo

            try:
                ZoneInfo(v)
            except Exception:
                raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from None
        return v


class TimeInterval(_Frozen):
    """A named set of periods, used by routes (`active_time_intervals`, `mute_time_intervals`)."""

    name: str = Field(min_length=1)
    """Unique name, used by routes."""
    time_intervals: list[TimeSpec] = Field(min_length=1)
    """The periods; the interval holds an instant when any of them does."""


def _receiver_model() -> type[BaseModel]:
    """The receiver shape: `name` plus one optional key per channel (`webhook`, `slack`, …), each one config or a
    list of them (Alertmanager's `webhook_configs` spelling is accepted too)."""
    fields: dict[str, Any] = {"name": (str, Field(min_length=1, description="Unique receiver name."))}
    for kind, notifier in NOTIFIERS.items():
        model = notifier.config_model
        fields[kind] = (
            list[model],  # type: ignore[valid-type]
            Field(default_factory=list, validation_alias=_alias(kind), description=(model.__doc__ or "").strip()),
        )
    return create_model(
        "Receiver",
        __config__=ConfigDict(frozen=True, extra="forbid", populate_by_name=True),
        __validators__={"_listify": field_validator(*NOTIFIERS, mode="before")(_listify)} if NOTIFIERS else {},
        **fields,
    )


def _alias(kind: str) -> Any:
    from pydantic import AliasChoices

    return AliasChoices(kind, f"{kind}_configs")


def _listify(cls: Any, value: Any) -> Any:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


Receiver = _receiver_model()


def integrations(receiver: BaseModel) -> list[tuple[str, NotifierConfig]]:
    """A receiver's integrations as (kind, config), in the order of NOTIFIERS then the list."""
    return [(kind, config) for kind in NOTIFIERS for config in getattr(receiver, kind)]


class DeliveryConfig(_Frozen):
    """How the notification queue delivers (alerting/notify/queue.py)."""

    workers: int = Field(4, ge=1, le=64)
    """Threads sending notifications (one slow channel cannot hold up the others beyond these)."""
    initial_backoff: Duration = Field(timedelta(seconds=1), gt=timedelta(0))
    """Wait before the first retry; each further retry waits twice as long (with ±20 % jitter)."""
    max_backoff: Duration = Field(timedelta(minutes=5), gt=timedelta(0))
    """Longest wait between two attempts."""
    deadline: Duration = Field(timedelta(hours=24), gt=timedelta(0))
    """How long a notification is retried; past it, it is given up (`expired` in the history and /metrics)."""
    history_retention: Duration = Field(timedelta(days=30), gt=timedelta(0))
    """How long delivered and given-up notifications and their attempts are kept."""


class TenantConfigsSettings(_Frozen):
    """What tenants' own alerting configs (set over the API by a tenant's admins, alerting/tenant_config.py) may
    reach. Their receivers' destinations are requests this server makes: those in loopback, private, shared,
    link-local (cloud metadata), unspecified, reserved and multicast ranges are refused unless allowed here."""

    allow_hosts: list[str] = Field(default_factory=list)
    """Destinations tenants' receivers may reach although they are in a refused range: host names
    (`hooks.internal.example`, matched exactly, its addresses not checked) or networks (`10.2.0.0/16`,
    `127.0.0.1/32`). The config file's own receivers are never checked."""

    @field_validator("allow_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        from logwarden.alerting.notify.outbound import parse_allowed

        for i, entry in enumerate(value):
            try:
                parse_allowed(entry)
            except ValueError as exc:
                raise ValueError(f"[{i}]: {exc}") from None
        return value


class AlertingConfig(_Frozen):
    """Routing and notification of the rules' alerts (docs/alerting.md). Without a `route` no notifications are
    sent; alerts are still listed at /api/v1/alerts."""

    route: Route | None = None
    """The root of the routing tree; every alert enters it (its matchers are ignored) and is passed to the
    first matching child route (and further ones after a match with `continue`); the root takes what no
    child takes."""
    receivers: list[Receiver] = Field(default_factory=list)  # type: ignore[valid-type]
    """Named receivers, each with one or more integrations: `{name: ops, webhook: {url: …}, slack: {…}}`."""
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    """Inhibition: firing alerts that mute others (the seed: a critical `service-down` mutes that service's
    warnings)."""
    time_intervals: list[TimeInterval] = Field(default_factory=list)
    """Named time intervals for routes' `active_time_intervals` and `mute_time_intervals`."""
    external_url: str | None = None
    """The URL people reach this server at (`https://logs.example.com`): links in notifications are made
    absolute with it. Unset: `http://<http.host>:<http.port>`."""
    silence_retention: Duration = Field(timedelta(days=5), gt=timedelta(0))
    """How long expired silences are kept (listed, and restorable) before they are deleted."""
    max_alerts_per_notification: int = Field(50, ge=1)
    """Alerts listed in one notification; the rest are counted (`… and N more`)."""
    delivery: DeliveryConfig = DeliveryConfig()
    tenant_configs: TenantConfigsSettings = TenantConfigsSettings()
    """What tenants' own alerting configs may reach (`allow_hosts`); the operator's setting, not a tenant's."""

    @model_validator(mode="after")
    def _references(self) -> AlertingConfig:
        names = [r.name for r in self.receivers]  # type: ignore[attr-defined]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"receivers: duplicate name {dupes[0]!r}")
        intervals = [t.name for t in self.time_intervals]
        dupes = sorted({n for n in intervals if intervals.count(n) > 1})
        if dupes:
            raise ValueError(f"time_intervals: duplicate name {dupes[0]!r}")
        if self.route is None:
            return self
        if self.route.receiver is None:
            raise ValueError("route.receiver: the root route must name a receiver")
        known, known_intervals = set(names), set(intervals)

        def walk(route: Route, where: str) -> None:
            if route.receiver is not None and route.receiver not in known:
                raise ValueError(f"{where}.receiver: no receiver named {route.receiver!r}")
            for name in (*route.active_time_intervals, *route.mute_time_intervals):
                if name not in known_intervals:
                    raise ValueError(f"{where}: no time interval named {name!r}")
            for i, child in enumerate(route.routes):
                walk(child, f"{where}.routes[{i}]")

        walk(self.route, "route")
        return self
