"""The desk as a library object: :class:`Desk` (the workspace, the secrets, the jobs, the
pages' renderer) and :func:`create_app`, the Starlette app ``departures desk`` serves and the
tests drive in-process.

Each step of the journey is a module in :mod:`departures.desk.views` with a
``routes(desk) -> list[BaseRoute]``; :data:`VIEW_MODULES` lists them (one line per module).
Views hold no logic: they parse the form, call the library function the CLI calls, and
render a template.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from departures.desk.guard import Guard, Keys
from departures.desk.jobs import Jobs
from departures.desk.rendering import Language, Renderer, language_of
from departures.errors import DeparturesError
from departures.i18n import LazyString, gettext, lazy_gettext
from departures.workspace.db import DB_NAME, Workspace
from departures.workspace.locks import task_lock

__all__ = ["STEPS", "VIEW_MODULES", "Desk", "Step", "create_app"]

T = TypeVar("T")

STATIC = Path(__file__).parent / "static"

#: The modules whose ``routes(desk)`` make the desk, one per step (and the home page).
VIEW_MODULES: tuple[str, ...] = (
    "departures.desk.views.home",
    "departures.desk.views.jobs",
    "departures.desk.views.archive",
    "departures.desk.views.choose",
    "departures.desk.views.images",
    "departures.desk.views.rehearse",
    "departures.desk.views.publish",
    "departures.desk.views.connect",
    "departures.desk.views.gates",
    "departures.desk.views.audience",
)


@dataclass(frozen=True)
class Step:
    """One step of the journey in the desk's navigation."""

    number: int
    name: str
    path: str
    title: LazyString  # translated when the page is rendered


#: The journey, in order; the navigation shows every step.
STEPS: tuple[Step, ...] = (
    Step(1, "archive", "/archive", lazy_gettext("Bring the archive")),
    Step(2, "choose", "/choose", lazy_gettext("Choose what moves")),
    Step(3, "images", "/images", lazy_gettext("Describe the images")),
    Step(4, "rehearse", "/rehearse", lazy_gettext("Rehearse")),
    Step(5, "publish", "/publish", lazy_gettext("Connect and publish")),
    Step(6, "audience", "/audience", lazy_gettext("Find the audience")),
)


class Desk:
    """One running desk: the workspace it works on, its secrets, its jobs and its pages.

    ``port`` is the port it is served on (the ``Host`` check needs it); ``keys`` its
    one-time token, session and CSRF secrets (new ones by default).
    """

    def __init__(
        self, workspace: str | Path | None, port: int, *, keys: Keys | None = None
    ) -> None:
        self.workspace_path = Workspace.resolve_path(workspace).resolve()
        self.port = port
        self.keys = keys or Keys()
        self.jobs = Jobs()
        self.renderer = Renderer(STEPS)
        self._cache: dict[str, tuple[object, Any]] = {}
        self._cache_lock = threading.Lock()

    @property
    def login_url(self) -> str:
        """The one-time URL that opens the desk in a browser."""
        return f"http://127.0.0.1:{self.port}/login?token={self.keys.token}"

    def has_workspace(self) -> bool:
        """Whether an archive has been imported into the workspace (its database exists)."""
        return (self.workspace_path / DB_NAME).exists()

    @contextlib.contextmanager
    def workspace(self, *, create: bool = False) -> Iterator[Workspace]:
        """The workspace, opened for this request's thread and closed after it.

        SQLite connections belong to the thread that opened them, and the views run in a
        thread pool: one connection per request (opening is a fraction of a millisecond).
        """
        workspace = Workspace.open(self.workspace_path, create=create)
        try:
            yield workspace
        finally:
            workspace.close()

    def cached(self, name: str, version: object, compute: Callable[[], T]) -> T:
        """``compute()``, kept while ``version`` stays the same (one value per ``name``).

        What is slow to work out on a large workspace and changes only with it — the plan's
        summary, the tweets the live counts filter — is computed once per version of the
        data it comes from, so the pages stay fast on 300,000 tweets.
        """
        with self._cache_lock:
            held = self._cache.get(name)
        if held is not None and held[0] == version:
            return cast(T, held[1])
        value = compute()
        with self._cache_lock:
            self._cache[name] = (version, value)
        return value

    def lock(self, task: str, doing: str) -> contextlib.AbstractContextManager[None]:
        """The workspace's task lock, held in the desk's name (``doing``: "importing ...")."""
        return task_lock(self.workspace_path, task, f"the desk is {doing}")

    def render(
        self, request: Request, template: str, status: int = 200, **values: Any
    ) -> HTMLResponse:
        """The page ``template`` in the request's language."""
        page = self.renderer.render(
            template,
            self.language(request),
            csrf=self.keys.csrf,
            path=request.url.path,
            **values,
        )
        return HTMLResponse(page, status_code=status)

    def language(self, request: Request) -> str:
        """The request's language (the switcher's choice, else the browser's)."""
        return language_of(request.headers, request.cookies)

    def gettext(self, request: Request) -> Callable[[str], str]:
        """``_`` for texts a view builds itself (JSON for the pages' script): the request's
        language is the current one (:class:`~departures.desk.rendering.Language`)."""
        return gettext

    def error(self, request: Request, exc: DeparturesError, status: int = 400) -> HTMLResponse:
        """A :class:`DeparturesError` as a page: what went wrong and what to do."""
        return self.render(request, "error.html", status, error=exc)

    async def refused(self, scope: Scope, status: int, reason: str) -> bytes:
        """The guard's refusal page (a wrong token, no session, a forged form)."""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request = Request(scope)
        return self.renderer.render(
            "refused.html",
            language_of(headers, request.cookies),
            csrf=None,
            path=scope["path"],
            reason=reason,
            status=status,
        ).encode()


def _routes(desk: Desk) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for name in VIEW_MODULES:
        routes.extend(importlib.import_module(name).routes(desk))
    routes.append(Mount("/static", app=StaticFiles(directory=STATIC), name="static"))
    return routes


def create_app(desk: Desk) -> Guard:
    """The desk's ASGI app: the step modules' routes behind the :class:`Guard`."""

    async def not_found(request: Request, exc: Exception) -> Response:
        return desk.render(request, "not_found.html", 404)

    app = Starlette(routes=_routes(desk), exception_handlers={404: not_found})
    app.state.desk = desk
    return Guard(Language(app), desk.keys, desk.port, desk.refused)
