"""Invitations e-mailed by the service, bounced e-mails, and the members' checklists.

Revision ID: 0013_invitations
Revises: 0012_oauth
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_invitations"
down_revision = "0012_oauth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("bounced_at", sa.DateTime))
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("invite_id", sa.Integer),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("website", sa.String(500), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False, unique=True),
        sa.Column("sends", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_index("ix_invitations_campaign_id", "invitations", ["campaign_id"])
    op.create_index("ix_invitations_invite_id", "invitations", ["invite_id"])
    op.create_table(
        "checklist_ticks",
        sa.Column(
            "organisation_id",
            sa.Integer,
            sa.ForeignKey("organisations.id"),
            primary_key=True,
        ),
        sa.Column("item", sa.String(32), primary_key=True),
        sa.Column("ticked_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("checklist_ticks")
    op.drop_index("ix_invitations_invite_id", "invitations")
    op.drop_index("ix_invitations_campaign_id", "invitations")
    op.drop_table("invitations")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("bounced_at")
