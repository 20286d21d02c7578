"""Rules and alert state: engine checkpoints, the alert log, the current alerts, and rules made through the API.

Revision 0002. The rules engine kept its checkpoint and alert log in `<data_dir>/rules/state.sqlite` before; the
server moves an old file's contents here at start (rules/statestore.py: import_legacy_state).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rule_checkpoints",
        sa.Column("engine", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger()),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "alert_log",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alert", sa.Text(), nullable=False),
    )
    op.create_index("ix_alert_log_tenant_at", "alert_log", ["tenant", "at"])
    op.create_index("ix_alert_log_tenant_rule_at", "alert_log", ["tenant", "rule", "at"])
    op.create_index("ix_alert_log_fingerprint_at", "alert_log", ["fingerprint", "at"])
    op.create_table(
        "alerts",
        sa.Column("fingerprint", sa.String(32), primary_key=True),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("active_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alert", sa.Text(), nullable=False),
    )
    op.create_index("ix_alerts_tenant_rule", "alerts", ["tenant", "rule"])
    op.create_index("ix_alerts_engine", "alerts", ["engine"])
    op.create_table(
        "rules",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("group_name", sa.String(200), nullable=False),
        sa.Column("interval", sa.String(32)),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", name="uq_rules_name"),
    )
    op.create_index("ix_rules_tenant_name", "rules", ["tenant", "name"])


def downgrade() -> None:
    op.drop_index("ix_rules_tenant_name", table_name="rules")
    op.drop_table("rules")
    op.drop_index("ix_alerts_engine", table_name="alerts")
    op.drop_index("ix_alerts_tenant_rule", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_alert_log_fingerprint_at", table_name="alert_log")
    op.drop_index("ix_alert_log_tenant_rule_at", table_name="alert_log")
    op.drop_index("ix_alert_log_tenant_at", table_name="alert_log")
    op.drop_table("alert_log")
    op.drop_table("rule_checkpoints")
