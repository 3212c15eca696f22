"""The desk's long work as background processes: publishing, following, matching, undo.

A job is a separate Python process (``python -m departures.desk.background WS KIND``), in
its own session, so closing the browser, the desk or its terminal does not stop it; the
pages only read what it writes. Everything a page needs is in the workspace:

* ``<workspace>/desk-jobs/<kind>.json``, the job's status: its state, counts, ETA, last
  message, the parameters it was started with and, once over, its result (written whole to
  a temporary file and renamed, so a reader never sees half of it);
* ``<kind>.pause``, present while a person asked it to pause: the job stops at its next
  checkpoint (after a batch, or within a second of a wait) and says ``paused``;
* ``<kind>.log``, its output, for when something unexpected happens.

Two locks, both ``flock`` locks the kernel drops when the process ends, however it ends:

* the job's own, ``<kind>.lock``: one job of a kind at a time. The desk takes it before
  starting the process and hands it over (the descriptor is inherited), so there is no
  moment where nobody holds it. A status that says ``running`` while nobody holds it is a
  job that was killed (``interrupted``); :func:`resume_interrupted` starts those again when
  the desk starts.
* the workspace's task lock (:func:`departures.workspace.locks.task_lock`), taken by the job
  for its whole life: a CLI command that must not run beside it (``migrate run`` beside the
  desk's publishing, ``archive import`` beside anything) is refused with a sentence naming
  the desk's job, and the other way round.

Publishing and following are exactly once through the workspace's journal, so a job killed
at any point and started again neither repeats nor loses a write.

What each kind does is a small function in :mod:`departures.desk.tasks` over the same
library functions the CLI calls.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from departures.errors import DeparturesError, WorkspaceError
from departures.page_errors import record
from departures.workspace.locks import task_lock

JOBS_DIR = "desk-jobs"

#: States as the pages show them. ``interrupted``: the process died without saying so.
RUNNING, PAUSED, DONE, FAILED, INTERRUPTED, IDLE = (
    "running",
    "paused",
    "done",
    "failed",
    "interrupted",
    "idle",
)


@dataclass(frozen=True)
class JobKind:
    """A kind of job: the function it runs, the workspace task it holds, whether it resumes
    itself after a kill."""

    target: str  # "module:function", called with a JobContext
    task: str | None  # the workspace task lock (departures.workspace.locks), if any
    doing: str  # what it does, as the other side reads it: "the desk is publishing"
    resumable: bool = True


KINDS: dict[str, JobKind] = {
    "publish": JobKind("departures.desk.tasks:publish", "publish", "the desk is publishing"),
    "follow": JobKind("departures.desk.tasks:follow", "follow", "the desk is following"),
    # Gates go through the publishing journal: never beside publishing or undo.
    "gates": JobKind(
        "departures.desk.tasks:gates", "publish", "the desk is writing reply and quote controls"
    ),
    "undo": JobKind(
        "departures.desk.tasks:undo", "publish", "the desk is deleting posts", resumable=False
    ),
    "match": JobKind("departures.desk.tasks:match", None, "the desk is searching for accounts"),
    "verify": JobKind(
        "departures.desk.tasks:verify", None, "the desk is verifying posts", resumable=False
    ),
    "rehearse": JobKind(
        "departures.desk.tasks:rehearse", None, "the desk is rehearsing", resumable=False
    ),
}


class JobPaused(Exception):
    """Raised at a checkpoint when a person asked the job to pause."""


@dataclass
class JobStatus:
    """What the status file says, with ``state`` checked against the living processes."""

    kind: str
    state: str = IDLE
    done: int = 0
    total: int = 0
    failed: int = 0
    eta_seconds: float | None = None
    message: str = ""
    # A failure as ``page_errors.record`` keeps it, so that the page can say it in its
    # reader's language (``message`` is the CLI's English line, for the log).
    error: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    pid: int | None = None
    started_at: str | None = None
    updated_at: str | None = None
    finished_at: str | None = None
    pausing: bool = False
    # What the job's process runs and holds (a kind registered in the desk only is found).
    target: str = ""
    task: str | None = None
    doing: str = ""

    @property
    def active(self) -> bool:
        """Running now (perhaps on its way to a pause)."""
        return self.state == RUNNING

    @property
    def percent(self) -> int:
        """Done, as a whole percentage of the total (0 when the total is not known yet)."""
        return int(100 * self.done / self.total) if self.total else 0

    def to_json(self) -> dict[str, Any]:
        """The form pages poll (``/jobs/<kind>.json``)."""
        data = asdict(self)
        data["percent"] = self.percent
        return data


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def jobs_dir(workspace_dir: Path) -> Path:
    """Where a workspace's job files are."""
    return Path(workspace_dir) / JOBS_DIR


