"""The routing tree: `alerting.route` compiled into nodes with every option resolved (Alertmanager's
`dispatch/route.go`).

A node takes the options it sets and inherits the rest from its parent (the root from Alertmanager's defaults:
group_wait 30s, group_interval 5m, repeat_interval 4h, `group_by: []`). `match` walks the tree depth first: a node
whose matchers hold tries its children in order, the first matching child ends the search among its siblings
unless it has `continue: true`, and a node none of whose children match is itself the match. The root matches
every alert.

Two departures from Alertmanager, both deliberate:
- groups never mix tenants: the `tenant` label is always a group label, whatever `group_by` says;
- `active_time_intervals` / `mute_time_intervals` are inherited like the other options (Alertmanager does not
  inherit them); a child that sets its own list, even `[]`, replaces the parent's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from logwarden.alerting.config import (
    ALL_LABELS,
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
    Route,
)
from logwarden.alerting.matchers import Matcher, matches_all

TENANT_LABEL = "tenant"  # always a group label: one tenant's alerts never share a notification with another's


def format_labels(labels: Mapping[str, str]) -> str:
    """`{a="1", b="2"}`, sorted by name, values quoted (Alertmanager's label set string)."""
    return "{" + ", ".join(str(Matcher.create(name, "=", labels[name])) for name in sorted(labels)) + "}"


def format_matchers(matchers: tuple[Matcher, ...]) -> str:
    """`{a="1", b=~"x|y"}`, sorted by name, operator and value, so the text does not depend on the config order."""
    ordered = sorted(matchers, key=lambda m: (m.name, m.type.value, m.value))
    return "{" + ", ".join(str(m) for m in ordered) + "}"


@dataclass(frozen=True, eq=False)
class RouteNode:
    """One node of the compiled routing tree, with its effective (inherited) options.

    `key` identifies the node and is part of every group key: the root is `{}`, a child is its parent's key, `/`,
    its sorted matchers and `/` its position among its siblings (`{}/{service="api"}/0`), so two routes never
    share aggregation groups or notification-log entries."""

    receiver: str
    matchers: tuple[Matcher, ...]
    continue_: bool
    group_by: frozenset[str]
    group_by_all: bool
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    active_time_intervals: tuple[str, ...]
    mute_time_intervals: tuple[str, ...]
    key: str
    parent: RouteNode | None = field(default=None, repr=False)
    routes: tuple[RouteNode, ...] = field(default=(), repr=False)

    @classmethod
    def from_config(cls, route: Route) -> RouteNode:
        """The tree of `route` (the root: its matchers are ignored, it takes every alert)."""
        return cls._build(route, None, None)

    @classmethod
    def _build(cls, route: Route, parent: RouteNode | None, index: int | None) -> RouteNode:
        receiver = route.receiver if route.receiver is not None else (parent.receiver if parent else "")
        if route.group_by is not None:
            group_by, group_by_all = frozenset(route.group_by) - {ALL_LABELS}, ALL_LABELS in route.group_by
        elif parent is not None:
            group_by, group_by_all = parent.group_by, parent.group_by_all
        else:
            group_by, group_by_all = frozenset(), False
        matchers = () if parent is None else tuple(route.all_matchers())
        key = format_matchers(matchers) if parent is None else f"{parent.key}/{format_matchers(matchers)}/{index}"
        node = cls(
            receiver=receiver,
            matchers=matchers,
            continue_=route.continue_,
            group_by=group_by,
            group_by_all=group_by_all,
            group_wait=_pick(route.group_wait, parent.group_wait if parent else DEFAULT_GROUP_WAIT),
            group_interval=_pick(route.group_interval, parent.group_interval if parent else DEFAULT_GROUP_INTERVAL),
            repeat_interval=_pick(route.repeat_interval, parent.repeat_interval if parent else DEFAULT_REPEAT_INTERVAL),
            active_time_intervals=_intervals(route, "active_time_intervals", parent),
            mute_time_intervals=_intervals(route, "mute_time_intervals", parent),
            key=key,
            parent=parent,
        )
        # The children need their parent's resolved options, so the node exists before they do.
        object.__setattr__(node, "routes", tuple(cls._build(c, node, i) for i, c in enumerate(route.routes)))
        return node

    def match(self, labels: Mapping[str, str]) -> list[RouteNode]:
        """The nodes an alert with `labels` is routed to, in tree order (Alertmanager's `Route.Match`)."""
        if self.parent is not None and not matches_all(self.matchers, labels):
            return []
        found: list[RouteNode] = []
        for child in self.routes:
            matched = child.match(labels)
            found += matched
            if matched and not child.continue_:
                break
        return found or [self]

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels that choose an alert's aggregation group here: `group_by` (every label for `...`), and the
        tenant always."""
        if self.group_by_all:
            return dict(labels)
        return {k: v for k, v in labels.items() if k in self.group_by or k == TENANT_LABEL}

    def group_key(self, group_labels: Mapping[str, str]) -> str:
        """The aggregation group's key: `<route key>:<group labels>` (Alertmanager's form), stable across
        restarts as long as the tree is not reordered."""
        return f"{self.key}:{format_labels(group_labels)}"

    def walk(self) -> Iterator[RouteNode]:
        """This node and all below it, depth first."""
        yield self
        for child in self.routes:
            yield from child.walk()

    @property
    def time_intervals(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(active, mute) time interval names."""
        return self.active_time_intervals, self.mute_time_intervals


def _pick(own: timedelta | None, inherited: timedelta) -> timedelta:
    return own if own is not None else inherited


def _intervals(route: Route, name: str, parent: RouteNode | None) -> tuple[str, ...]:
    # Set (even to []) on this route: its own list; unset: the parent's.
    if name in route.model_fields_set or parent is None:
        return tuple(getattr(route, name))
    return tuple(getattr(parent, name))
