"""Saved searches: a named query with its time range, per tenant; names are unique within a tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from logwarden.meta.tables import saved_searches


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


class SavedSearchRepository:
    """CRUD over the saved_searches table; every call is scoped to one tenant. Blocking: run it in a thread."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self, tenant: str) -> list[SavedSearch]:
        stmt = select(saved_searches).where(saved_searches.c.tenant == tenant).order_by(saved_searches.c.name)
        with self._engine.connect() as con:
            return [_from_row(r) for r in con.execute(stmt)]

    def get(self, tenant: str, search_id: str) -> SavedSearch | None:
        stmt = select(saved_searches).where(saved_searches.c.tenant == tenant, saved_searches.c.id == search_id)
        with self._engine.connect() as con:
            row = con.execute(stmt).first()
        return _from_row(row) if row is not None else None

    def create(self, tenant: str, fields: SavedSearchFields, now: datetime | None = None) -> SavedSearch:
        now = now or datetime.now(UTC)
        search = SavedSearch(uuid.uuid4().hex, tenant, fields.name, fields.query, fields.start, fields.end, now, now)
        values = {
            "id": search.id,
            "tenant": tenant,
            "name": search.name,
            "query": search.query,
            "start_time": search.start,
            "end_time": search.end,
            "created": now,
            "updated": now,
        }
        try:
            with self._engine.begin() as con:
                con.execute(insert(saved_searches).values(**values))
        except IntegrityError:
            raise SavedSearchNameTakenError(fields.name) from None
        return search

    def update(
        self, tenant: str, search_id: str, fields: SavedSearchFields, now: datetime | None = None
    ) -> SavedSearch | None:
        """Replace name, query and range; None when there is no such search for this tenant."""
        now = now or datetime.now(UTC)
        stmt = (
            update(saved_searches)
            .where(saved_searches.c.tenant == tenant, saved_searches.c.id == search_id)
            .values(name=fields.name, query=fields.query, start_time=fields.start, end_time=fields.end, updated=now)
        )
        try:
            with self._engine.begin() as con:
                if con.execute(stmt).rowcount == 0:
                    return None
        except IntegrityError:
            raise SavedSearchNameTakenError(fields.name) from None
        return self.get(tenant, search_id)

    def delete(self, tenant: str, search_id: str) -> bool:
        stmt = delete(saved_searches).where(saved_searches.c.tenant == tenant, saved_searches.c.id == search_id)
        with self._engine.begin() as con:
            return bool(con.execute(stmt).rowcount)


def _utc(value: datetime) -> datetime:
    # SQLite keeps no time zone; everything is written in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _from_row(row: Row[Any]) -> SavedSearch:
    m = row._mapping
    return SavedSearch(
        id=m["id"],
        tenant=m["tenant"],
        name=m["name"],
        query=m["query"],
        start=m["start_time"],
        end=m["end_time"],
        created=_utc(m["created"]),
        updated=_utc(m["updated"]),
    )
