"""Statistics rollups per node, resolution, bucket, metric, list, tier, action and rcode."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_rollups",
        sa.Column("node_id", sa.String(64), primary_key=True),
        sa.Column("resolution", sa.String(8), primary_key=True),
        sa.Column("bucket", sa.DateTime, primary_key=True),
        sa.Column("metric", sa.String(32), primary_key=True),
        sa.Column("list_id", sa.String(64), primary_key=True),
        sa.Column("tier", sa.String(16), primary_key=True),
        sa.Column("action", sa.String(16), primary_key=True),
        sa.Column("rcode", sa.String(16), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stats_rollups")
