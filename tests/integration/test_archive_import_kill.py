"""An import killed at any moment leaves the workspace as it was before the import.

The import is one transaction: into an empty workspace through a rollback journal, into a
workspace with tweets in WAL mode. Either way, a SIGKILL mid-way must leave nothing half
imported, and the next import must work.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from departures.archive.stats import archive_stats
from departures.samples.x_archive import generate
from departures.workspace import Workspace


def _import(archive: Path, workspace: Path, workers: str = "0") -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DEPARTURES_WORKSPACE": str(workspace),
        "DEPARTURES_IMPORT_WORKERS": workers,
    }
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "departures"), "archive", "import", str(archive)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _kill_while_importing(archive: Path, workspace: Path, workers: str) -> None:
    """Start an import and SIGKILL it (and its workers) once it has written something."""
    proc = _import(archive, workspace, workers)
    db = workspace / "workspace.db"
    deadline = time.monotonic() + 120
    try:
        # Written: the journal (rollback or WAL) has grown past its first pages.
        while time.monotonic() < deadline and proc.poll() is None:
            sizes = [
                (workspace / name).stat().st_size
                for name in ("workspace.db-journal", "workspace.db-wal")
                if (workspace / name).exists()
            ] + [path.stat().st_size for path in workspace.glob(".import-*/*.db")]
            if (db.exists() and db.stat().st_size > 2 << 20) or any(s > 2 << 20 for s in sizes):
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the import ended before it could be killed"
    finally:
        # The whole process group: the import's worker processes die with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("kill")
    small = generate(folder / "small", tweets=300, seed=1, media=False).path
    # Past importer.PARALLEL_MIN_BYTES, so that with workers the parallel path runs.
    large = generate(folder / "large", tweets=12_000, seed=2, media=False).path
    assert sum(p.stat().st_size for p in large.glob("data/tweets*.js")) > 16 << 20
    return small, large


@pytest.fixture(scope="module")
def large_zip(archives: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The large archive as the zip X sends: its members are inflated as they are read."""
    target = tmp_path_factory.mktemp("kill-zip") / "large.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(archives[1].rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(archives[1]).as_posix())
    return target


@pytest.mark.parametrize(
    ("before", "workers", "as_zip"),
    [("empty", "0", False), ("imported", "0", False), ("empty", "2", False),
     ("imported", "2", False), ("empty", "2", True), ("imported", "0", True)],
)  # fmt: skip
def test_a_killed_import_leaves_the_workspace_as_it_was(
    archives: tuple[Path, Path],
    large_zip: Path,
    tmp_path: Path,
    before: str,
    workers: str,
    as_zip: bool,
) -> None:
    small, large = archives
    if as_zip:
        large = large_zip
    workspace = tmp_path / "ws"
    expected = 0
    if before == "imported":
        assert _import(small, workspace).wait() == 0
        expected = archive_stats(Workspace.open(workspace))["tweets"]
        assert expected > 0
    _kill_while_importing(large, workspace, workers)

    ws = Workspace.open(workspace)  # recovers the hot journal / WAL
    assert ws.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert archive_stats(ws)["tweets"] == expected
    assert ws.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    ws.conn.close()

    assert _import(large, workspace, workers).wait() == 0
    ws = Workspace.open(workspace)
    assert archive_stats(ws)["tweets"] > expected
    assert not list(workspace.glob(".import-*"))  # the killed import's worker files too
