"""The metadata schema as SQLAlchemy Core tables (portable across SQLite and PostgreSQL).

Every change here needs a migration in `meta/migrations/versions/` (docs/storage.md says how); a test
compares this metadata with the migrated database and fails when one is missing.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

# SQLite gives a rowid alias (and so autoincrement) only to INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

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

# --- rules and alert state (rules/statestore.py) ----------------------------------------------------------

rule_checkpoints = Table(
    "rule_checkpoints",
    metadata,
    # One row per rules engine (the bus subscriber's name): its bus cursor and every rule's state as JSON.
    Column("engine", String(64), primary_key=True),
    Column("seq", BigInteger),  # NULL: committed before the engine saw any batch
    Column("state", Text, nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
)

alert_log = Table(
    "alert_log",
    metadata,
    # Every committed transition (firing, resolved): the history, and the outbox the alert router reads.
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("engine", String(64), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("rule", String(128), nullable=False),
    Column("fingerprint", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("alert", Text, nullable=False),
    Index("ix_alert_log_tenant_at", "tenant", "at"),
    Index("ix_alert_log_tenant_rule_at", "tenant", "rule", "at"),
    Index("ix_alert_log_fingerprint_at", "fingerprint", "at"),
)

alerts = Table(
    "alerts",
    metadata,
    # The pending and firing alerts as of each engine's last commit: one row per fingerprint.
    Column("fingerprint", String(32), primary_key=True),
    Column("engine", String(64), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("rule", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("active_at", DateTime(timezone=True), nullable=False),
    Column("alert", Text, nullable=False),
    Index("ix_alerts_tenant_rule", "tenant", "rule"),
    Index("ix_alerts_engine", "engine"),
)

rules = Table(
    "rules",
    metadata,
    # Rules made through /api/v1/rules: a group name and the rule mapping as in a rule file, per tenant. Names
    # are unique across every tenant (and the rule files): the engine, alerts and history know rules by name.
    Column("id", String(32), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("group_name", String(200), nullable=False),
    Column("interval", String(32)),
    Column("rule", Text, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    UniqueConstraint("name", name="uq_rules_name"),
    Index("ix_rules_tenant_name", "tenant", "name"),
)
