"""Dashboards: named grids of panels per tenant (names unique within a tenant), and the built-in Overview.

A panel is a JSON object validated by the API (api/routes/dashboards.py): a title, a visualization and what it
reads — a search-language query, a log-metric series, the alerts, or logwarden's own figures. The repository
stores the panels as one JSON array: a dashboard is always read and written whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine

from logwarden.meta.tables import dashboards
from logwarden.meta.tenant_rows import TenantNamedRows, utc

OVERVIEW_ID = "overview"
# The seed dashboard every tenant has: served from here, never stored, so it cannot be lost or go stale.
OVERVIEW_PANELS: tuple[dict[str, Any], ...] = (
    {
        "title": "Log volume by service",
        "viz": "timeseries",
        "source": "metric",
        "metric": "logs_total",
        "fn": "rate",
        "by": ["service"],
        "width": 2,
    },
    {
        "title": "Log volume by level",
        "viz": "timeseries",
        "source": "metric",
        "metric": "logs_total",
        "fn": "rate",
        "by": ["level"],
        "width": 1,
    },
    {
        "title": "Error rate %",
        "viz": "timeseries",
        "source": "metric",
        "metric": "logs_total",
        "fn": "sum",
        "by": ["level"],
        "transform": "error_percent",
        "width": 2,
    },
    {"title": "Alerts by severity", "viz": "pie", "source": "alerts", "width": 1},
    {
        "title": "Top 10 error services",
        "viz": "bar",
        "source": "query",
        "query": "level:(ERROR OR FATAL) | top 10 service",
        "width": 1,
    },
    {"title": "Ingest rate (lines/s)", "viz": "timeseries", "source": "self", "figure": "ingest_rate", "width": 1},
    {"title": "Applier lag (bytes)", "viz": "stat", "source": "self", "figure": "applier_lag", "width": 1},
)


class DashboardNameTakenError(Exception):
    """Another dashboard of the same tenant already has this name."""


@dataclass(frozen=True, slots=True)
class DashboardFields:
    """What a client sets: the name, a description, the panels (validated JSON objects) and auto-refresh."""

    name: str
    description: str
    panels: tuple[dict[str, Any], ...]
    refresh: str | None = None


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A dashboard: a stored one, or the built-in Overview (`builtin`, read-only)."""

    id: str
    tenant: str
    name: str
    description: str
    panels: tuple[dict[str, Any], ...]
    refresh: str | None
    created: datetime | None
    updated: datetime | None
    builtin: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "panels": list(self.panels),
            "refresh": self.refresh,
            "builtin": self.builtin,
            "created": self.created,
            "updated": self.updated,
        }


def overview(tenant: str) -> Dashboard:
    """The built-in Overview of `tenant`."""
    return Dashboard(
        id=OVERVIEW_ID,
        tenant=tenant,
        name="Overview",
        description="Log volume, error rate, top error services, alerts and logwarden's own ingest.",
        panels=OVERVIEW_PANELS,
        refresh="30s",
        created=None,
        updated=None,
        builtin=True,
    )


class DashboardRepository(TenantNamedRows[Dashboard]):
    """CRUD over the dashboards table; every call is scoped to one tenant (`list` gives the stored dashboards by
    name: the Overview is not among them). Blocking: run it in a thread."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, dashboards, _from_row, DashboardNameTakenError)

    def create(self, tenant: str, fields: DashboardFields, now: datetime | None = None) -> Dashboard:
        return self.insert_row(tenant, _columns(fields), now)

    def update(
        self, tenant: str, dashboard_id: str, fields: DashboardFields, now: datetime | None = None
    ) -> Dashboard | None:
        """Replace everything but the id; None when there is no such dashboard for this tenant."""
        return self.update_row(tenant, dashboard_id, _columns(fields), now)


def _columns(fields: DashboardFields) -> dict[str, Any]:
    return {
        "name": fields.name,
        "description": fields.description,
        "panels": orjson.dumps(list(fields.panels)).decode(),
        "refresh": fields.refresh,
    }


def _from_row(m: Mapping[str, Any]) -> Dashboard:
    return Dashboard(
        id=m["id"],
        tenant=m["tenant"],
        name=m["name"],
        description=m["description"],
        panels=tuple(orjson.loads(m["panels"])),
        refresh=m["refresh"],
        created=utc(m["created"]),
        updated=utc(m["updated"]),
    )
