"""Two servers on one metadata database: a tenant's alerting config set through one is picked up by the other
(`AlertingService.sync_tenants`, which the router calls every few seconds), changed and removed too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from logwarden.alerting.config import AlertingConfig
from logwarden.alerting.service import open_alerting
from logwarden.alerting.tenant_config import TenantConfigStore, validate_tenant_config
from logwarden.meta.db import MetaDB, default_url

FILE = AlertingConfig.model_validate(
    {"route": {"receiver": "ops"}, "receivers": [{"name": "ops", "webhook": {"url": "http://127.0.0.1:9/file"}}]}
)


def own(receiver: str) -> dict[str, object]:
    return {"route": {"receiver": receiver}, "receivers": [{"name": receiver, "webhook": {"url": "http://h/x"}}]}


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetaDB]:
    db = MetaDB(default_url(tmp_path))
    yield db
    db.close()


def test_another_server_picks_up_set_changed_and_removed_tenant_configs(meta: MetaDB) -> None:
    other = open_alerting(FILE, meta.engine, external_url="http://lw")
    try:
        store = TenantConfigStore(meta.engine)
        now = datetime.now(UTC)
        store.put("alpha", own("team"), "key:lw_1", now)
        assert other.effective("alpha")[1] is True  # not seen until it looks
        other.sync_tenants()
        config, fallback = other.effective("alpha")
        assert not fallback and config == validate_tenant_config(own("team"), FILE)
        assert set(other.notifiers_for("alpha")) == {("team", "webhook[0]")}
        assert other.delivery is not None and set(other.delivery.tenant_notifiers) == {"alpha"}
        assert other.router is not None and "alpha" in other.router.core.tenants
        store.put("alpha", own("night"), "key:lw_1", now)
        other.sync_tenants()
        assert set(other.notifiers_for("alpha")) == {("night", "webhook[0]")}
        assert other.tenant_versions == {"alpha": 2}
        store.delete("alpha")
        other.sync_tenants()
        assert other.effective("alpha") == (FILE, True) and other.router.core.tenants == {}
        assert other.delivery.tenant_notifiers == {}
    finally:
        other.stop()


def test_a_restarted_service_starts_with_the_stored_configs_even_without_a_file_route(meta: MetaDB) -> None:
    TenantConfigStore(meta.engine).put("alpha", own("team"), "key:lw_1", datetime.now(UTC))
    service = open_alerting(AlertingConfig(), meta.engine, external_url="http://lw")
    try:
        assert service.router is not None and service.delivery is not None  # alpha routes, so routing runs
        assert set(service.delivery.tenant_notifiers["alpha"]) == {("team", "webhook[0]")}
        assert service.effective("bravo") == (AlertingConfig(), True)
    finally:
        service.stop()


def test_setting_route_in_the_file_turns_routing_on_without_a_restart(meta: MetaDB) -> None:
    service = open_alerting(AlertingConfig(), meta.engine, external_url="http://lw")
    try:
        assert service.router is None
        assert service.reload(FILE) == "applied"
        assert service.router is not None and service.delivery is not None
        assert set(service.delivery.notifiers) == {("ops", "webhook[0]")}
        assert service.reload(AlertingConfig()) == "applied"  # and off: the tree routes nothing
        assert service.router.core.fallback.root is None
    finally:
        service.stop()
