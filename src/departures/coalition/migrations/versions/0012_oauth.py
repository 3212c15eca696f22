"""AT Protocol OAuth: the client's keys, pending sign-ins, and accounts connected through it.

Revision ID: 0012_oauth
Revises: 0011_claims
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_oauth"
down_revision = "0011_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_client_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("retired_at", sa.DateTime),
    )
    op.create_table(
        "oauth_pending",
        sa.Column("state_hash", sa.String(64), primary_key=True),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_oauth_pending_created_at", "oauth_pending", ["created_at"])
    op.create_table(
        "oauth_connections",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("did", sa.String(200), nullable=False),
        sa.Column("connected_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_oauth_connections_did", "oauth_connections", ["did"])


def downgrade() -> None:
    op.drop_index("ix_oauth_connections_did", "oauth_connections")
    op.drop_table("oauth_connections")
    op.drop_index("ix_oauth_pending_created_at", "oauth_pending")
    op.drop_table("oauth_pending")
    op.drop_table("oauth_client_keys")
