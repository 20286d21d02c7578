"""The metadata schema as SQLAlchemy Core tables (portable across SQLite and PostgreSQL).

Every change here needs a migration in `meta/migrations/versions/` (docs/storage.md says how); a test
compares this metadata with the migrated database and fails when one is missing.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, Text, UniqueConstraint

# Named constraints, so a later migration can drop or alter them by name on SQLite (batch mode) and PostgreSQL
# alike. Primary keys keep the database's own name, as the tables created before migrations existed have it.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    }
)

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
