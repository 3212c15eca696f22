"""Who may change what in a workspace while someone else works on it.

The CLI and the desk can work on one workspace at the same time. Short changes are safe
already: each is one SQLite write transaction (``BEGIN IMMEDIATE``; the other side waits up
to the connection's 30-second busy timeout), and planning refuses to commit a plan if posts
were published meanwhile. Long work is not: an import is one transaction that may last
minutes, so a plan made during it would wait and then fail with "database is locked", and a
plan changed under a running publisher would be published half old, half new.

So long work takes a named **task lock** first, and a task that must not run beside it is
refused at once with a sentence saying who holds the workspace and what to do:

=========  =====================================================
task       refused while one of these runs
=========  =====================================================
import     import, plan, publish, follow
plan       import, plan, publish (choosing posts, alt texts)
publish    import, plan, publish, follow (publishing, verify, undo)
follow     import, publish, follow
=========  =====================================================

The locks are ``flock`` locks on files in ``<workspace>/.locks/``: the kernel drops them
when their process ends, however it ends, so a killed command never leaves the workspace
locked. A task holds its own file exclusively and the files of the tasks it excludes
shared; two conflicting tasks therefore always collide on one file, whichever starts first.
Each holder writes who it is next to its lock so the other side can name it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from departures.errors import WorkspaceError

__all__ = ["CONFLICTS", "LOCK_DIR", "TASKS", "WorkspaceBusy", "holder_of", "task_lock"]

LOCK_DIR = ".locks"

#: The tasks and what each one excludes (symmetric: a test checks it).
CONFLICTS: dict[str, frozenset[str]] = {
    "import": frozenset({"import", "plan", "publish", "follow"}),
    "plan": frozenset({"import", "plan", "publish"}),
    # Publishing and following write through one journal, and each run starts by settling
    # every open batch of it: beside each other, one would settle the other's batch while
    # it is still on the wire.
    "publish": frozenset({"import", "plan", "publish", "follow"}),
    "follow": frozenset({"import", "publish", "follow"}),
}
TASKS = tuple(CONFLICTS)


class WorkspaceBusy(WorkspaceError):
    """Another process holds a task that must not run beside the one asked for."""

    def __init__(self, task: str, holders: list[str]) -> None:
        who = "; ".join(holders) if holders else "another process"
        super().__init__(
            f"This workspace is busy: {who}",
            "Wait until it has finished (or stop it), then try again",
        )
        self.task = task
        self.holders = holders


def _lock_path(directory: Path, task: str) -> Path:
    return directory / LOCK_DIR / f"{task}.lock"


def _open(directory: Path, task: str) -> IO[str]:
    path = _lock_path(directory, task)
    path.parent.mkdir(parents=True, exist_ok=True)
    # "a+": never truncates the holder's description when only testing the lock.
    return open(path, "a+", encoding="utf-8")


def holder_of(directory: Path, task: str) -> str | None:
    """Who holds ``task`` on the workspace at ``directory`` now, or None when nobody does."""
    path = _lock_path(directory, task)
    if not path.exists():
        return None
    with _open(directory, task) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            return handle.read().strip() or f"another process is running the {task} task"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def _busy(directory: Path, task: str) -> WorkspaceBusy:
    holders = [
        held
        for other in sorted(CONFLICTS[task])
        if (held := holder_of(directory, other)) is not None
    ]
    return WorkspaceBusy(task, holders)


@contextlib.contextmanager
def task_lock(directory: Path, task: str, holder: str) -> Iterator[None]:
    """Hold ``task`` on the workspace at ``directory`` for the block, or raise
    :class:`WorkspaceBusy` at once (never waits) naming who holds a conflicting task.

    ``holder`` says who is working, in the words the other side will read, e.g.
    ``"the desk is importing an archive"``; the process id and start time are added.
    """
    if task not in CONFLICTS:
        raise ValueError(f"unknown workspace task {task!r}")
    held: list[IO[str]] = []
    try:
        own = _open(directory, task)
        held.append(own)
        try:
            fcntl.flock(own, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(directory, task) from None
        for other in sorted(CONFLICTS[task] - {task}):
            handle = _open(directory, other)
            held.append(handle)
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _busy(directory, task) from None
        since = datetime.now(UTC).strftime("%H:%M UTC")
        own.seek(0)
        own.truncate()
        own.write(f"{holder} (process {os.getpid()}, since {since})")
        own.flush()
        yield
    finally:
        for handle in reversed(held):
            handle.close()  # closing drops the flock
