"""X claims with proof levels: several claims per X id, their audit, members' connections.

``directory_entries`` is keyed by (X id, DID) instead of the X id alone, so that a second
claimant is never locked out, and says how each claim's X side is known (``level``) and
whether a coordinator decided a dispute against it (``status``). Existing pairs keep their
meaning: from an archive → ``archive``, stated → ``declared``, added by a coordinator →
``vouched``.

Revision ID: 0011_claims
Revises: 0010_languages
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_claims"
down_revision = "0010_languages"
branch_labels = None
depends_on = None

_LEVEL_OF_SOURCE = (
    "CASE source WHEN 'self' THEN 'archive' WHEN 'coordinator' THEN 'vouched' ELSE 'declared' END"
)


def _entries_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("x_id", sa.String(20), nullable=False),
        sa.Column("did", sa.String(200), nullable=False),
        sa.Column("x_username", sa.String(15), nullable=False),
        sa.Column("handle", sa.String(253), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("consented_at", sa.DateTime, nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("level_at", sa.DateTime, nullable=False),
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in ("level", "status"):
            op.add_column("directory_entries", sa.Column(column, sa.String(10)))
        op.add_column("directory_entries", sa.Column("level_at", sa.DateTime))
        op.execute(
            f"UPDATE directory_entries SET level = {_LEVEL_OF_SOURCE}, status = 'active', "
            "level_at = consented_at"
        )
        for column in ("level", "status", "level_at"):
            op.alter_column("directory_entries", column, nullable=False)
        op.drop_constraint("directory_entries_pkey", "directory_entries", type_="primary")
        op.create_primary_key("directory_entries_pkey", "directory_entries", ["x_id", "did"])
    else:
        # SQLite cannot change a primary key in place: a new table, copied, renamed.
        op.create_table(
            "directory_entries_v10",
            *_entries_columns(),
            sa.PrimaryKeyConstraint("x_id", "did"),
        )
        op.execute(
            "INSERT INTO directory_entries_v10 (x_id, did, x_username, handle, source, "
            f"consented_at, level, status, level_at) SELECT x_id, did, x_username, handle, "
            f"source, consented_at, {_LEVEL_OF_SOURCE}, 'active', consented_at "
            "FROM directory_entries"
        )
        op.drop_index("ix_directory_entries_did", "directory_entries")
        op.drop_table("directory_entries")
        op.rename_table("directory_entries_v10", "directory_entries")
        op.create_index("ix_directory_entries_did", "directory_entries", ["did"])
    op.create_table(
        "directory_claim_audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("x_id", sa.String(20), nullable=False),
        sa.Column("did", sa.String(200), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_directory_claim_audit_x_id", "directory_claim_audit", ["x_id"])
    op.create_index("ix_directory_claim_audit_did", "directory_claim_audit", ["did"])
    op.create_table(
        "member_connections",
        sa.Column(
            "organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), primary_key=True
        ),
        sa.Column("did", sa.String(200), nullable=False),
        sa.Column("handle", sa.String(253), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("connected_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_member_connections_did", "member_connections", ["did"])
    # The mark was set from a typed handle until now; it is earned by an OAuth connection.
    op.execute(sa.text("UPDATE organisations SET verified_domain = :no").bindparams(no=False))


def downgrade() -> None:
    op.drop_index("ix_member_connections_did", "member_connections")
    op.drop_table("member_connections")
    op.drop_index("ix_directory_claim_audit_did", "directory_claim_audit")
    op.drop_index("ix_directory_claim_audit_x_id", "directory_claim_audit")
    op.drop_table("directory_claim_audit")
    # One pair per X id again: the strongest claim stays, the others are lost (the key stays
    # (x_id, did), which one pair per X id satisfies).
    op.execute(
        "DELETE FROM directory_entries WHERE EXISTS (SELECT 1 FROM directory_entries AS o "
        "WHERE o.x_id = directory_entries.x_id AND (CASE o.level WHEN 'verified' THEN 4 "
        "WHEN 'vouched' THEN 3 WHEN 'archive' THEN 2 ELSE 1 END, o.did) > (CASE "
        "directory_entries.level WHEN 'verified' THEN 4 WHEN 'vouched' THEN 3 "
        "WHEN 'archive' THEN 2 ELSE 1 END, directory_entries.did))"
    )
    with op.batch_alter_table("directory_entries", recreate="always") as batch:
        batch.drop_column("level")
        batch.drop_column("status")
        batch.drop_column("level_at")
