"""The progress page of any desk job (import, planning): a bar with counts that refreshes
itself without JavaScript, and moves without reloads with it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from departures.errors import ArchiveError
from departures.i18n import format_number, lazy_gettext

if TYPE_CHECKING:
    from departures.desk.app import Desk


#: The library's progress stages, as the bar names them.
STAGES = {
    "tweets": lazy_gettext("Reading tweets"),
    "storing": lazy_gettext("Saving to the workspace"),
    "linking": lazy_gettext("Linking threads and quotes"),
    "converting": lazy_gettext("Turning tweets into posts"),
}
WORKING = lazy_gettext("Working")


def routes(desk: Desk) -> list[BaseRoute]:
    """The job pages."""

    def page(request: Request) -> Response:
        job = desk.jobs.get(request.path_params["job"])
        if job is None:
            return desk.render(request, "not_found.html", 404)
        if job.state == "done":
            return RedirectResponse(job.next_url, status_code=303)
        return desk.render(
            request,
            "job.html",
            200 if job.running else 400,
            job=job,
            stage=STAGES.get(job.stage, WORKING),
            error=job.error,
            shown=job.error_shown(),
            unreadable=isinstance(job.error, ArchiveError),
        )

    def as_json(request: Request) -> Response:
        job = desk.jobs.get(request.path_params["job"])
        if job is None:
            return JSONResponse({"error": "unknown job"}, status_code=404)
        answer = job.as_json()
        answer["stage_label"] = str(STAGES.get(job.stage, WORKING))
        answer["done_text"] = format_number(job.done)
        answer["total_text"] = format_number(job.total) if job.total else None
        return JSONResponse(answer)

    return [Route("/jobs/{job}.json", as_json), Route("/jobs/{job}", page)]
