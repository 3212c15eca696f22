"""Alembic environment: migrations run on the connection that :func:`db.migrate` passes in.

``target_metadata`` is the one ``MetaData`` that declares every coalition table, so
autogenerate and ``alembic check`` compare the whole schema (a test runs that check on SQLite
and PostgreSQL).
"""

from __future__ import annotations

from alembic import context

from departures.coalition.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
