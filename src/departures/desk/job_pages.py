"""What the pages of steps 4-6 share about background jobs: their JSON for the progress
script, the ETA in words, and starting, pausing and resuming them from a form.

The jobs themselves are :mod:`departures.desk.background`; this module only turns their
status into what a page shows, in the page's language.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from departures.coalition.i18n import translations
from departures.desk import background
from departures.desk.rendering import number
from departures.errors import DeparturesError

if TYPE_CHECKING:
    from departures.desk.app import Desk


def duration(seconds: float | None, language: str) -> str:
    """A time left as people say it: "12 minutes", "3.5 hours", "2 days"."""
    t = translations(language)
    if seconds is None:
        return ""
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        n = int(seconds)
        return t.ngettext("%(n)s second", "%(n)s seconds", n) % {"n": n}
    if seconds < 2 * 3600:
        n = int(seconds // 60)
        return t.ngettext("%(n)s minute", "%(n)s minutes", n) % {"n": n}
    if seconds < 2 * 86400:
        hours = number(round(seconds / 3600, 1), language)
        return t.gettext("%(n)s hours") % {"n": hours}
    days = number(round(seconds / 86400, 1), language)
    return t.gettext("%(n)s days") % {"n": days}


def label(job: background.JobStatus, doing: str, language: str) -> str:
    """What the progress line says: what the job does, and the time left when known."""
    t = translations(language)
    text = t.gettext(doing)
    if job.state == background.RUNNING and job.pausing:
        return t.gettext("%(doing)s (pausing after the current batch)") % {"doing": text}
    if job.state == background.RUNNING and job.eta_seconds and job.done < job.total:
        left = duration(job.eta_seconds, language)
        return t.gettext("%(doing)s, about %(left)s left") % {"doing": text, "left": left}
    return text


def job_json(desk: Desk, request: Request, kind: str, doing: str, page: str) -> Response:
    """``/…/<kind>.json``: what the progress script (``desk.js``) polls; ``page`` is where it
    goes once the job is over (the step's page, which then shows the result)."""
    language = desk.language(request)
    job = background.read(desk.workspace_path, kind)
    answer: dict[str, Any] = job.to_json()
    answer["stage_label"] = label(job, doing, language)
    answer["done_text"] = number(job.done, language)
    answer["total_text"] = number(job.total, language) if job.total else None
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