def _status_path(workspace_dir: Path, kind: str) -> Path:
    return jobs_dir(workspace_dir) / f"{kind}.json"


def _pause_path(workspace_dir: Path, kind: str) -> Path:
    return jobs_dir(workspace_dir) / f"{kind}.pause"


def log_path(workspace_dir: Path, kind: str) -> Path:
    """The job's output (what went wrong, when something unexpected did)."""
    return jobs_dir(workspace_dir) / f"{kind}.log"


def _kind(kind: str) -> JobKind:
    try:
        return KINDS[kind]
    except KeyError:
        raise WorkspaceError(f"There is no job called {kind!r}") from None


def register(kind: str, spec: JobKind) -> None:
    """Add a kind of job (the desk's are in :data:`KINDS`; tests add their own).

    The job's process finds its function through the status file, so a kind registered in
    the desk's process needs no registration in the job's.
    """
    KINDS[kind] = spec


def _load(workspace_dir: Path, kind: str) -> JobStatus:
    path = _status_path(workspace_dir, kind)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return JobStatus(kind)
    except (OSError, ValueError):
        # A status file we cannot read says nothing; the journal still knows everything.
        return JobStatus(kind, message="")
    known = {f for f in JobStatus.__dataclass_fields__ if f != "kind"}
    return JobStatus(kind, **{k: v for k, v in data.items() if k in known})


