"""The coalition store really runs on PostgreSQL: the session's cluster (``postgres_engine``
in tests/conftest.py) is migrated by the store's own code.

The store's behaviour on PostgreSQL is proved by the store tests themselves, which run on
both databases through the ``engine`` fixture (``helpers.stores.ON_BOTH_STORES``).
"""

from __future__ import annotations

from sqlalchemy import Engine, text


def test_the_store_really_runs_on_postgresql(postgres_engine: Engine) -> None:
    engine = postgres_engine
    assert engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
