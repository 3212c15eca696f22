"""The directory: consented X id → Bluesky DID pairs (:mod:`departures.coalition.directory`).

Revision ID: 0003_directory
Revises: 0002_departure_day
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_directory"
down_revision = "0002_departure_day"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_entries",
        sa.Column("x_id", sa.String(20), primary_key=True),
        sa.Column("x_username", sa.String(15), nullable=False),
        sa.Column("did", sa.String(200), nullable=False),
        sa.Column("handle", sa.String(253), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("consented_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_directory_entries_did", "directory_entries", ["did"])


def downgrade() -> None:
    op.drop_index("ix_directory_entries_did", "directory_entries")
    op.drop_table("directory_entries")
