"""The progress page of any desk job (import, planning): a bar with counts that refreshes
itself without JavaScript, and moves without reloads with it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from departures.desk.rendering import number

if TYPE_CHECKING:
    from departures.desk.app import Desk


def N_(message: str) -> str:
    """Mark ``message`` for extraction (translated where shown)."""
    return message


#: The library's progress stages, as the bar names them.
STAGES = {
    "tweets": N_("Reading tweets"),
    "storing": N_("Saving to the workspace"),
    "linking": N_("Linking threads and quotes"),
    "converting": N_("Turning tweets into posts"),
}
WORKING = N_("Working")


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
        )

    def as_json(request: Request) -> Response:
        job = desk.jobs.get(request.path_params["job"])
        if job is None:
            return JSONResponse({"error": "unknown job"}, status_code=404)
        _ = desk.gettext(request)
        language = desk.language(request)
        answer = job.as_json()
        answer["stage_label"] = _(STAGES.get(job.stage, WORKING))
        answer["done_text"] = number(job.done, language)
        answer["total_text"] = number(job.total, language) if job.total else None
        return JSONResponse(answer)

    return [Route("/jobs/{job}.json", as_json), Route("/jobs/{job}", page)]
