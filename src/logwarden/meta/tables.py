"""The metadata schema as SQLAlchemy Core tables (portable across SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

saved_searches = Table(
    "saved_searches",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("query", Text, nullable=False),
    # Kept as the user wrote them (`now-1h` stays relative); validated on write.
    Column("start_time", String(64)),
    Column("end_time", String(64)),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "name", name="uq_saved_searches_tenant_name"),
    Index("ix_saved_searches_tenant_updated", "tenant", "updated"),
)
