"""What the per-tenant named-object repositories (saved searches, dashboards) share: one table whose rows carry
`id`, `tenant`, a `name` unique within the tenant, `created` and `updated`; every statement scoped to a tenant."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

T = TypeVar("T")


def utc(value: datetime) -> datetime:
    """`value` as an aware UTC datetime (SQLite keeps no time zone; everything is written in UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TenantNamedRows(Generic[T]):
    """CRUD over `table` for one tenant at a time, rows read back through `from_row` (a row's columns by name); a
    name already taken in the tenant raises what `name_taken(name)` makes. Blocking: run it in a thread.
    A repository subclasses it and adds `create` / `update` from its own fields over `insert_row` / `update_row`."""

    def __init__(
        self,
        engine: Engine,
        table: Table,
        from_row: Callable[[Mapping[Any, Any]], T],
        name_taken: Callable[[str], Exception],
    ) -> None:
        self._engine = engine
        self._table = table
        self._from_row = from_row
        self._name_taken = name_taken

    def list(self, tenant: str) -> list[T]:
        """The tenant's rows by name."""
        c = self._table.c
        stmt = select(self._table).where(c.tenant == tenant).order_by(c.name)
        with self._engine.connect() as con:
            return [self._from_row(r._mapping) for r in con.execute(stmt)]

    def get(self, tenant: str, row_id: str) -> T | None:
        """The row `row_id` of the tenant, None when there is none."""
        c = self._table.c
        stmt = select(self._table).where(c.tenant == tenant, c.id == row_id)
        with self._engine.connect() as con:
            row = con.execute(stmt).first()
        return self._from_row(row._mapping) if row is not None else None

    def insert_row(self, tenant: str, columns: Mapping[str, Any], now: datetime | None = None) -> T:
        """Insert a row of the tenant with a new id, `columns` (`name` among them) and `now` (default: the clock's)
        as created and updated; what was stored."""
        now = now or datetime.now(UTC)
        values = {"id": uuid.uuid4().hex, "tenant": tenant, **columns, "created": now, "updated": now}
        try:
            with self._engine.begin() as con:
                con.execute(insert(self._table).values(**values))
        except IntegrityError:
            raise self._name_taken(columns["name"]) from None
        return self._from_row(values)

    def update_row(self, tenant: str, row_id: str, columns: Mapping[str, Any], now: datetime | None = None) -> T | None:
        """Set `columns` (`name` among them) and `updated` (`now`, default: the clock's) on the tenant's row
        `row_id`: the row as stored after, or None when there is no such row."""
        c = self._table.c
        values = {**columns, "updated": now or datetime.now(UTC)}
        stmt = update(self._table).where(c.tenant == tenant, c.id == row_id).values(**values)
        try:
            with self._engine.begin() as con:
                if con.execute(stmt).rowcount == 0:
                    return None
        except IntegrityError:
            raise self._name_taken(columns["name"]) from None
        return self.get(tenant, row_id)

    def delete(self, tenant: str, row_id: str) -> bool:
        """Delete the tenant's row `row_id`; whether there was one."""
        c = self._table.c
        stmt = delete(self._table).where(c.tenant == tenant, c.id == row_id)
        with self._engine.begin() as con:
            return bool(con.execute(stmt).rowcount)
