"""Saved searches: a named query with its time range, per tenant; names are unique within a tenant."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from logwarden.meta.tables import saved_searches
from logwarden.meta.tenant_rows import TenantNamedRows, utc


class SavedSearchNameTakenError(Exception):
    """Another saved search of the same tenant already has this name."""


@dataclass(frozen=True, slots=True)
class SavedSearchFields:
    """What a client sets: the name, the query and its time range (relative like now-1h, or absolute)."""

    name: str
    query: str
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True, slots=True)
class SavedSearch:
    """A stored saved search."""

    id: str
    tenant: str
    name: str
    query: str
    start: str | None
    end: str | None
    created: datetime
    updated: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "query": self.query,
            "start": self.start,
            "end": self.end,
            "created": self.created,
            "updated": self.updated,
        }


class SavedSearchRepository(TenantNamedRows[SavedSearch]):
    """CRUD over the saved_searches table; every call is scoped to one tenant. Blocking: run it in a thread."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, saved_searches, _from_row, SavedSearchNameTakenError)

    def create(self, tenant: str, fields: SavedSearchFields, now: datetime | None = None) -> SavedSearch:
        return self.insert_row(tenant, _columns(fields), now)

    def update(
        self, tenant: str, search_id: str, fields: SavedSearchFields, now: datetime | None = None
    ) -> SavedSearch | None:
        """Replace name, query and range; None when there is no such search for this tenant."""
        return self.update_row(tenant, search_id, _columns(fields), now)


def _columns(fields: SavedSearchFields) -> dict[str, Any]:
    return {"name": fields.name, "query": fields.query, "start_time": fields.start, "end_time": fields.end}


def _from_row(m: Mapping[str, Any]) -> SavedSearch:
    return SavedSearch(
        id=m["id"],
        tenant=m["tenant"],
        name=m["name"],
        query=m["query"],
        start=m["start_time"],
        end=m["end_time"],
        created=utc(m["created"]),
        updated=utc(m["updated"]),
    )
