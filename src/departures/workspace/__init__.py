"""The local SQLite workspace: one directory, one database, ordered named migrations."""

from departures.workspace.db import (
    DEFAULT_WORKSPACE,
    WORKSPACE_ENV,
    Workspace,
    applied_migrations,
    migrate,
)

__all__ = ["DEFAULT_WORKSPACE", "WORKSPACE_ENV", "Workspace", "applied_migrations", "migrate"]
