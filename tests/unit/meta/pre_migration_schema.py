"""The metadata schema as `metadata.create_all` made it before there were migrations (frozen: never edit).

Tests build such a database to check it is stamped at the baseline and upgraded; `meta/tables.py` moves on.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Engine, Index, MetaData, String, Table, Text, UniqueConstraint

PRE_MIGRATION = MetaData()

Table(
    "saved_searches",
    PRE_MIGRATION,
    Column("id", String(32), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("query", Text, nullable=False),
    Column("start_time", String(64)),
    Column("end_time", String(64)),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "name", name="uq_saved_searches_tenant_name"),
    Index("ix_saved_searches_tenant_updated", "tenant", "updated"),
)


def create_pre_migration_schema(engine: Engine) -> None:
    """What MetaDB did at start before it had migrations."""
    PRE_MIGRATION.create_all(engine)
