"""Locks on a workspace that the CLI and the desk's background jobs both respect.

Some work must not run twice at once on one workspace, whoever starts it: two writers to
Bluesky on the same journal would settle each other's batches while they are in flight. A
lock is an exclusive ``flock`` on a file in ``<workspace>/locks/``; the kernel releases it
when the process holding it ends, however it ends (a kill included), so a lock is never left
behind. The file's text says who holds it (pid and what it does), for the message the other
one shows.

Names in use:

* :data:`WRITES`: writes to Bluesky as the workspace's account (``migrate run``/``undo``,
  ``audience follow``, and the desk's publishing, undo and follow jobs);
* :data:`MATCH`: the search for the audience's candidates (``audience match``, the desk's).

A lock can be handed to a child process (``fd`` in ``pass_fds``): the child then holds it
until it ends, without a moment where nobody does.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from departures.errors import WorkspaceError

LOCKS_DIR = "locks"
WRITES = "bluesky-writes"
MATCH = "audience-match"


@dataclass
class HeldLock:
    """An exclusive lock this process holds, on an open file descriptor."""

    name: str
    path: Path
    fd: int

    def release(self) -> None:
        """Give the lock up (closing the descriptor; a child given it keeps holding it)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def lock_path(workspace_dir: Path, name: str) -> Path:
    """Where the lock ``name`` of a workspace lives."""
    return workspace_dir / LOCKS_DIR / f"{name}.lock"


def holder(workspace_dir: Path, name: str) -> str | None:
    """What holds the lock ``name`` now (its own words), or None when nobody does."""
    path = lock_path(workspace_dir, name)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(path) or "another departures process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def acquire(workspace_dir: Path, name: str, what: str) -> HeldLock:
    """Take the lock ``name`` for ``what`` (said to whoever finds it taken) or refuse at once.

    Errors: :class:`WorkspaceError` naming what holds it, with what to do.
    """
    path = lock_path(workspace_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise busy(_read(path) or "another departures process") from None
    # Who holds it, for the other side's message; written only once the lock is ours.
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{what} (pid {os.getpid()})".encode(), 0)
    return HeldLock(name, path, fd)


def busy(who: str) -> WorkspaceError:
    """The error for a lock somebody else holds."""
    return WorkspaceError(
        f"This workspace is busy: {who} is at work on it",
        "Wait until it is done, or pause it in the desk (Publish or Audience page), then try again",
    )


@contextmanager
def held(workspace_dir: Path, name: str, what: str) -> Iterator[HeldLock]:
    """The lock ``name`` for the duration of a block (a CLI command's)."""
    lock = acquire(workspace_dir, name, what)
    try:
        yield lock
    finally:
        lock.release()


def note_holder(lock: HeldLock, what: str, pid: int) -> None:
    """Say in the lock file that ``what`` (process ``pid``) now holds it (a child given it)."""
    fd = os.open(lock.path, os.O_WRONLY)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{what} (pid {pid})".encode(), 0)
    finally:
        os.close(fd)
