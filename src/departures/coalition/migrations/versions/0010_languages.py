"""Texts in three languages: each member organisation's language, each campaign's languages.

Revision ID: 0010_languages
Revises: 0009_modlist
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_languages"
down_revision = "0009_modlist"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows get English: what every page, e-mail and post was in before.
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=False, server_default="en"))
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("languages", sa.String(32), nullable=False, server_default="en"))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("languages")
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("language")
