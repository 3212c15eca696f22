"""The coalition web app: the ASGI application object, built from its settings and views.

:class:`CoalitionApp` is a library object (an ASGI app) that calls the same store the CLI
calls. It makes one :class:`~.site.Site` (store, settings, session cookie, renderer) and gathers
the routes of the views — :mod:`.board` (public), :mod:`.coordinator`, :mod:`.member` and
:mod:`.directory` — each wrapped by :mod:`.middleware`; it runs the scheduler in its lifespan
when asked to, and answers unknown paths and methods with the service's own 404 and 405 pages.
The whole app sits inside :class:`~.perimeter.Perimeter` (trusted proxies, the Host allow-list,
the headers of every response). A path with a trailing slash is redirected to its route with a
relative ``Location``: Starlette's own redirect would build an absolute URL from the ``Host``
header.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from departures.coalition import directory as directories
from departures.coalition.departure import DepartureDay
from departures.coalition.handles import HandleResolver
from departures.coalition.i18n import DEFAULT_LANGUAGE
from departures.coalition.notify import Notifier
from departures.coalition.oauth import OAuthService
from departures.coalition.store import CoalitionStore
from departures.coalition.web import (
    board,
    claims,
    coordinator,
    day,
    directory,
    invitations,
    languages,
    member,
    middleware,
    pledges,
    triage,
    welcome,
)
from departures.coalition.web import connection as connection_views
from departures.coalition.web import moderation as moderation_views
from departures.coalition.web import oauth as oauth_views
from departures.coalition.web.language import Languages
from departures.coalition.web.perimeter import Perimeter
from departures.coalition.web.sessions import SESSION_COOKIE
from departures.coalition.web.settings import Deployment, Settings
from departures.coalition.web.signin import BlueskySignIn
from departures.coalition.web.site import Site

__all__ = ["STATIC", "CoalitionApp"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent.parent / "static"


class CoalitionApp:
    """The coalition service as an ASGI application."""

    def __init__(
        self,
        store: CoalitionStore,
        *,
        secret_key: bytes,
        resolver: HandleResolver,
        base_url: str = "http://127.0.0.1:8000",
        notifier: Notifier | None = None,
        tick_seconds: float | None = None,
        public_cache_seconds: float = 2.0,
        language: str = DEFAULT_LANGUAGE,
        forms_per_minute: int = 60,
        departure: DepartureDay | None = None,
        bluesky_sign_in: BlueskySignIn | None = None,
        directory_limits: directories.ApiLimits | None = None,
        deployment: Deployment | None = None,
        max_unverified_claims: int = 3,
        x_client_id: str = "",
        x_client_secret: str = "",
        x_authorize_url: str = "https://x.com/i/oauth2/authorize",
        x_api_url: str = "https://api.x.com",
        oauth: OAuthService | None = None,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.settings = Settings(
            base_url=base_url,
            language=language,
            forms_per_minute=forms_per_minute,
            public_cache_seconds=public_cache_seconds,
            tick_seconds=tick_seconds,
            max_unverified_claims=max_unverified_claims,
            x_client_id=x_client_id,
            x_client_secret=x_client_secret,
            x_authorize_url=x_authorize_url,
            x_api_url=x_api_url,
        )
        self.site = Site.build(
            store, self.settings, secret_key=secret_key, resolver=resolver, departure=departure
        )
        self.site.oauth = oauth
        routes: list[BaseRoute] = [
            *board.routes(self.site),
            *coordinator.routes(self.site),
            *member.routes(self.site),
            *moderation_views.routes(self.site),
            *languages.routes(self.site),
            *invitations.routes(self.site),
            *pledges.routes(self.site),
            *day.routes(self.site),
            *welcome.routes(self.site),
            *triage.routes(self.site),
            # The directory's own pages (sign-in with Bluesky, register, withdraw, follow all)
            # and its public API (lookup, export), rate-limited per client address.
            *directory.routes(self.site, bluesky_sign_in, directory_limits),
            # Sign in with X, the coordinators' claims page, the member's domain check.
            *claims.routes(self.site),
            *oauth_views.routes(self.site, oauth),
            *connection_views.routes(self.site),  # the member disconnects its account
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
        self.app = Starlette(
            routes=routes,
            lifespan=self._lifespan,
            exception_handlers={
                404: self._not_found,
                405: middleware.not_allowed_handler(self.site),
            },
        )
        # Its redirect trusts the Host header; _not_found redirects with a relative URL.
        self.app.router.redirect_slashes = False
        self.deployment = deployment or Deployment()
        # Each request in its reader's language (Accept-Language, the switcher's cookie).
        in_language = Languages(
            self.app, self.settings.language, secure=base_url.startswith("https://")
        )
        self.outer: ASGIApp = Perimeter(
            in_language, self.settings, self.deployment, session_cookie=SESSION_COOKIE
        )
        self._not_found_page = middleware.not_found_handler(self.site)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.outer(scope, receive, send)

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        """The 404 page, or a redirect when only a trailing slash is in the way."""
        path = request.url.path
        if path != "/" and path.endswith("/"):
            # One leading slash: "//evil.example/" must not become a protocol-relative URL.
            target = "/" + path.strip("/")
            scope = {**request.scope, "path": target}
            if any(route.matches(scope)[0] is not Match.NONE for route in self.app.routes):
                query = request.url.query
                return RedirectResponse(target + (f"?{query}" if query else ""), 307)
        return await self._not_found_page(request, exc)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        task = None
        every = self.settings.tick_seconds
        if self.notifier is not None and every:
            task = asyncio.create_task(_scheduler(self.notifier, every))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def _scheduler(notifier: Notifier, every: float) -> None:
    """The scheduler pass every ``every`` seconds, for as long as the server runs."""
    while True:
        try:
            report = await run_in_threadpool(notifier.tick)
            if report.queued or report.sent or report.failed:
                log.info(
                    "scheduler: %d queued, %d sent, %d failed",
                    report.queued,
                    report.sent,
                    report.failed,
                )
        except Exception:
            # The loop must survive a bad pass (database restarting, SMTP down).
            log.exception("scheduler pass failed")
        await asyncio.sleep(every)
