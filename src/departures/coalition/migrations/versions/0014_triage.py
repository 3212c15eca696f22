"""Reply controls and the triage queue for hostile replies.

Revision ID: 0014_triage
Revises: 0013_invitations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_triage"
down_revision = "0013_invitations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "triage_members",
        sa.Column(
            "organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), primary_key=True
        ),
        sa.Column("opted_in", sa.Boolean, nullable=False),
        sa.Column("gate_choice", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("last_pass_at", sa.DateTime),
    )
    op.create_table(
        "triage_settings",
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), primary_key=True),
        sa.Column("threshold", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "triage_words",
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), primary_key=True),
        sa.Column("lang", sa.String(8), primary_key=True),
        sa.Column("words", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "triage_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("subject_uri", sa.String(600), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("post_uri", sa.String(600), nullable=False),
        sa.Column("root_uri", sa.String(600), nullable=False),
        sa.Column("author_did", sa.String(200), nullable=False),
        sa.Column("author_handle", sa.String(253), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("model_score", sa.Integer, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("threshold", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("scored_at", sa.DateTime, nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.Column("decided_at", sa.DateTime),
        sa.Column("decision_note", sa.String(500), nullable=False),
        sa.UniqueConstraint("organisation_id", "subject_uri", name="uq_triage_items_subject"),
    )
    op.create_index("ix_triage_items_author_did", "triage_items", ["author_did"])
    op.create_index("ix_triage_items_queue", "triage_items", ["organisation_id", "state"])
    op.create_table(
        "triage_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("post_uri", sa.String(600), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("noted_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_triage_notes_organisation_id", "triage_notes", ["organisation_id"])


def downgrade() -> None:
    op.drop_index("ix_triage_notes_organisation_id", "triage_notes")
    op.drop_table("triage_notes")
    op.drop_index("ix_triage_items_queue", "triage_items")
    op.drop_index("ix_triage_items_author_did", "triage_items")
    op.drop_table("triage_items")
    op.drop_table("triage_words")
    op.drop_table("triage_settings")
    op.drop_table("triage_members")
