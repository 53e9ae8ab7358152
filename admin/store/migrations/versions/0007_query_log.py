"""The opt-in query log."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "query_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("client", sa.String(64), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("qtype", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("rcode", sa.String(16), nullable=False),
        sa.Column("list_id", sa.String(64), nullable=True),
        sa.Column("tier", sa.String(16), nullable=True),
    )
    op.create_index("ix_query_log_node_at", "query_log", ["node_id", "at"])


def downgrade() -> None:
    op.drop_table("query_log")
