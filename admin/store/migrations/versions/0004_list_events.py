"""The history of list versions: activations and refusals with their reason."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "list_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("list_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("serial", sa.BigInteger, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.UniqueConstraint("node_id", "list_id", "event", "at"),
    )
    op.create_index("ix_list_events_list_at", "list_events", ["list_id", "at"])


def downgrade() -> None:
    op.drop_table("list_events")
