"""Follow all from the directory: visitors' Bluesky sessions (encrypted, 30 minutes) and the
journal of their follows (:mod:`departures.coalition.directory_follow`).

Revision ID: 0005_directory_follow
Revises: 0004_reconnect
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_directory_follow"
down_revision = "0004_reconnect"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("did", sa.String(200), nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "directory_follow_batches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("did", sa.String(200), nullable=False),
        sa.Column("writes", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("budget", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("settled_at", sa.DateTime),
    )
    op.create_index("ix_directory_follow_batches_did", "directory_follow_batches", ["did"])


def downgrade() -> None:
    op.drop_index("ix_directory_follow_batches_did", "directory_follow_batches")
    op.drop_table("directory_follow_batches")
    op.drop_table("directory_sessions")
