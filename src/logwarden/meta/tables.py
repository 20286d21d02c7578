"""The metadata schema as SQLAlchemy Core tables (portable across SQLite and PostgreSQL).

Every change here needs a migration in `meta/migrations/versions/` (docs/storage.md says how); a test
compares this metadata with the migrated database and fails when one is missing.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

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

# --- alert routing and notification (alerting/) -----------------------------------------------------------------

silences = Table(
    "silences",
    metadata,
    # Silences made through the API and CLI; expired ones are kept for `alerting.silence_retention`.
    Column("id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("matchers", Text, nullable=False),  # JSON list of {name, type, value}
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    Index("ix_silences_tenant_ends_at", "tenant", "ends_at"),
)

alert_acks = Table(
    "alert_acks",
    metadata,
    # Acknowledged alerts: who, when, why. An ack stops repeat notifications until the alert resolves.
    Column("fingerprint", String(32), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("acked_by", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("comment", Text, nullable=False),
)

router_state = Table(
    "router_state",
    metadata,
    # The alert router's cursor in alert_log (the id of the last row it took), one row per router.
    Column("router", String(64), primary_key=True),
    Column("cursor", BigInteger, nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
)

routed_alerts = Table(
    "routed_alerts",
    metadata,
    # The alerts the router holds in its aggregation groups: firing ones, and resolved ones until notified.
    Column("fingerprint", String(32), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("alert", Text, nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
)

notification_log = Table(
    "notification_log",
    metadata,
    # What each aggregation group last notified each receiver (Alertmanager's nflog): no repeat before
    # repeat_interval unless the group changed.
    Column("group_key", String(512), primary_key=True),
    Column("receiver", String(200), primary_key=True),
    Column("firing", Text, nullable=False),  # JSON list of fingerprints
    Column("resolved", Text, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

notifications = Table(
    "notifications",
    metadata,
    # The persisted notification queue: one row per notification per integration, until delivered, rejected or
    # given up (kept for `alerting.delivery.history_retention` after that).
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("receiver", String(200), nullable=False),
    Column("integration", String(64), nullable=False),  # `<kind>[<index>]`, e.g. `webhook[0]`
    Column("group_key", String(512), nullable=False),
    Column("status", String(16), nullable=False),  # queued, delivered, rejected, expired
    Column("payload", Text, nullable=False),  # the Notification's JSON
    Column("created", DateTime(timezone=True), nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("next_attempt", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("finished", DateTime(timezone=True)),
    Column("last_error", Text),
    Index("ix_notifications_status_next_attempt", "status", "next_attempt"),
    Index("ix_notifications_tenant_created", "tenant", "created"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    # Every attempt to deliver a notification: outcome, the channel's status and answer, latency.
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("notification", BigInteger, nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("receiver", String(200), nullable=False),
    Column("integration", String(64), nullable=False),
    Column("group_key", String(512), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(16), nullable=False),  # delivered, retriable, rejected, expired
    Column("status_code", Integer),
    Column("answer", Text, nullable=False),
    Column("latency_ms", Integer, nullable=False),
    Index("ix_delivery_attempts_tenant_at", "tenant", "at"),
    Index("ix_delivery_attempts_notification", "notification"),
)

# --- authentication and audit (auth/) ---------------------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),  # argon2id, with its parameters
    Column("disabled", Boolean, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    UniqueConstraint("name", name="uq_users_name"),
)

sessions = Table(
    "sessions",
    metadata,
    # A browser session: only hashes of its cookie token and CSRF token are kept.
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(32), nullable=False),
    Column("csrf_hash", String(64), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("expires", DateTime(timezone=True), nullable=False),
    Index("ix_sessions_user_id", "user_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    # An API key `lw_<prefix>_<secret>`: found by its prefix, checked against the hash of its secret.
    Column("prefix", String(16), primary_key=True),
    Column("secret_hash", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("expires", DateTime(timezone=True)),
    Column("revoked", DateTime(timezone=True)),
    Index("ix_api_keys_tenant", "tenant"),
)

audit_log = Table(
    "audit_log",
    metadata,
    # Append-only: who did what, when, from where, and whether it was allowed.
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(512), nullable=False),
    Column("outcome", String(16), nullable=False),  # ok, denied, failed
    Column("client", String(64), nullable=False),
    Column("details", Text, nullable=False),  # JSON object
    Index("ix_audit_log_tenant_at", "tenant", "at"),
    Index("ix_audit_log_actor_at", "actor", "at"),
    Index("ix_audit_log_action_at", "action", "at"),
)

# --- log patterns (patterns/store.py) ---------------------------------------------------------------------

patterns = Table(
    "patterns",
    metadata,
    # One row per template the miner made: its text as last generalized, and totals over every line counted.
    Column("tenant", String(64), primary_key=True),
    Column("pattern_id", String(16), primary_key=True),
    Column("service", String(256), nullable=False),  # "" for lines without a service
    Column("template", Text, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("lines", BigInteger, nullable=False),
    Column("levels", Text, nullable=False),  # JSON object: level → lines ("" for lines without a level)
    Column("samples", Text, nullable=False),  # JSON array: the first few messages seen
    Index("ix_patterns_tenant_last_seen", "tenant", "last_seen"),
)

pattern_counts = Table(
    "pattern_counts",
    metadata,
    # Lines per template per time bucket: minute buckets, rolled up into hour buckets once a day old.
    Column("tenant", String(64), primary_key=True),
    Column("pattern_id", String(16), primary_key=True),
    Column("width", Integer, primary_key=True),  # bucket width in seconds: 60 or 3600
    Column("bucket", DateTime(timezone=True), primary_key=True),  # the bucket's start (UTC)
    Column("lines", BigInteger, nullable=False),
    Index("ix_pattern_counts_tenant_bucket", "tenant", "bucket"),
)

pattern_checkpoints = Table(
    "pattern_checkpoints",
    metadata,
    # The pattern recorder's bus cursor, committed with the counts it covers (exactly once across crashes).
    Column("recorder", String(64), primary_key=True),
    Column("seq", BigInteger),
    Column("updated", DateTime(timezone=True), nullable=False),
)

# --- dashboards (meta/dashboards.py) ----------------------------------------------------------------------

dashboards = Table(
    "dashboards",
    metadata,
    # A tenant's dashboard: its panels as one JSON array (validated on write; read and written whole).
    Column("id", String(32), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("panels", Text, nullable=False),
    Column("refresh", String(16)),  # auto-refresh interval (`30s`, `1m`), NULL: off
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "name", name="uq_dashboards_tenant_name"),
    Index("ix_dashboards_tenant_updated", "tenant", "updated"),
)

# --- per-tenant alerting configuration (alerting/tenant_config.py) -----------------------------------------

alerting_configs = Table(
    "alerting_configs",
    metadata,
    # A tenant's own routing tree, receivers, inhibition rules and time intervals (Mimir's per-tenant
    # Alertmanager config); tenants without a row use the config file's `alerting:` section.
    Column("tenant", String(64), primary_key=True),
    Column("config", Text, nullable=False),  # JSON object as given (secrets included: never served back)
    Column("version", Integer, nullable=False),  # 1, 2, …: bumped by each change, seen by other servers
    Column("updated_by", String(256), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
