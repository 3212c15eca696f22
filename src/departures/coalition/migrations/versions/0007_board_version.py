"""The board's version per campaign (``board_versions``), bumped with every change it shows.

Revision ID: 0007_board_version
Revises: 0006_web_sessions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_board_version"
down_revision = "0006_web_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "board_versions",
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("changed_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("board_versions")
