"""The coalition store's tests, run again on a real PostgreSQL.

A throwaway cluster is started once for the session from the machine's Debian server binaries
(through the sandbox's :class:`~departures.sandbox.postgres.Cluster`), with one database that
the store's migrations create and that is emptied before each test. The test functions are
those of ``tests/unit/test_coalition_store.py``, collected here with this module's ``engine``
fixture, so both engines prove exactly the same behaviour.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from departures.coalition.db import connect, migrate
from departures.coalition.store.schema import metadata
from departures.errors import SandboxError
from departures.sandbox.postgres import Cluster, find_bindir

_UNIT = Path(__file__).resolve().parent.parent / "unit" / "test_coalition_store.py"
_spec = importlib.util.spec_from_file_location("coalition_store_cases", _UNIT)
assert _spec is not None and _spec.loader is not None
_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_cases)

# Re-export every store test (and its helper fixtures other than ``engine``).
for _name in dir(_cases):
    if _name.startswith("test_") or _name in ("clock", "store"):
        globals()[_name] = getattr(_cases, _name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running PostgreSQL cluster for the session; yields its base URL (no database)."""
    try:
        find_bindir()
    except SandboxError as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {error.one_line()}")
        pytest.skip(f"PostgreSQL server binaries not installed: {error.message}")
    port = _free_port()
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: the cluster belongs to the postgres user, in a
        # directory it can reach (root's home and pytest's tmp are mode 700).
        data_dir = Path(f"/var/tmp/departures-coalition-test-{os.getpid()}") / "pg"
    else:
        data_dir = tmp_path_factory.mktemp("coalition-pg") / "pg"
    cluster = Cluster(data_dir=data_dir, port=port)
    cluster.start()
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def postgres_engine(postgres_cluster: str) -> Iterator[Engine]:
    """One database for the session, created blank and migrated by the store's own code."""
    admin = create_engine(f"{postgres_cluster}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "coalition"'))
    admin.dispose()
    engine = connect(f"{postgres_cluster}/coalition")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(postgres_engine: Engine) -> Engine:
    """The session's database, emptied: each test starts from a blank, migrated store."""
    tables = ", ".join(table.name for table in metadata.sorted_tables)
    with postgres_engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return postgres_engine


def test_the_store_really_runs_on_postgresql(engine: Engine) -> None:
    assert engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
