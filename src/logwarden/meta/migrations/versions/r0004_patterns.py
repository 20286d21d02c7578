"""Log patterns: templates with their totals, line counts per time bucket, and the recorder's bus cursor.

Revision 0004 (follows 0005, the revision written before it on a parallel branch: one linear history).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "patterns",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("pattern_id", sa.String(16), primary_key=True),
        sa.Column("service", sa.String(256), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("first_seen", _TS, nullable=False),
        sa.Column("last_seen", _TS, nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("levels", sa.Text(), nullable=False),
        sa.Column("samples", sa.Text(), nullable=False),
    )
    op.create_index("ix_patterns_tenant_last_seen", "patterns", ["tenant", "last_seen"])
    op.create_table(
        "pattern_counts",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("pattern_id", sa.String(16), primary_key=True),
        sa.Column("width", sa.Integer(), primary_key=True),
        sa.Column("bucket", _TS, primary_key=True),
        sa.Column("lines", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_pattern_counts_tenant_bucket", "pattern_counts", ["tenant", "bucket"])
    op.create_table(
        "pattern_checkpoints",
        sa.Column("recorder", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger()),
        sa.Column("updated", _TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pattern_checkpoints")
    op.drop_index("ix_pattern_counts_tenant_bucket", table_name="pattern_counts")
    op.drop_table("pattern_counts")
    op.drop_index("ix_patterns_tenant_last_seen", table_name="patterns")
    op.drop_table("patterns")
