"""The routing tree: inherited options, Alertmanager's matching (first match, `continue`, fallback to the parent),
node keys, group labels (`group_by`, `...`, `[]`, the tenant always)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from logwarden.alerting.config import AlertingConfig, Route
from logwarden.alerting.dispatch.route import RouteNode, format_labels


def tree(route: dict[str, Any], receivers: tuple[str, ...] = ("ops", "db", "api", "pager", "night")) -> RouteNode:
    config = AlertingConfig.model_validate(
        {
            "route": route,
            "receivers": [{"name": r} for r in receivers],
            "time_intervals": [
                {"name": n, "time_intervals": [{"weekdays": ["saturday"]}]} for n in ("weekend", "nights", "office")
            ],
        }
    )
    assert config.route is not None
    return RouteNode.from_config(config.route)


def receivers(node: RouteNode, labels: dict[str, str]) -> list[str]:
    return [n.receiver for n in node.match(labels)]


def test_root_takes_alertmanagers_defaults() -> None:
    root = tree({"receiver": "ops"})
    assert root.group_wait == timedelta(seconds=30)
    assert root.group_interval == timedelta(minutes=5)
    assert root.repeat_interval == timedelta(hours=4)
    assert root.group_by == frozenset() and not root.group_by_all
    assert root.active_time_intervals == () and root.mute_time_intervals == ()
    assert root.key == "{}"


def test_children_inherit_unset_options_through_every_level() -> None:
    root = tree(
        {
            "receiver": "ops",
            "group_by": ["alertname"],
            "group_wait": "10s",
            "group_interval": "1m",
            "repeat_interval": "2h",
            "mute_time_intervals": ["nights"],
            "routes": [
                {
                    "matchers": ['team="db"'],
                    "receiver": "db",
                    "group_interval": "2m",
                    "routes": [{"matchers": ['severity="critical"'], "repeat_interval": "30m"}],
                }
            ],
        }
    )
    db = root.routes[0]
    critical = db.routes[0]
    assert (db.receiver, db.group_by, db.group_wait, db.group_interval, db.repeat_interval) == (
        "db",
        frozenset({"alertname"}),
        timedelta(seconds=10),
        timedelta(minutes=2),
        timedelta(hours=2),
    )
    assert (critical.receiver, critical.group_wait, critical.group_interval, critical.repeat_interval) == (
        "db",
        timedelta(seconds=10),
        timedelta(minutes=2),
        timedelta(minutes=30),
    )
    assert critical.group_by == frozenset({"alertname"})
    assert critical.mute_time_intervals == ("nights",) == db.mute_time_intervals


def test_a_child_setting_its_own_time_intervals_replaces_the_parents_even_with_an_empty_list() -> None:
    root = tree(
        {
            "receiver": "ops",
            "mute_time_intervals": ["nights"],
            "active_time_intervals": ["office"],
            "routes": [
                {"matchers": ["a=1"], "mute_time_intervals": ["weekend"]},
                {"matchers": ["a=2"], "mute_time_intervals": [], "active_time_intervals": []},
            ],
        }
    )
    own, cleared = root.routes
    assert own.time_intervals == (("office",), ("weekend",))
    assert cleared.time_intervals == ((), ())


def test_group_by_is_inherited_and_overridden_including_empty_and_all() -> None:
    root = tree(
        {
            "receiver": "ops",
            "group_by": ["alertname", "service"],
            "routes": [
                {"matchers": ["a=1"]},
                {"matchers": ["a=2"], "group_by": []},
                {"matchers": ["a=3"], "group_by": ["..."], "routes": [{"matchers": ["b=1"]}]},
            ],
        }
    )
    inherit, empty, everything = root.routes
    assert inherit.group_by == frozenset({"alertname", "service"})
    assert empty.group_by == frozenset() and not empty.group_by_all
    assert everything.group_by_all and everything.routes[0].group_by_all


def test_first_matching_child_wins() -> None:
    root = tree(
        {
            "receiver": "ops",
            "routes": [
                {"matchers": ['service=~"db|cache"'], "receiver": "db"},
                {"matchers": ['service="db"'], "receiver": "api"},
            ],
        }
    )
    assert receivers(root, {"service": "db"}) == ["db"]
    assert receivers(root, {"service": "cache"}) == ["db"]


def test_continue_lets_following_siblings_match_too() -> None:
    root = tree(
        {
            "receiver": "ops",
            "routes": [
                {"matchers": ['service="db"'], "receiver": "db", "continue": True},
                {"matchers": ['severity="critical"'], "receiver": "pager"},
                {"matchers": ['service="db"'], "receiver": "api"},
            ],
        }
    )
    assert receivers(root, {"service": "db", "severity": "critical"}) == ["db", "pager"]
    # `pager` has no continue: the third sibling is not tried after it matched.
    assert receivers(root, {"service": "db", "severity": "warning"}) == ["db", "api"]


def test_no_matching_child_means_the_node_itself_and_the_root_takes_everything() -> None:
    root = tree(
        {
            "receiver": "ops",
            "routes": [
                {
                    "matchers": ['team="db"'],
                    "receiver": "db",
                    "routes": [{"matchers": ['severity="critical"'], "receiver": "pager"}],
                }
            ],
        }
    )
    assert receivers(root, {"team": "db", "severity": "critical"}) == ["pager"]
    assert receivers(root, {"team": "db", "severity": "info"}) == ["db"]
    assert receivers(root, {"team": "web"}) == ["ops"]
    assert receivers(root, {}) == ["ops"]


def test_the_roots_matchers_are_ignored() -> None:
    root = tree({"receiver": "ops", "matchers": ['team="nobody"']})
    assert receivers(root, {"team": "web"}) == ["ops"]


def test_deprecated_match_and_match_re_still_route() -> None:
    root = tree(
        {
            "receiver": "ops",
            "routes": [
                {"match": {"service": "db"}, "receiver": "db"},
                {"match_re": {"service": "api-.*"}, "receiver": "api"},
            ],
        }
    )
    assert receivers(root, {"service": "db"}) == ["db"]
    assert receivers(root, {"service": "api-gateway"}) == ["api"]
    assert receivers(root, {"service": "xapi-gateway"}) == ["ops"]  # anchored


def test_continue_in_a_nested_level_collects_every_match_in_tree_order() -> None:
    root = tree(
        {
            "receiver": "ops",
            "routes": [
                {
                    "matchers": ['team="db"'],
                    "continue": True,
                    "routes": [
                        {"matchers": ['severity="critical"'], "receiver": "pager", "continue": True},
                        {"matchers": ["env=prod"], "receiver": "db"},
                    ],
                },
                {"matchers": ["env=prod"], "receiver": "night"},
            ],
        }
    )
    assert receivers(root, {"team": "db", "severity": "critical", "env": "prod"}) == ["pager", "db", "night"]
    assert receivers(root, {"team": "db", "severity": "info", "env": "dev"}) == ["ops"]


def test_keys_are_alertmanager_style_sorted_and_unique() -> None:
    root = tree(
        {
            "receiver": "ops",
            "routes": [
                {"matchers": ['team="db"', 'env=~"prod|stage"'], "routes": [{"matchers": ["severity=critical"]}]},
                {"matchers": ['env=~"prod|stage"', 'team="db"'], "routes": [{"matchers": ["severity=critical"]}]},
            ],
        }
    )
    first, second = root.routes
    assert first.key == '{}/{env=~"prod|stage", team="db"}/0'
    assert second.key == '{}/{env=~"prod|stage", team="db"}/1'
    assert first.routes[0].key == '{}/{env=~"prod|stage", team="db"}/0/{severity="critical"}/0'
    assert len({n.key for n in root.walk()}) == 5


def test_keys_do_not_depend_on_options_other_than_matchers_and_position() -> None:
    a = tree({"receiver": "ops", "routes": [{"matchers": ["x=1"], "group_wait": "1s"}]})
    b = tree({"receiver": "db", "routes": [{"matchers": ["x=1"], "group_by": ["y"]}]})
    assert a.routes[0].key == b.routes[0].key


@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        (["alertname", "service"], {"alertname": "Err", "service": "api", "tenant": "acme"}),
        ([], {"tenant": "acme"}),
        (["..."], {"alertname": "Err", "service": "api", "host": "web-1", "tenant": "acme"}),
        (["missing"], {"tenant": "acme"}),
        (["host", "tenant"], {"host": "web-1", "tenant": "acme"}),
    ],
)
def test_group_labels_always_include_the_tenant(group_by: list[str], expected: dict[str, str]) -> None:
    root = tree({"receiver": "ops", "group_by": group_by})
    labels = {"alertname": "Err", "service": "api", "host": "web-1", "tenant": "acme"}
    assert root.group_labels(labels) == expected


def test_group_key_is_route_key_and_quoted_sorted_labels() -> None:
    root = tree({"receiver": "ops", "routes": [{"matchers": ["team=db"], "group_by": ["alertname"]}]})
    node = root.routes[0]
    labels = node.group_labels({"tenant": "acme", "alertname": 'say "hi"', "team": "db"})
    assert node.group_key(labels) == '{}/{team="db"}/0:{alertname="say \\"hi\\"", tenant="acme"}'
    assert format_labels({}) == "{}"


def test_from_config_accepts_a_route_model_directly() -> None:
    node = RouteNode.from_config(Route(receiver="ops", group_wait=timedelta(0)))
    assert node.group_wait == timedelta(0)
    assert node.receiver == "ops"
