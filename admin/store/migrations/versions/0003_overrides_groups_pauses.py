"""What the operator manages from the UI: overrides, groups and pauses."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "overrides",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("expires", sa.DateTime, nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.UniqueConstraint("kind", "name"),
    )
    op.create_table(
        "managed_groups",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("clients", sa.JSON, nullable=False),
        sa.Column("lists", sa.JSON, nullable=False),
        sa.Column("safe_search", sa.Boolean, nullable=False),
        sa.Column("schedules", sa.JSON, nullable=False),
    )
    op.create_table(
        "pauses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("group", sa.String(64), nullable=True),
        sa.Column("until", sa.DateTime, nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("created", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("pauses", "managed_groups", "overrides"):
        op.drop_table(table)
