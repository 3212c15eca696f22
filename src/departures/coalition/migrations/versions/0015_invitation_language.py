"""The language of an invitation's e-mail, chosen by the coordinator per invitation.

Revision ID: 0015_invitation_language
Revises: 0014_triage
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_invitation_language"
down_revision = "0014_triage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: the invitations made before keep no language (sent again in the
    # coordinator's language of the moment).
    with op.batch_alter_table("invitations") as batch:
        batch.add_column(sa.Column("language", sa.String(8)))


def downgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.drop_column("language")
