"""The one place that owns the coalition store's engine: URLs, connecting, migrating.

The store is SQLite by default (a file ``coalition.db`` in the working directory) and
PostgreSQL when a ``postgresql+psycopg://`` URL is given; the same SQLAlchemy Core queries run
on both. :func:`migrate` brings the schema to the newest Alembic revision and is what
``departures coalition serve`` runs on startup.

Part of the store layer: the tables are declared once in :mod:`departures.coalition.store.schema`
and queried only by the repositories of :mod:`departures.coalition.store`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from departures.errors import DeparturesError

__all__ = [
    "DEFAULT_DB_FILE",
    "StoreError",
    "connect",
    "current_revision",
    "default_url",
    "head_revision",
    "migrate",
]

DEFAULT_DB_FILE = "coalition.db"
MIGRATIONS = Path(__file__).parent / "migrations"


class StoreError(DeparturesError):
    """The coalition store cannot be opened, reached or migrated."""


def default_url(directory: Path | None = None) -> str:
    """The default store: ``coalition.db`` in ``directory`` (the working directory)."""
    path = (directory or Path.cwd()) / DEFAULT_DB_FILE
    return f"sqlite:///{path}"


def connect(url: str) -> Engine:
    """An engine for ``url``; ``postgresql://`` is taken to mean the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"{url!r} is not a database URL",
            "Give e.g. sqlite:///coalition.db or postgresql+psycopg://user@host/db",
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        # The web server's threads share the engine; SQLite waits for the writer, not errors.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    elif parsed.get_backend_name() == "postgresql":
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
    else:
        raise StoreError(
            f"the coalition store runs on SQLite or PostgreSQL, not {parsed.get_backend_name()}",
            "Give a sqlite:/// or postgresql+psycopg:// URL",
        )
    try:
        engine = create_engine(parsed, **kwargs)
    except NoSuchModuleError:
        raise StoreError(
            f"no database driver for {parsed.drivername}", "Use sqlite:/// or postgresql+psycopg://"
        ) from None
    if engine.dialect.name == "sqlite":
        _create_private(parsed.database)
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _create_private(database: str | None) -> None:
    """Create a new SQLite file readable by its owner only (0600), whatever the umask.

    The store holds encrypted sessions, e-mail addresses and token hashes. SQLite gives its
    ``-wal`` and ``-shm`` files the database file's mode, so they are private too. An existing
    file keeps the mode its owner chose.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists() or not path.parent.is_dir():
        return
    # FileExistsError: another process created it a moment ago.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest migration's revision id."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None`` for a blank database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine) -> str:
    """Bring the store's schema to the newest revision; returns that revision."""
    config = _alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise StoreError(
            f"cannot open the coalition store at {engine.url.render_as_string()}: "
            f"{str(exc.orig).strip().splitlines()[0]}",
            "Check the --db URL, that the server runs and that you may write there",
        ) from None
    return head_revision()
