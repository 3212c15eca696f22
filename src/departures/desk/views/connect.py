"""Step 5's other way to connect: "Continue with Bluesky", AT Protocol OAuth.

The desk runs on 127.0.0.1, so it is an OAuth *loopback client*
(:class:`departures.bluesky.oauth.LoopbackConfig`): a public client whose ``client_id``
carries its redirect URI (``http://127.0.0.1:<port>/publish/oauth/callback``) and its scope;
PKCE, PAR and DPoP are :class:`~departures.bluesky.oauth.OAuthClient`'s, as for the
coalition. The granted session goes to the 0600 session store
(:func:`departures.bluesky.session.store_oauth`), like an app-password session, so
publishing, following and undoing (the background jobs, ``open_account``) work unchanged.
Disconnecting (``/publish/disconnect``) revokes it at the server.

Two things of the desk's guard shape the pages here:

* its cookie is ``SameSite=Strict``, so the browser does not send it on the way back from the
  account's server: the callback is the one page open without it (:data:`CALLBACK`,
  authenticated by its one-time ``state`` instead) and answers with a page that moves on to
  ``/publish`` by itself, a same-site navigation that carries the cookie again;
* its CSP allows forms to post to the desk only (``form-action 'self'``, which browsers also
  apply to a form's redirect): the form posts here, and the page it gets back sends the
  browser on to the server's sign-in page.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import click
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from departures.bluesky.identity import DEFAULT_SERVICE, plc_url
from departures.bluesky.oauth import LoopbackConfig, OAuthClient, OAuthError, PendingAuth
from departures.bluesky.session import store_oauth
from departures.commands.options import normalise_server
from departures.desk.guard import OAUTH_CALLBACK
from departures.errors import BlueskyError, DeparturesError

if TYPE_CHECKING:
    from departures.desk.app import Desk

CALLBACK = OAUTH_CALLBACK
"""Where the account's server sends the browser back (open without the desk's cookie)."""
#: How long a sign-in may wait at the server's pages.
PENDING_SECONDS = 15 * 60


def _failure(_: Any, error: OAuthError) -> BlueskyError:
    """The page's one line for a failed OAuth connection (what happened, what to do)."""
    reason = error.reason
    if reason == "handle":
        return BlueskyError(
            _("This Bluesky handle does not exist"),
            _("Check the spelling (for example ngo.bsky.social) and the server below"),
        )
    if reason == "denied":
        return BlueskyError(
            _("The connection was cancelled at your Bluesky server"),
            _("Start again and choose Authorize on your server's page"),
        )
    if reason == "state":
        return BlueskyError(
            _("This connection was already used or has expired"),
            _("Start again with Continue with Bluesky"),
        )
    if reason in ("issuer", "account"):
        return BlueskyError(
            _("The answer did not come from your account's own Bluesky server"),
            _("Start again; if it keeps failing, connect with an app password"),
        )
    if reason == "unsupported":
        return BlueskyError(
            _("Your Bluesky server does not offer connecting with OAuth"),
            _("Connect with an app password instead"),
        )
    if reason == "unreachable":
        return BlueskyError(
            _("Your Bluesky server does not answer"), _("Try again in a few minutes")
        )
    return BlueskyError(
        _("Your Bluesky server refused the connection"),
        _("Start again, or connect with an app password"),
    )


class Pending:
    """Sign-ins between the desk and the callback, in this process's memory only (each holds
    a PKCE verifier and a DPoP private key), by their one-time ``state``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[PendingAuth, str]] = {}

    def add(self, pending: PendingAuth, service: str) -> None:
        """Keep ``pending`` (and the service its handle was resolved at)."""
        with self._lock:
            now = time.time()
            for state in [
                s for s, (p, _) in self._items.items() if now - p.created_at > PENDING_SECONDS
            ]:
                del self._items[state]
            self._items[pending.state] = (pending, service)

    def take(self, state: str) -> tuple[PendingAuth, str] | None:
        """The sign-in of ``state``, removed (a state is used once); None if unknown."""
        with self._lock:
            found = self._items.pop(state, None)
        if found is None or time.time() - found[0].created_at > PENDING_SECONDS:
            return None
        return found


def routes(desk: Desk) -> list[BaseRoute]:
    """The OAuth connection's routes."""
    pending = Pending()
    config = LoopbackConfig(f"http://127.0.0.1:{desk.port}{CALLBACK}")

    def client(service: str) -> OAuthClient:
        import httpx

        return OAuthClient(config, httpx.Client(timeout=30.0), service=service, plc=plc_url())

    def begin(handle: str, service: str) -> str:
        oauth = client(service)
        try:
            url, waiting = oauth.start(handle)
        finally:
            oauth.http.close()
        pending.add(waiting, service)
        return url

    def finish(waiting: PendingAuth, service: str, params: dict[str, str]) -> None:
        oauth = client(service)
        try:
            store_oauth(oauth.finish(waiting, params), config, service)
        finally:
            oauth.http.close()

    def publish_page(request: Request, status: int, **values: Any) -> Response:
        from departures.desk.views import publish

        return publish.render_page(desk, request, status, **values)

    async def connect(request: Request) -> Response:
        _ = desk.gettext(request)
        form = await request.form()
        handle = str(form.get("handle", "")).strip().removeprefix("@")
        typed_service = str(form.get("service", "")).strip() or DEFAULT_SERVICE
        try:
            if not handle:
                raise BlueskyError(_("Give the account's handle"), _("For example ngo.bsky.social"))
            try:
                service = normalise_server(typed_service)
            except click.BadParameter:
                raise BlueskyError(
                    _("%(typed)s is not a server address") % {"typed": typed_service},
                    _("Write it like https://bsky.social"),
                ) from None
            try:
                url = await run_in_threadpool(begin, handle, service)
            except OAuthError as exc:
                raise _failure(_, exc) from None
        except DeparturesError as exc:
            return publish_page(request, 400, error=exc, handle=handle, service=typed_service)
        return desk.render(request, "connect_away.html", url=url)

    async def callback(request: Request) -> Response:
        _ = desk.gettext(request)
        params = {k: v for k, v in request.query_params.items()}
        found = pending.take(params.get("state", ""))
        try:
            if found is None:
                raise _failure(_, OAuthError("state", "unknown state"))
            try:
                await run_in_threadpool(finish, found[0], found[1], params)
            except OAuthError as exc:
                raise _failure(_, exc) from None
        except DeparturesError as exc:
            return back(request, 400, exc)
        return back(request, 200, None)

    def back(request: Request, status: int, error: DeparturesError | None) -> Response:
        # Rendered without the CSRF token: this page is served without the session cookie.
        page = desk.renderer.render(
            "connect_back.html",
            desk.language(request),
            csrf=None,
            path=request.url.path,
            error=error,
        )
        return HTMLResponse(page, status_code=status)

    return [
        Route("/publish/oauth", connect, methods=["POST"]),
        Route(CALLBACK, callback),
    ]
