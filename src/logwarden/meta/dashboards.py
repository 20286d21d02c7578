"""Dashboards: named grids of panels per tenant (names unique within a tenant), and the built-in Overview.

A panel is a JSON object validated by the API (api/routes/dashboards.py): a title, a visualization and what it
reads — a search-language query, a log-metric series, the alerts, or logwarden's own figures. The repository
stores the panels as one JSON array: a dashboard is always read and written whole.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from logwarden.meta.tables import dashboards

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


class DashboardRepository:
    """CRUD over the dashboards table; every call is scoped to one tenant. Blocking: run it in a thread."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self, tenant: str) -> list[Dashboard]:
        """The tenant's stored dashboards by name (the Overview is not among them)."""
        stmt = select(dashboards).where(dashboards.c.tenant == tenant).order_by(dashboards.c.name)
        with self._engine.connect() as con:
            return [_from_row(r) for r in con.execute(stmt)]

    def get(self, tenant: str, dashboard_id: str) -> Dashboard | None:
        stmt = select(dashboards).where(dashboards.c.tenant == tenant, dashboards.c.id == dashboard_id)
        with self._engine.connect() as con:
            row = con.execute(stmt).first()
        return _from_row(row) if row is not None else None

    def create(self, tenant: str, fields: DashboardFields, now: datetime | None = None) -> Dashboard:
        now = now or datetime.now(UTC)
        made = Dashboard(
            uuid.uuid4().hex, tenant, fields.name, fields.description, fields.panels, fields.refresh, now, now
        )
        values = {
            "id": made.id,
            "tenant": tenant,
            "name": made.name,
            "description": made.description,
            "panels": orjson.dumps(list(made.panels)).decode(),
            "refresh": made.refresh,
            "created": now,
            "updated": now,
        }
        try:
            with self._engine.begin() as con:
                con.execute(insert(dashboards).values(**values))
        except IntegrityError:
            raise DashboardNameTakenError(fields.name) from None
        return made

    def update(
        self, tenant: str, dashboard_id: str, fields: DashboardFields, now: datetime | None = None
    ) -> Dashboard | None:
        """Replace everything but the id; None when there is no such dashboard for this tenant."""
        now = now or datetime.now(UTC)
        stmt = (
            update(dashboards)
            .where(dashboards.c.tenant == tenant, dashboards.c.id == dashboard_id)
            .values(
                name=fields.name,
                description=fields.description,
                panels=orjson.dumps(list(fields.panels)).decode(),
                refresh=fields.refresh,
                updated=now,
            )
        )
        try:
            with self._engine.begin() as con:
                if con.execute(stmt).rowcount == 0:
                    return None
        except IntegrityError:
            raise DashboardNameTakenError(fields.name) from None
        return self.get(tenant, dashboard_id)

    def delete(self, tenant: str, dashboard_id: str) -> bool:
        stmt = delete(dashboards).where(dashboards.c.tenant == tenant, dashboards.c.id == dashboard_id)
        with self._engine.begin() as con:
            return bool(con.execute(stmt).rowcount)


def _utc(value: datetime) -> datetime:
    # SQLite keeps no time zone; everything is written in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _from_row(row: Row[Any]) -> Dashboard:
    m = row._mapping
    return Dashboard(
        id=m["id"],
        tenant=m["tenant"],
        name=m["name"],
        description=m["description"],
        panels=tuple(orjson.loads(m["panels"])),
        refresh=m["refresh"],
        created=_utc(m["created"]),
        updated=_utc(m["updated"]),
    )
