"""Alembic revisions of the coalition store (one file per revision)."""