def _save(workspace_dir: Path, status: JobStatus) -> None:
    directory = jobs_dir(workspace_dir)
    directory.mkdir(parents=True, exist_ok=True)
    status.updated_at = _now()
    data = asdict(status)
    data.pop("kind")
    fd, tmp = tempfile.mkstemp(prefix=f".{status.kind}-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, _status_path(workspace_dir, status.kind))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    _reap()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# Children this process started: polled so that a finished one does not stay a zombie (a
# zombie still answers ``kill(pid, 0)``).
_children: dict[int, subprocess.Popen[bytes]] = {}


def _reap() -> None:
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            del _children[pid]


def _kind_lock_path(workspace_dir: Path, kind: str) -> Path:
    return jobs_dir(workspace_dir) / f"{kind}.lock"


def _take_kind_lock(workspace_dir: Path, kind: str) -> int | None:
    """The job's own lock as an open descriptor, or None when a job of the kind holds it."""
    path = _kind_lock_path(workspace_dir, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _kind_lock_held(workspace_dir: Path, kind: str) -> bool:
    if not _kind_lock_path(workspace_dir, kind).exists():
        return False
    fd = _take_kind_lock(workspace_dir, kind)
    if fd is None:
        return True
    os.close(fd)
    return False


def read(workspace_dir: Path, kind: str) -> JobStatus:
    """The job's status; a job that says ``running`` but whose process is gone is
    ``interrupted`` (killed, or the computer stopped)."""
    _kind(kind)
    status = _load(workspace_dir, kind)
    if status.state == RUNNING and not (
        _alive(status.pid) and _kind_lock_held(workspace_dir, kind)
    ):
        status.state = INTERRUPTED
    status.pausing = status.state == RUNNING and _pause_path(workspace_dir, kind).exists()
    return status


def start(
    workspace_dir: Path,
    kind: str,
    params: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> JobStatus:
    """Start the job ``kind`` in the background with ``params`` (JSON values).

    Errors: :class:`WorkspaceError` when the job, or anything holding its lock (a CLI
    command), is at work on this workspace already.
    """
    spec = _kind(kind)
    workspace_dir = Path(workspace_dir)
    fd = _take_kind_lock(workspace_dir, kind)
    # A job that has recorded how it ended still holds its lock for the moment it takes to
    # exit (it records first, so that no new run's status is ever overwritten): wait that out.
    deadline = time.monotonic() + 3.0
    while fd is None and time.monotonic() < deadline:
        if _load(workspace_dir, kind).state not in (DONE, FAILED, PAUSED):
            break
        time.sleep(0.05)
        fd = _take_kind_lock(workspace_dir, kind)
    if fd is None:
        raise WorkspaceError(
            f"This is under way already: {spec.doing}",
            "Follow its progress on this page, or pause it first",
        )
    try:
        if spec.task is not None:
            # Said on the page at once; the job takes the lock itself for its whole run.
            with task_lock(workspace_dir, spec.task, spec.doing):
                pass
        _pause_path(workspace_dir, kind).unlink(missing_ok=True)
        status = JobStatus(
            kind,
            RUNNING,
            params=dict(params or {}),
            started_at=_now(),
            target=spec.target,
            task=spec.task,
            doing=spec.doing,
        )
        previous = _load(workspace_dir, kind)
        # Counts of an interrupted or paused run stay on show until the job reports.
        if previous.state in (RUNNING, PAUSED, INTERRUPTED) and previous.params == status.params:
            status.done, status.total = previous.done, previous.total
            status.failed = previous.failed
        _save(workspace_dir, status)
        log = open(log_path(workspace_dir, kind), "ab")  # noqa: SIM115 (the child keeps it)
        try:
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "departures.desk.background",
                    str(workspace_dir),
                    kind,
                    str(fd),
                ],
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env=dict(env) if env is not None else None,
            )
        finally:
            log.close()
        _children[child.pid] = child
        status.pid = child.pid
        _save(workspace_dir, status)
        return status
    finally:
        os.close(fd)  # the child holds it now (or nobody, if it could not start)


def pause(workspace_dir: Path, kind: str) -> JobStatus:
    """Ask a running job to pause at its next checkpoint (nothing to do if it is not running)."""
    status = read(workspace_dir, kind)
    if status.state == RUNNING:
        path = _pause_path(workspace_dir, kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        status.pausing = True
    return status


def resume(workspace_dir: Path, kind: str, *, env: Mapping[str, str] | None = None) -> JobStatus:
    """Start a paused or interrupted job again with the parameters it had."""
    status = read(workspace_dir, kind)
    if status.state == RUNNING:
        _pause_path(workspace_dir, kind).unlink(missing_ok=True)  # a pause not yet taken
        return read(workspace_dir, kind)
    return start(workspace_dir, kind, status.params, env=env)


def resume_interrupted(workspace_dir: Path, *, env: Mapping[str, str] | None = None) -> list[str]:
    """Start again every resumable job whose process was killed; the kinds started.

    Called when the desk starts: publishing that was under way when the desk (or the
    computer) stopped goes on where the journal says it stopped.
    """
    started = []
    for kind, spec in KINDS.items():
        if not spec.resumable or read(workspace_dir, kind).state != INTERRUPTED:
            continue
        try:
            start(workspace_dir, kind, read(workspace_dir, kind).params, env=env)
        except WorkspaceError:
            continue  # a CLI command holds the workspace: it is doing that work now
        started.append(kind)
    return started


def wait(workspace_dir: Path, kind: str, timeout: float = 60.0) -> JobStatus:
    """Wait until the job is no longer running (for tests and scripts); its last status."""
    deadline = time.monotonic() + timeout
    while True:
        status = read(workspace_dir, kind)
        if status.state != RUNNING or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def kill(workspace_dir: Path, kind: str) -> bool:
    """SIGKILL the job's process (tests of what a kill leaves); whether there was one."""
    status = read(workspace_dir, kind)
    if status.state != RUNNING or not status.pid:
        return False
    os.kill(status.pid, signal.SIGKILL)
    return True


# --- inside the job's process ---------------------------------------------------------------


class JobContext:
    """What a task gets: its parameters, and the ways to report and to pause."""

    def __init__(self, workspace_dir: Path, kind: str, status: JobStatus) -> None:
        self.workspace_dir = Path(workspace_dir)
        self.kind = kind
        self.params: dict[str, Any] = dict(status.params)
        self._status = status
        self._started = time.monotonic()
        self._first_done: int | None = None

    def pause_requested(self) -> bool:
        """Whether a person asked the job to pause."""
        return _pause_path(self.workspace_dir, self.kind).exists()

    def checkpoint(self) -> None:
        """A safe point to stop at: raises :class:`JobPaused` if a pause was asked for."""
        if self.pause_requested():
            raise JobPaused

    def sleep(self, seconds: float) -> None:
        """Wait (for the write budget, a rate limit), pausing within a second if asked to."""
        end = time.monotonic() + seconds
        while True:
            self.checkpoint()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(1.0, left))

    def report(
        self,
        done: int,
        total: int,
        *,
        failed: int = 0,
        eta_seconds: float | None = None,
        note: str | None = None,
        checkpoint: bool = True,
    ) -> None:
        """Progress (counts and ETA), written for the pages; then a checkpoint."""
        status = self._status
        status.done, status.total, status.failed = done, total, failed
        status.eta_seconds = self._eta(done, total) if eta_seconds is None else eta_seconds
        if note is not None:
            status.message = note
        # Every report is written: they come once per batch or account, and a small file
        # renamed into place costs far less than either.
        _save(self.workspace_dir, status)
        if checkpoint:
            self.checkpoint()

    def _eta(self, done: int, total: int) -> float | None:
        # From this run's own pace: the counts it started with are not its work.
        if self._first_done is None:
            self._first_done = done
            self._started = time.monotonic()
            return None
        made = done - self._first_done
        if made <= 0:
            return None
        return (time.monotonic() - self._started) / made * max(0, total - done)

    def notify(self, message: str) -> None:
        """A line for the page (the latest one is shown) and the log."""
        self._status.message = message
        print(message, flush=True)
        _save(self.workspace_dir, self._status)


def _target(target: str) -> Callable[[JobContext], Mapping[str, Any] | None]:
    module, _, name = target.partition(":")
    function: Callable[[JobContext], Mapping[str, Any] | None] = getattr(
        importlib.import_module(module), name
    )
    return function


def run(workspace_dir: Path, kind: str, lock_fd: int | None = None) -> int:
    """The job's process: run the task, record how it ended; the exit code."""
    workspace_dir = Path(workspace_dir)
    status = _load(workspace_dir, kind)
    spec = KINDS.get(kind) or JobKind(status.target, status.task, status.doing)
    if lock_fd is None:  # started by hand rather than by :func:`start`
        lock_fd = _take_kind_lock(workspace_dir, kind)
        if lock_fd is None:
            print(f"a {kind} job runs already", file=sys.stderr)
            return 1
    status.state, status.pid, status.finished_at = RUNNING, os.getpid(), None
    status.result = {}
    _save(workspace_dir, status)
    context = JobContext(workspace_dir, kind, status)
    code = 0
    try:
        with contextlib.ExitStack() as stack:
            if spec.task is not None:
                stack.enter_context(task_lock(workspace_dir, spec.task, spec.doing))
            result = _target(status.target or spec.target)(context)
        status.state, status.result = DONE, dict(result or {})
        status.eta_seconds, status.error = 0.0, None
    except JobPaused:
        status.state = PAUSED
        status.eta_seconds, status.error = None, None
    except DeparturesError as exc:
        status.state, status.message, code = FAILED, exc.one_line(), 1
        status.error = record(exc)
    except Exception as exc:
        traceback.print_exc()
        status.state, code = FAILED, 1
        log = str(log_path(workspace_dir, kind))
        status.message = f"Unexpected error ({type(exc).__name__}); see {log}"
        status.error = record(
            DeparturesError(
                status.message,
                kind="job-crashed-log",
                values={"name": type(exc).__name__, "log": log},
            )
        )
    status.finished_at = _now()
    _pause_path(workspace_dir, kind).unlink(missing_ok=True)
    _save(workspace_dir, status)
    os.close(lock_fd)
    return code


def main(argv: list[str] | None = None) -> int:
    """``python -m departures.desk.background WORKSPACE KIND [LOCK_FD]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    fd = int(args[2]) if len(args) > 2 else None
    return run(Path(args[0]), args[1], fd)


if __name__ == "__main__":
    sys.exit(main())
