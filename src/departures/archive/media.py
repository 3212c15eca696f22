"""Reading a media file of the imported archive, straight from the zip or the folder."""

from __future__ import annotations

import zipfile
from pathlib import Path

from departures.errors import ArchiveError
from departures.workspace.db import Workspace


def read_media(workspace: Workspace, file_path: str) -> bytes:
    """The bytes of ``media.file_path`` from the archive the workspace was imported from.

    For a zip, ``file_path`` is the member name (read without extracting the zip); for a
    folder, the path relative to it.
    """
    archive = workspace.get_meta("archive_path")
    kind = workspace.get_meta("archive_kind")
    if archive is None or kind is None:
        raise ArchiveError(
            "The workspace does not know where its archive is",
            "Run 'departures archive import PATH' again",
        )
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                return zf.read(file_path)
        base = Path(archive) if kind == "dir" else Path(archive).parent
        return (base / file_path).read_bytes()
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ArchiveError(
            f"{file_path} cannot be read from the archive {archive} ({exc})",
            "Put the archive back where it was imported from, or import it again",
        ) from exc
