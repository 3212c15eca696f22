"""Ordered, named schema migrations of the workspace database.

Each migration is a function ``mNNN_name(conn)``; :data:`MIGRATIONS` lists them in order.
Applied names are recorded in the ``_migrations`` table, so a migration runs exactly once
per database. Never edit a migration that has shipped: add a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]


def m001_initial(conn: sqlite3.Connection) -> None:
    """Key/value settings of the workspace (its account, creation time, ...)."""
    conn.execute(
        """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )
        """
    )


MIGRATIONS: list[Migration] = [
    m001_initial,
]
