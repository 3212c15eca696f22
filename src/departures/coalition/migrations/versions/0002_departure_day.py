"""Departure day: members' Bluesky accounts (encrypted sessions), the writer's journal in the
coalition store, prepared welcome posts, and the coordinator's list and starter pack.

Revision ID: 0002_departure_day
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_departure_day"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bluesky_accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False, unique=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id")),
        sa.Column("did", sa.String(200), nullable=False),
        sa.Column("handle", sa.String(253), nullable=False),
        sa.Column("service", sa.String(500), nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("budget", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "bluesky_batches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("bluesky_accounts.id"), nullable=False),
        sa.Column("writes", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("settled_at", sa.DateTime),
    )
    op.create_index("ix_bluesky_batches_account_state", "bluesky_batches", ["account_id", "state"])
    op.create_table(
        "bluesky_records",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("bluesky_accounts.id"), nullable=False),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("bluesky_batches.id"), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("collection", sa.String(100), nullable=False),
        sa.Column("rkey", sa.String(64), nullable=False),
        sa.Column("uri", sa.String(600), nullable=False),
        sa.Column("cid", sa.String(100), nullable=False),
        sa.Column("existed", sa.Boolean, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_bluesky_records_account_key", "bluesky_records", ["account_id", "key"])
    op.create_table(
        "departure_posts",
        sa.Column(
            "organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), primary_key=True
        ),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("opted_in", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("post_uri", sa.String(600), nullable=False),
        sa.Column("published_at", sa.DateTime),
    )
    op.create_table(
        "campaign_graph",
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), primary_key=True),
        sa.Column("list_uri", sa.String(600), nullable=False),
        sa.Column("starter_pack_uri", sa.String(600), nullable=False),
        sa.Column("modlist_uri", sa.String(600), nullable=False),
        sa.Column("synced_at", sa.DateTime),
    )


def downgrade() -> None:
    op.drop_table("campaign_graph")
    op.drop_table("departure_posts")
    op.drop_index("ix_bluesky_records_account_key", "bluesky_records")
    op.drop_table("bluesky_records")
    op.drop_index("ix_bluesky_batches_account_state", "bluesky_batches")
    op.drop_table("bluesky_batches")
    op.drop_table("bluesky_accounts")
