"""Dashboards: a tenant's named grids of panels (each a query and a visualization), saved from the console.

Revision 0006.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dashboards",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("panels", sa.Text(), nullable=False),
        sa.Column("refresh", sa.String(16)),
        sa.Column("created", _TS, nullable=False),
        sa.Column("updated", _TS, nullable=False),
        sa.UniqueConstraint("tenant", "name", name="uq_dashboards_tenant_name"),
    )
    op.create_index("ix_dashboards_tenant_updated", "dashboards", ["tenant", "updated"])


def downgrade() -> None:
    op.drop_index("ix_dashboards_tenant_updated", "dashboards")
    op.drop_table("dashboards")
