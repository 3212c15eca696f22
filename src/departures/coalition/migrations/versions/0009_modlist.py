"""The moderation list with due process: proposals, appeals, the audit log, members' choices.

Revision ID: 0009_modlist
Revises: 0008_processes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_modlist"
down_revision = "0008_processes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "modlist_proposals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("subject_did", sa.String(200), nullable=False),
        sa.Column("subject_handle", sa.String(253), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("active_did", sa.String(200)),
        sa.Column("proposer_organisation_id", sa.Integer),
        sa.Column("proposer_coordinator_id", sa.Integer),
        sa.Column("proposed_at", sa.DateTime, nullable=False),
        sa.Column("decider_organisation_id", sa.Integer),
        sa.Column("decider_coordinator_id", sa.Integer),
        sa.Column("decided_at", sa.DateTime),
        sa.Column("decision_reason", sa.Text, nullable=False),
        sa.Column("listed_uri", sa.String(600), nullable=False),
        sa.Column("listed_at", sa.DateTime),
        sa.Column("unlisted_at", sa.DateTime),
        sa.UniqueConstraint("campaign_id", "active_did", name="uq_modlist_proposals_active"),
    )
    op.create_index("ix_modlist_proposals_campaign_id", "modlist_proposals", ["campaign_id"])
    op.create_index("ix_modlist_proposals_subject_did", "modlist_proposals", ["subject_did"])
    op.create_index(
        "ix_modlist_proposals_proposer_organisation_id",
        "modlist_proposals",
        ["proposer_organisation_id"],
    )
    op.create_index(
        "ix_modlist_proposals_decider_organisation_id",
        "modlist_proposals",
        ["decider_organisation_id"],
    )
    op.create_table(
        "modlist_appeals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("proposal_id", sa.Integer, sa.ForeignKey("modlist_proposals.id"), nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("filed_at", sa.DateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("open_proposal", sa.Integer, unique=True),
        sa.Column("decider_organisation_id", sa.Integer),
        sa.Column("decider_coordinator_id", sa.Integer),
        sa.Column("decided_at", sa.DateTime),
        sa.Column("decision_reason", sa.Text, nullable=False),
    )
    op.create_index("ix_modlist_appeals_proposal_id", "modlist_appeals", ["proposal_id"])
    op.create_index(
        "ix_modlist_appeals_decider_organisation_id",
        "modlist_appeals",
        ["decider_organisation_id"],
    )
    op.create_table(
        "modlist_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("proposal_id", sa.Integer, sa.ForeignKey("modlist_proposals.id"), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_organisation_id", sa.Integer),
        sa.Column("actor_coordinator_id", sa.Integer),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_modlist_events_campaign_id", "modlist_events", ["campaign_id"])
    op.create_index("ix_modlist_events_proposal_id", "modlist_events", ["proposal_id"])
    op.create_index(
        "ix_modlist_events_actor_organisation_id", "modlist_events", ["actor_organisation_id"]
    )
    op.create_table(
        "modlist_choices",
        sa.Column("organisation_id", sa.Integer, primary_key=True),
        sa.Column("choice", sa.String(8), nullable=False),
        sa.Column("changed_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("modlist_choices")
    op.drop_index("ix_modlist_events_actor_organisation_id", "modlist_events")
    op.drop_index("ix_modlist_events_proposal_id", "modlist_events")
    op.drop_index("ix_modlist_events_campaign_id", "modlist_events")
    op.drop_table("modlist_events")
    op.drop_index("ix_modlist_appeals_decider_organisation_id", "modlist_appeals")
    op.drop_index("ix_modlist_appeals_proposal_id", "modlist_appeals")
    op.drop_table("modlist_appeals")
    op.drop_index("ix_modlist_proposals_decider_organisation_id", "modlist_proposals")
    op.drop_index("ix_modlist_proposals_proposer_organisation_id", "modlist_proposals")
    op.drop_index("ix_modlist_proposals_subject_did", "modlist_proposals")
    op.drop_index("ix_modlist_proposals_campaign_id", "modlist_proposals")
    op.drop_table("modlist_proposals")
