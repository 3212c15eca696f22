"""Alembic migrations of the coalition store (run programmatically by :func:`..db.migrate`)."""
