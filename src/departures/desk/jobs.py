"""Long work the desk runs beside its pages (an import today), with progress the pages poll.

A job runs in a thread of the desk's process and calls the same library function the CLI
calls, with a progress callback that records (stage, done, total) here instead of drawing
a terminal bar. The workspace task lock (:mod:`departures.workspace.locks`) is taken in the
request that starts the job — so a busy workspace is a message on that page at once — and
released by the job's thread when the work ends, however it ends.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from departures.errors import DeparturesError
from departures.page_errors import PageError, for_page

__all__ = ["Job", "Jobs"]

Progress = Callable[[str, int, int | None], None]


@dataclass
class Job:
    """One piece of long work: what it is doing now, and how it ended."""

    id: str
    kind: str
    title: object = ""  # what the progress page is headed with (a lazy text)
    next_url: str = "/"  # where the desk goes once the job is done
    back_url: str = "/"  # where to start again after a failure
    stage: str = ""
    done: int = 0
    total: int | None = None
    state: str = "running"  # running, done, failed
    error: DeparturesError | None = None
    result: Any = None
    # Words to show instead of others in the job's error (an upload's temporary path → the
    # name of the file the person chose).
    shown_as: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def running(self) -> bool:
        """Whether the job has not ended yet."""
        return self.state == "running"

    def percent(self) -> int | None:
        """How far the current stage is, 0-100, or None when its size is unknown."""
        if not self.total:
            return None
        return max(0, min(100, round(100 * self.done / self.total)))

    def error_shown(self) -> PageError | None:
        """The error as the job's page shows it (the reader's language, a page's hint), with
        :attr:`shown_as` applied."""
        if self.error is None:
            return None
        shown = for_page(self.error, "desk")
        message, hint, detail = shown.message, shown.hint, shown.detail
        for hidden, instead in self.shown_as.items():
            message = message.replace(hidden, instead)
            hint = hint.replace(hidden, instead) if hint else hint
            detail = detail.replace(hidden, instead)
        return PageError(message, hint, detail)

    def as_json(self) -> dict[str, Any]:
        """What the progress script reads."""
        return {
            "id": self.id,
            "kind": self.kind,
            "stage": self.stage,
            "done": self.done,
            "total": self.total,
            "percent": self.percent(),
            "state": self.state,
            "next": self.next_url,
            "seconds": None if self.finished is None else self.finished - self.started,
        }


class Jobs:
    """The desk's jobs, by id; at most one running job of each kind."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> Job | None:
        """The job ``job_id``, or None."""
        with self._lock:
            return self._jobs.get(job_id)

    def running(self, kind: str) -> Job | None:
        """The running job of ``kind``, if any."""
        with self._lock:
            return next((j for j in self._jobs.values() if j.kind == kind and j.running), None)

    def latest(self, kind: str) -> Job | None:
        """The job of ``kind`` started last, running or not."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.kind == kind]
        return max(jobs, key=lambda j: j.started) if jobs else None

    def start(
        self,
        kind: str,
        work: Callable[[Progress], Any],
        hold: contextlib.AbstractContextManager[Any] | None = None,
        *,
        title: object = "",
        next_url: str = "/",
        back_url: str = "/",
        shown_as: dict[str, str] | None = None,
    ) -> Job:
        """Run ``work(progress)`` in a thread as a job of ``kind``; return the job.

        ``hold`` (a workspace task lock) is entered here, in the caller's thread, so a busy
        workspace raises to the caller; the job's thread leaves it when ``work`` ends.
        """
        stack = contextlib.ExitStack()
        if hold is not None:
            stack.enter_context(hold)
        job = Job(
            id=secrets.token_hex(8),
            kind=kind,
            title=title,
            next_url=next_url,
            back_url=back_url,
            shown_as=dict(shown_as or {}),
        )

        def progress(stage: str, done: int, total: int | None) -> None:
            job.stage, job.done, job.total = stage, done, total

        def run() -> None:
            try:
                job.result = work(progress)
                job.state = "done"
            except DeparturesError as exc:
                job.error = exc
                job.state = "failed"
            except BaseException as exc:
                # A bug: the page says so in one line, the details go to the terminal.
                job.error = DeparturesError(
                    f"The {kind} stopped unexpectedly ({type(exc).__name__})",
                    "Look at the terminal where the desk runs, and try again",
                    kind="job-crashed",
                    values={"name": type(exc).__name__},
                )
                job.state = "failed"
                raise
            finally:
                job.finished = time.monotonic()
                stack.close()

        with self._lock:
            self._jobs[job.id] = job
        try:
            threading.Thread(target=run, name=f"desk-{kind}", daemon=True).start()
        except BaseException:
            stack.close()
            raise
        return job
