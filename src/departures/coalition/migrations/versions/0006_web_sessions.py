"""Server-side web sessions: the cookie holds only a random id (``web_sessions``).

Revision ID: 0006_web_sessions
Revises: 0005_directory_follow
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_web_sessions"
down_revision = "0005_directory_follow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("coordinator_id", sa.Integer),
        sa.Column("organisation_id", sa.Integer),
        sa.Column("did", sa.String(200)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_web_sessions_coordinator_id", "web_sessions", ["coordinator_id"])
    op.create_index("ix_web_sessions_organisation_id", "web_sessions", ["organisation_id"])
    op.create_index("ix_web_sessions_did", "web_sessions", ["did"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])


def downgrade() -> None:
    for column in ("expires_at", "did", "organisation_id", "coordinator_id"):
        op.drop_index(f"ix_web_sessions_{column}", "web_sessions")
    op.drop_table("web_sessions")
