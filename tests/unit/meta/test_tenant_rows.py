"""The shared tenant-scoped CRUD (`meta/tenant_rows.py`) on a real SQLite table: rows of one tenant are invisible
to another, names are unique within a tenant only, and a taken name raises the repository's own error."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, UniqueConstraint, create_engine

from logwarden.meta.tenant_rows import TenantNamedRows, utc

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
METADATA = MetaData()
THINGS = Table(
    "things",
    METADATA,
    Column("id", String, primary_key=True),
    Column("tenant", String, nullable=False),
    Column("name", String, nullable=False),
    Column("created", DateTime, nullable=False),
    Column("updated", DateTime, nullable=False),
    UniqueConstraint("tenant", "name"),
)


class ThingNameTakenError(Exception):
    pass


def _thing(m: Mapping[str, Any]) -> tuple[str, str, datetime, datetime]:
    return (m["id"], m["name"], utc(m["created"]), utc(m["updated"]))


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    METADATA.create_all(engine)
    yield engine
    engine.dispose()


def test_crud_is_scoped_to_the_tenant(engine: Engine) -> None:
    rows = TenantNamedRows(engine, THINGS, _thing, ThingNameTakenError)
    zeta = rows.insert_row("a", {"name": "zeta"}, T0)
    assert zeta[1:] == ("zeta", T0, T0) and len(zeta[0]) == 32  # a new hex id
    rows.insert_row("a", {"name": "alpha"}, T0)
    other = rows.insert_row("b", {"name": "zeta"}, T0)  # names are unique per tenant only
    assert [name for _, name, _, _ in rows.list("a")] == ["alpha", "zeta"]
    assert rows.get("a", zeta[0]) == zeta
    assert rows.get("b", zeta[0]) is None
    assert rows.update_row("b", zeta[0], {"name": "x"}, T0) is None
    assert rows.delete("b", zeta[0]) is False
    later = T0 + timedelta(minutes=1)
    assert rows.update_row("a", zeta[0], {"name": "omega"}, later) == (zeta[0], "omega", T0, later)
    assert rows.delete("a", zeta[0]) is True
    assert rows.get("a", zeta[0]) is None
    assert rows.list("b") == [other]


def test_a_taken_name_raises_the_repositorys_error(engine: Engine) -> None:
    rows = TenantNamedRows(engine, THINGS, _thing, ThingNameTakenError)
    one = rows.insert_row("a", {"name": "one"}, T0)
    rows.insert_row("a", {"name": "two"}, T0)
    with pytest.raises(ThingNameTakenError, match="one"):
        rows.insert_row("a", {"name": "one"}, T0)
    with pytest.raises(ThingNameTakenError, match="two"):
        rows.update_row("a", one[0], {"name": "two"}, T0)
    assert rows.get("a", one[0]) == one
    assert len(rows.list("a")) == 2


def test_utc() -> None:
    assert utc(datetime(2026, 1, 1, 12)) == datetime(2026, 1, 1, 12, tzinfo=UTC)
    east = datetime(2026, 1, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    assert utc(east).tzinfo is UTC and utc(east).hour == 12
