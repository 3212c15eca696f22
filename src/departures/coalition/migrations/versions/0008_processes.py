"""Several server processes on one store: stored rate counts and the scheduler's lease.

Revision ID: 0008_processes
Revises: 0007_board_version
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_processes"
down_revision = "0007_board_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_counts",
        sa.Column("bucket", sa.String(32), primary_key=True),
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("window_start", sa.DateTime, primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_index("ix_rate_counts_window_start", "rate_counts", ["window_start"])
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scheduler_leases")
    op.drop_index("ix_rate_counts_window_start", "rate_counts")
    op.drop_table("rate_counts")
