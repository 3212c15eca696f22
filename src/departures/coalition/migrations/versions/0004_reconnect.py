"""Reconnect: members' X following ids, their settings, and the directory entries proposed
to (or followed for) each member (:mod:`departures.coalition.reconnect`).

Revision ID: 0004_reconnect
Revises: 0003_directory
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_reconnect"
down_revision = "0003_directory"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconnect_members",
        sa.Column(
            "organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), primary_key=True
        ),
        sa.Column("auto_follow", sa.Boolean, nullable=False),
        sa.Column("uploaded_at", sa.DateTime),
    )
    op.create_table(
        "reconnect_followings",
        sa.Column(
            "organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), primary_key=True
        ),
        sa.Column("x_id", sa.String(20), primary_key=True),
    )
    op.create_index("ix_reconnect_followings_x_id", "reconnect_followings", ["x_id"])
    op.create_table(
        "reconnect_proposals",
        sa.Column(
            "organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), primary_key=True
        ),
        sa.Column("x_id", sa.String(20), primary_key=True),
        sa.Column("did", sa.String(200), nullable=False),
        sa.Column("handle", sa.String(253), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("proposed_at", sa.DateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("done_at", sa.DateTime),
        sa.Column("uri", sa.String(600), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
    )
    op.create_index("ix_reconnect_proposals_did", "reconnect_proposals", ["did"])


def downgrade() -> None:
    op.drop_index("ix_reconnect_proposals_did", "reconnect_proposals")
    op.drop_table("reconnect_proposals")
    op.drop_index("ix_reconnect_followings_x_id", "reconnect_followings")
    op.drop_table("reconnect_followings")
    op.drop_table("reconnect_members")
