"""The start page (where the journey stands) and the language switcher."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from departures.desk.rendering import LANGUAGE_COOKIE, LANGUAGES

if TYPE_CHECKING:
    from departures.desk.app import Desk


def routes(desk: Desk) -> list[BaseRoute]:
    """The start page and the language switcher."""

    def home(request: Request) -> Response:
        if not desk.has_workspace():
            return RedirectResponse("/archive", status_code=303)
        return RedirectResponse("/archive/overview", status_code=303)

    def language(request: Request) -> Response:
        # A GET that only sets a preference: no CSRF needed, nothing of the workspace changes.
        chosen = request.query_params.get("to", "")
        back = request.query_params.get("back", "/")
        if not back.startswith("/") or back.startswith("//"):
            back = "/"  # only a path of the desk: never an open redirect
        response = RedirectResponse(back, status_code=303)
        if chosen in LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE, chosen, max_age=365 * 86400, httponly=True, samesite="strict"
            )
        return response

    return [Route("/", home), Route("/language", language)]
