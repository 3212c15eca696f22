"""Step placeholder, filled in phase 2."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

if TYPE_CHECKING:
    from departures.desk.app import Desk


def routes(desk: Desk) -> list[BaseRoute]:
    """The step's pages."""

    def page(request: Request) -> Response:
        return desk.render(request, "coming.html")

    return [Route("/images", page)]
