"""One import as the CLI and the desk run it: the path checked, the workspace opened (made
if need be), the workspace's import lock held, the archive imported, and a workspace this
import created removed again when nothing was imported.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from departures.archive.importer import ImportReport, Progress, import_archive
from departures.archive.source import open_source
from departures.archive.stats import archive_stats
from departures.errors import DeparturesError
from departures.workspace.db import DB_NAME, Workspace
from departures.workspace.locks import task_lock

__all__ = ["forget_if_fresh", "import_into"]


def forget_if_fresh(workspace: Workspace, fresh: bool) -> None:
    """Remove the workspace an import created when that first import did not happen.

    The import is one transaction, so such a workspace holds nothing; left behind it would
    make the next command say "holds no tweets" instead of "no workspace here".
    """
    if not fresh or archive_stats(workspace)["tweets"] or workspace.get_meta("account_id"):
        return
    workspace.close()
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(OSError):
            (workspace.path / (DB_NAME + suffix)).unlink()


def import_into(
    path: Path,
    workspace_dir: str | Path | None,
    *,
    holder: str,
    progress: Progress | None = None,
    locked: bool = False,
) -> ImportReport:
    """Import the archive at ``path`` into the workspace at ``workspace_dir``.

    ``holder`` names who imports, for the message another process gets while this runs;
    ``locked``: the caller holds the workspace's ``import`` task lock already.
    """
    # A path that is not an archive at all must not leave an empty workspace behind.
    open_source(path).close()
    directory = Workspace.resolve_path(workspace_dir)
    fresh = not (directory / DB_NAME).exists()
    directory.mkdir(parents=True, exist_ok=True)
    lock = contextlib.nullcontext() if locked else task_lock(directory, "import", holder)
    with lock:
        workspace = Workspace.open(directory)
        try:
            return import_archive(path, workspace, progress=progress)
        except DeparturesError:
            forget_if_fresh(workspace, fresh)
            raise
        finally:
            workspace.close()
