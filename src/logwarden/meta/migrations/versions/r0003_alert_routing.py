"""Alert routing and notification: silences, acknowledgements, the router's cursor and alerts, the notification
log, the notification queue and every delivery attempt.

Revision 0003.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "silences",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("matchers", sa.Text(), nullable=False),
        sa.Column("starts_at", _TS, nullable=False),
        sa.Column("ends_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created", _TS, nullable=False),
        sa.Column("updated", _TS, nullable=False),
    )
    op.create_index("ix_silences_tenant_ends_at", "silences", ["tenant", "ends_at"])
    op.create_table(
        "alert_acks",
        sa.Column("fingerprint", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("acked_by", sa.String(200), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
    )
    op.create_table(
        "router_state",
        sa.Column("router", sa.String(64), primary_key=True),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("updated", _TS, nullable=False),
    )
    op.create_table(
        "routed_alerts",
        sa.Column("fingerprint", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("alert", sa.Text(), nullable=False),
        sa.Column("updated", _TS, nullable=False),
    )
    op.create_table(
        "notification_log",
        sa.Column("group_key", sa.String(512), primary_key=True),
        sa.Column("receiver", sa.String(200), primary_key=True),
        sa.Column("firing", sa.Text(), nullable=False),
        sa.Column("resolved", sa.Text(), nullable=False),
        sa.Column("sent_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
    )
    op.create_table(
        "notifications",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("receiver", sa.String(200), nullable=False),
        sa.Column("integration", sa.String(64), nullable=False),
        sa.Column("group_key", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created", _TS, nullable=False),
        sa.Column("deadline", _TS, nullable=False),
        sa.Column("next_attempt", _TS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("finished", _TS),
        sa.Column("last_error", sa.Text()),
    )
    op.create_index("ix_notifications_status_next_attempt", "notifications", ["status", "next_attempt"])
    op.create_index("ix_notifications_tenant_created", "notifications", ["tenant", "created"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("notification", sa.BigInteger(), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("receiver", sa.String(200), nullable=False),
        sa.Column("integration", sa.String(64), nullable=False),
        sa.Column("group_key", sa.String(512), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
    )
    op.create_index("ix_delivery_attempts_tenant_at", "delivery_attempts", ["tenant", "at"])
    op.create_index("ix_delivery_attempts_notification", "delivery_attempts", ["notification"])


def downgrade() -> None:
    for name in ("delivery_attempts", "notifications", "notification_log", "routed_alerts", "router_state"):
        op.drop_table(name)
    op.drop_table("alert_acks")
    op.drop_index("ix_silences_tenant_ends_at", "silences")
    op.drop_table("silences")
