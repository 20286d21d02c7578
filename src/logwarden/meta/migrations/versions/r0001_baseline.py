"""Baseline: the schema as it was before migrations (saved searches).

Revision 0001, the first. Databases created by `metadata.create_all` are stamped here, then upgraded.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saved_searches",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("start_time", sa.String(64)),
        sa.Column("end_time", sa.String(64)),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant", "name", name="uq_saved_searches_tenant_name"),
    )
    op.create_index("ix_saved_searches_tenant_updated", "saved_searches", ["tenant", "updated"])


def downgrade() -> None:
    op.drop_index("ix_saved_searches_tenant_updated", table_name="saved_searches")
    op.drop_table("saved_searches")
