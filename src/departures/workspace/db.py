"""Opening the workspace directory and its SQLite database.

The workspace is the one place an organisation's local state lives: ``workspace.db`` (SQLite
in WAL mode) and, later, the publish journal. This module owns the connection; other modules
receive a :class:`Workspace` and use its ``conn``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from departures.errors import WorkspaceError
from departures.workspace.migrations import MIGRATIONS

WORKSPACE_ENV = "DEPARTURES_WORKSPACE"
DEFAULT_WORKSPACE = "departures-workspace"
DB_NAME = "workspace.db"
# Pages of 16 KiB rather than SQLite's 4 KiB: a tweet row is ~600 bytes, and a long post a
# few KB, so fewer rows spill into overflow pages; an import writes and syncs a third less
# (measured: the 300,000-tweet copy 20-30 % faster). Only a new database takes it.
PAGE_SIZE = 16384

# Python's sqlite3 module asks every bound value that is not an int, float or str whether it
# wants adapting, and for None that question (two failed attribute lookups) costs about a
# microsecond: a tweet row binds a dozen Nones, so an import of 300,000 tweets spent seconds
# on it. A registered adapter is found in one dictionary lookup; ``{}.get`` returns None for
# None, in C. Nothing changes in what is stored (None is still NULL), in this process only.
sqlite3.register_adapter(type(None), cast("Callable[[None], None]", {}.get))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations recorded in ``conn``, in the order they were applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    return [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded in ``conn``; return the names applied now.

    Each migration runs in its own transaction together with its record, so a crash leaves
    the database either before or after it, never half-way.
    """
    done = set(applied_migrations(conn))
    applied: list[str] = []
    for migration in MIGRATIONS:
        name = migration.__name__
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            migration(conn)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, _now()))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        applied.append(name)
    return applied


class Workspace:
    """An opened workspace directory with its migrated database connection."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn

    @classmethod
    def resolve_path(cls, path: str | os.PathLike[str] | None) -> Path:
        """The workspace directory: ``path``, else ``$DEPARTURES_WORKSPACE``, else the default."""
        chosen = path or os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE
        return Path(chosen).expanduser()

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, create: bool = True) -> Workspace:
        """Open (and with ``create``, make) the workspace at ``path`` and migrate its database."""
        directory = cls.resolve_path(path)
        db_path = directory / DB_NAME
        if not db_path.exists() and not create:
            raise WorkspaceError(
                f"No workspace at {directory}",
                "Run 'departures archive import PATH' first, or pass --workspace DIR",
            )
        try:
            directory.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a whole import is one
            # transaction and nothing is committed behind our back.
            conn = sqlite3.connect(db_path, isolation_level=None, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise WorkspaceError(
                f"Cannot open the workspace at {directory}: {exc}",
                "Check the path and its permissions, or pass another --workspace DIR",
            ) from exc
        try:
            # Before anything is written (a no-op on an existing database).
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            migrate(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise WorkspaceError(
                f"{db_path} is not a usable workspace database ({exc})",
                "Move it aside and import the archive again into a fresh --workspace",
            ) from exc
        return cls(directory, conn)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back on any error."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        """A workspace setting, or None."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a workspace setting (inside the caller's transaction, if any)."""
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def close(self) -> None:
        """Close the database connection."""
        self.conn.close()
