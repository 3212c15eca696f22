"""What the pages of steps 4-6 share about background jobs: their JSON for the progress
script, the ETA in words, and starting, pausing and resuming them from a form.

The jobs themselves are :mod:`departures.desk.background`; this module only turns their
status into what a page shows, in the page's language.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from departures.desk import background
from departures.errors import DeparturesError
from departures.i18n import format_decimal, format_number, gettext, ngettext, use_language

if TYPE_CHECKING:
    from departures.desk.app import Desk


def duration(seconds: float | None, language: str) -> str:
    """A time left as people of ``language`` say it: "12 minutes", "3,5 uur", "2 jours"."""
    if seconds is None:
        return ""
    seconds = max(0.0, float(seconds))
    with use_language(language):
        if seconds < 90:
            n = int(seconds)
            return ngettext("%(n)s second", "%(n)s seconds", n) % {"n": n}
        if seconds < 2 * 3600:
            n = int(seconds // 60)
            return ngettext("%(n)s minute", "%(n)s minutes", n) % {"n": n}
        if seconds < 2 * 86400:
            return gettext("%(n)s hours") % {"n": format_decimal(round(seconds / 3600, 1))}
        return gettext("%(n)s days") % {"n": format_decimal(round(seconds / 86400, 1))}


def label(job: background.JobStatus, doing: str, language: str) -> str:
    """What the progress line says: what the job does, and the time left when known."""
    left = duration(job.eta_seconds, language)
    with use_language(language):
        text = gettext(doing)
        if job.state == background.RUNNING and job.pausing:
            return gettext("%(doing)s (pausing after the current batch)") % {"doing": text}
        if job.state == background.RUNNING and job.eta_seconds and job.done < job.total:
            return gettext("%(doing)s, about %(left)s left") % {"doing": text, "left": left}
        return text


def job_json(desk: Desk, request: Request, kind: str, doing: str, page: str) -> Response:
    """``/…/<kind>.json``: what the progress script (``desk.js``) polls; ``page`` is where it
    goes once the job is over (the step's page, which then shows the result)."""
    language = desk.language(request)
    job = background.read(desk.workspace_path, kind)
    answer: dict[str, Any] = job.to_json()
    answer["stage_label"] = label(job, doing, language)
    with use_language(language):
        answer["done_text"] = format_number(job.done)
        answer["total_text"] = format_number(job.total) if job.total else None
    answer.pop("params", None)  # never echo what a job was started with (a handle, a URL)
    answer["next"] = page
    return JSONResponse(answer)


def start(desk: Desk, kind: str, params: dict[str, Any], back: str) -> Response | DeparturesError:
    """Start the job ``kind`` and go back to its page, or the error to show there."""
    try:
        background.start(desk.workspace_path, kind, params)
    except DeparturesError as exc:
        return exc
    return RedirectResponse(back, status_code=303)


def pause(desk: Desk, kind: str, back: str) -> Response:
    """Ask the job to pause; back to its page."""
    background.pause(desk.workspace_path, kind)
    return RedirectResponse(back, status_code=303)


def resume(desk: Desk, kind: str, back: str) -> Response | DeparturesError:
    """Start a paused or interrupted job again; back to its page, or the error."""
    try:
        background.resume(desk.workspace_path, kind)
    except DeparturesError as exc:
        return exc
    return RedirectResponse(back, status_code=303)
