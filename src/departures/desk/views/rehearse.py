"""Step 4, rehearse: the plan published to a private Bluesky network on this computer first.

One button starts the rehearsal job (:func:`departures.desk.rehearsal.rehearse`): the
sandbox is started, a throwaway account created, the plan published to it from a copy of the
workspace, what the sandbox shows checked, and the sandbox stopped again. The page then shows
the result. Without the sandbox installed, the page says how to install it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from departures.desk import background, job_pages
from departures.desk.rehearsal import sandbox_installed
from departures.errors import DeparturesError

if TYPE_CHECKING:
    from departures.desk.app import Desk


def N_(message: str) -> str:
    """Mark ``message`` for extraction (translated where it is shown)."""
    return message


DOING = N_("Rehearsing in the sandbox")


def routes(desk: Desk) -> list[BaseRoute]:
    """Step 4's pages."""

    def page(request: Request, status: int = 200, error: DeparturesError | None = None) -> Response:
        if not desk.has_workspace():
            return RedirectResponse("/archive", status_code=303)
        job = background.read(desk.workspace_path, "rehearse")
        return desk.render(
            request,
            "rehearse.html",
            status,
            installed=sandbox_installed(),
            job=job,
            label=job_pages.label(job, DOING, desk.language(request)),
            error=error,
        )

    def show(request: Request) -> Response:
        return page(request)

    def start(request: Request) -> Response:
        answer = job_pages.start(desk, "rehearse", {}, "/rehearse")
        return page(request, 409, answer) if isinstance(answer, DeparturesError) else answer

    def status_json(request: Request) -> Response:
        return job_pages.job_json(desk, request, "rehearse", DOING, "/rehearse")

    return [
        Route("/rehearse", show),
        Route("/rehearse/start", start, methods=["POST"]),
        Route("/rehearse/job.json", status_json),
    ]
