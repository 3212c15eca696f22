"""What every view of the coalition service is handed: the store, the settings and the
collaborators (handle resolver, departure day, reconnect), the session cookie and the
renderer.

A :class:`Site` is built once by :class:`~departures.coalition.web.app.CoalitionApp`; the views
are small functions ``view(site, ctx) -> Response`` in the modules named for whom they serve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.responses import HTMLResponse, RedirectResponse, Response

from departures.coalition.departure import DepartureDay
from departures.coalition.handles import HandleResolver
from departures.coalition.oauth import OAuthService
from departures.coalition.reconnect import Reconnect
from departures.coalition.security import RateLimiter
from departures.coalition.store import CoalitionStore
from departures.coalition.web.rendering import Renderer
from departures.coalition.web.sessions import Ctx, Sessions
from departures.coalition.web.settings import Settings
from departures.coalition.web.throttle import SignInThrottle

__all__ = ["Site", "redirect"]


@dataclass
class Site:
    """The coalition service's shared state, as its views see it."""

    store: CoalitionStore
    settings: Settings
    secret_key: bytes
    resolver: HandleResolver
    # Departure-day welcome posts: None when the server makes no Bluesky writes.
    departure: DepartureDay | None
    # The member page's part of reconnect (stored ids, settings, proposals); the scheduler's
    # Notifier runs the pass itself.
    reconnect: Reconnect
    sessions: Sessions
    renderer: Renderer
    form_limiter: RateLimiter
    # Failed sign-ins (tokens, member keys, app passwords) per address and per account.
    sign_in_throttle: SignInThrottle = field(default_factory=SignInThrottle)
    # Sign in with Bluesky through OAuth (web/oauth.py); None: not configured.
    oauth: OAuthService | None = None

    @classmethod
    def build(
        cls,
        store: CoalitionStore,
        settings: Settings,
        *,
        secret_key: bytes,
        resolver: HandleResolver,
        departure: DepartureDay | None,
    ) -> Site:
        """A site with its session cookie, renderer and form rate limit made from settings."""
        return cls(
            store=store,
            settings=settings,
            secret_key=secret_key,
            resolver=resolver,
            departure=departure,
            reconnect=Reconnect(store),
            # Sessions expire in real time, whatever clock the campaign rules are run on.
            sessions=Sessions(store.engine, secure=settings.secure_cookies),
            renderer=Renderer(settings.base_url),
            form_limiter=RateLimiter(settings.forms_per_minute, 60.0),
            # Counted in the store too: the limit holds across every server process.
            sign_in_throttle=SignInThrottle(engine=store.engine),
        )

    @property
    def base_url(self) -> str:
        """The service's public address, without a trailing slash."""
        return self.settings.base_url

    def render(self, ctx: Ctx, template: str, code: int = 200, **values: Any) -> HTMLResponse:
        """The page ``template`` for this request."""
        return self.renderer.render(ctx, template, code, **values)


def redirect(url: str) -> Response:
    """Post/redirect/get: a 303 to ``url`` after a form was handled."""
    return RedirectResponse(url, status_code=303)
