"""TenantRouterCore: each tenant's alerts go through its own routing tree or the config file's (the fallback), move
when a tenant's config is set or removed, and never disturb another tenant's groups. Pure, on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from logwarden.alerting.config import AlertingConfig
from logwarden.alerting.dispatch.tenants import TenantRouterCore
from logwarden.alerting.model import AlertMessage

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)
HOOK = "http://127.0.0.1:9099"


def config(receiver: str, group_wait: str = "10s", **route: Any) -> AlertingConfig:
    return AlertingConfig.model_validate(
        {
            "route": {"receiver": receiver, "group_wait": group_wait, "group_interval": "1m", **route},
            "receivers": [{"name": receiver, "webhook": {"url": f"{HOOK}/{receiver}"}}],
        }
    )


def fire(fp: str, tenant: str, at: timedelta = timedelta(0)) -> AlertMessage:
    labels = {"alertname": "HighErrors", "tenant": tenant}
    return AlertMessage(fingerprint=fp, status="firing", labels=labels, starts_at=T0 + at)


def sent(core: TenantRouterCore, now: datetime) -> set[tuple[str, str, str]]:
    """(tenant, receiver, fingerprint) of every alert notified at `now`."""
    return {
        (o.tenant, o.receiver, a.fingerprint)
        for o in core.step(now)
        if o.notification is not None
        for a in o.notification.alerts
    }


def test_each_tenant_is_routed_by_its_own_tree_and_the_others_by_the_file() -> None:
    core = TenantRouterCore(config("ops"), {"alpha": config("ops", group_wait="0s")})
    core.put(fire("a", "alpha"), T0)
    core.put(fire("b", "bravo"), T0)
    # The same receiver name in two configs: alpha's is alpha's own tree (group_wait 0s), bravo's the file's.
    assert sent(core, T0) == {("alpha", "ops", "a")}
    assert core.core_for("alpha") is not core.fallback and core.core_for("bravo") is core.fallback
    assert sent(core, T0 + 10 * S) == {("bravo", "ops", "b")}
    assert {a.fingerprint for a in core.alerts()} == {"a", "b"}
    assert {g.group_labels["tenant"] for g in core.groups()} == {"alpha", "bravo"}


def test_setting_a_tenants_config_moves_its_alerts_and_leaves_the_others_groups_alone() -> None:
    core = TenantRouterCore(config("ops", group_wait="30s"))
    core.put(fire("a", "alpha", at=5 * S), T0 + 5 * S)
    core.put(fire("b", "bravo"), T0)
    bravo_due = {g.group_key: g.next_flush for g in core.groups() if g.group_labels["tenant"] == "bravo"}
    core.set_tenant("alpha", config("team", group_wait="30s"), T0 + 10 * S)
    # Alpha's alert is in its own tree's group now (receiver team); bravo's group is untouched.
    views = {g.group_labels["tenant"]: g for g in core.groups()}
    assert views["alpha"].receiver == "team" and views["alpha"].fingerprints == ("a",)
    assert {views["bravo"].group_key: views["bravo"].next_flush} == bravo_due
    assert core.fallback.alerts() == [fire("b", "bravo")]
    assert core.take_dropped() == []  # moved, not dropped
    assert sent(core, T0 + 40 * S) == {("alpha", "team", "a"), ("bravo", "ops", "b")}
    # Removed: back to the file's tree.
    core.set_tenant("alpha", None, T0 + 50 * S)
    assert "alpha" not in core.tenants
    assert {(g.group_labels["tenant"], g.receiver) for g in core.groups()} == {("alpha", "ops"), ("bravo", "ops")}


def test_replacing_the_fallback_keeps_the_tenants_with_their_own_config() -> None:
    core = TenantRouterCore(config("ops"), {"alpha": config("team")})
    core.put(fire("a", "alpha"), T0)
    core.put(fire("b", "bravo"), T0)
    core.set_fallback(config("new"), None, T0 + S)
    assert {(g.group_labels["tenant"], g.receiver) for g in core.groups()} == {("alpha", "team"), ("bravo", "new")}
    assert core.config.route is not None and core.config.route.receiver == "new"
