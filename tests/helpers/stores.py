"""The coalition store's databases for tests: a migrated SQLite file, the session's
PostgreSQL emptied between tests, and the parametrisation that runs a test on both.

The fixtures built on these (``engine``, ``store``, ``postgres_engine``) are in
``tests/conftest.py``; a test module opts into running on both databases with
``pytestmark = ON_BOTH_STORES`` (or ``@ON_BOTH_STORES`` on single tests).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from departures.coalition.db import connect, migrate
from departures.errors import SandboxError
from departures.sandbox.postgres import Cluster, find_bindir
from helpers.ports import free_port

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

# Indirect parametrisation of the ``engine`` fixture; the PostgreSQL case carries the
# ``postgres`` marker so that ``-m "not postgres"`` leaves just the SQLite case.
ON_BOTH_STORES = pytest.mark.parametrize(
    "engine",
    [
        pytest.param(SQLITE, id=SQLITE),
        pytest.param(POSTGRESQL, id=POSTGRESQL, marks=pytest.mark.postgres),
    ],
    indirect=True,
)


def migrated_sqlite(path: Path) -> Engine:
    """A coalition store in the SQLite file ``path``, migrated to the newest revision."""
    engine = connect(f"sqlite:///{path}")
    migrate(engine)
    return engine


def start_postgres(data_root: Path) -> tuple[Cluster, str]:
    """A throwaway PostgreSQL cluster on a free port; its base URL (no database named).

    Fails in CI and skips elsewhere when the Debian server binaries are missing. As root
    the data lives under ``/var/tmp`` (PostgreSQL refuses root and cannot reach root's
    mode-700 home or pytest's temporary folders).
    """
    try:
        find_bindir()
    except SandboxError as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {error.one_line()}")
        pytest.skip(f"PostgreSQL server binaries not installed: {error.message}")
    port = free_port()
    if os.geteuid() == 0:
        data_dir = Path(f"/var/tmp/departures-coalition-test-{os.getpid()}") / "pg"
    else:
        data_dir = data_root / "pg"
    cluster = Cluster(data_dir=data_dir, port=port)
    cluster.start()
    return cluster, f"postgresql+psycopg://postgres@127.0.0.1:{port}"


def create_database(cluster_url: str, name: str) -> str:
    """Create the empty database ``name`` on the cluster; its URL."""
    admin = create_engine(f"{cluster_url}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return f"{cluster_url}/{name}"


def empty_every_table(engine: Engine) -> None:
    """Delete every row of every table but Alembic's, restarting the identity sequences.

    The tables are read from the database rather than from a ``MetaData``, so a table that
    a migration adds is emptied too, whichever module declares it.
    """
    tables = [name for name in inspect(engine).get_table_names() if name != "alembic_version"]
    if not tables:
        return
    quoted = ", ".join(f'"{name}"' for name in tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
