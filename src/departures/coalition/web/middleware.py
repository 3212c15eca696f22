"""Around every view: the endpoint wrappers that turn a request into a view call and its
answer into a safe response.

An endpoint made by :func:`page` or :func:`upload`

* loads the signed session (:mod:`.sessions`);
* for a POST: applies the per-address form limit (429); runs the route's *guard* (a cheap check
  of the session, e.g. "a member is signed in") and the CSRF checks that need no body, before
  a byte of the body is read; then reads the body within its limits — an ordinary form up to
  :data:`~departures.coalition.forms.MAX_BODY` with :func:`~departures.coalition.forms.parse_form`,
  an upload through :func:`.uploads.multipart_form` — and checks the CSRF field;
* runs the view in a worker thread (the store is synchronous SQLAlchemy, and uploaded archives
  are unpacked there, off the event loop, at most :data:`UPLOAD_READERS` at once);
* renders any :class:`~departures.errors.DeparturesError` as an HTML page or JSON with its
  status (400/403/404/409/413/429/503), and anything else as a 500 page without details;
* saves the session and adds the security headers every answer carries.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from departures.coalition import directory as directories
from departures.coalition.errors import BadInput, NotFound, TooLarge, TooMany, status_for
from departures.coalition.forms import MAX_BODY, Form, parse_form
from departures.coalition.handles import HandleError
from departures.coalition.i18n import _
from departures.coalition.limits import StoredLimit
from departures.coalition.web.perimeter import SECURITY_HEADERS, client_key
from departures.coalition.web.rendering import error_title
from departures.coalition.web.sessions import Ctx, check_csrf, csrf_header_checked
from departures.coalition.web.site import Site
from departures.coalition.web.uploads import Files, UploadLimits, multipart_form
from departures.errors import BlueskyError, DeparturesError
from departures.page_errors import for_page

__all__ = [
    "SECURITY_HEADERS",
    "UPLOAD_READERS",
    "Endpoint",
    "Guard",
    "UploadView",
    "View",
    "error_page",
    "finish",
    "limited",
    "loggable_path",
    "not_allowed_handler",
    "not_found_handler",
    "page",
    "public_text",
    "upload",
]

log = logging.getLogger(__name__)

View = Callable[[Site, Ctx], Response]
UploadView = Callable[[Site, Ctx, Files], Response]
Guard = Callable[[Ctx], Any]
"""A check of the session alone (no database, no body) that raises when the visitor may not."""
Endpoint = Callable[[Request], Awaitable[Response]]


def finish(site: Site, ctx: Ctx, response: Response) -> Response:
    """Save the session and add the security headers every page carries."""
    site.sessions.save(ctx, response)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.url.path.endswith(".json") or (
        "application/json" in accept and "text/html" not in accept
    )


_URL = re.compile(r"\b(?:https?|wss?)://[^\s()<>'\"]+", re.IGNORECASE)


def public_text(text: str) -> str:
    """An outgoing request's error as a visitor may see it: without the servers' URLs.

    Errors from the Bluesky edge name the server they could not reach (the handle service, a
    PDS), which helps at a terminal but would tell a visitor how the service is configured and
    echo back internal addresses an attacker tried.
    """
    return _URL.sub(_("the server"), text)


def error_page(site: Site, ctx: Ctx, error: DeparturesError) -> Response:
    """A user error as a page (or JSON for a JSON client) with its HTTP status."""
    status = status_for(error)
    shown = for_page(error, "coalition")  # the reader's language, a page's hint
    message, hint = shown.message, shown.hint
    if isinstance(error, HandleError | BlueskyError):
        # Our own messages may show an address as an example; these name a server we called.
        message, hint = public_text(message), public_text(hint or "") or None
    if _wants_json(ctx.request):
        return Response(
            orjson.dumps({"ok": False, "status": status, "error": message, "hint": hint}),
            status_code=status,
            media_type="application/json",
        )
    return site.render(
        ctx,
        "error.html",
        code=status,
        title=error_title(status),
        message=message,
        hint=hint,
    )


def _server_error(site: Site, ctx: Ctx) -> Response:
    """The 500 page: no details for the visitor, the traceback is in the log."""
    return site.render(
        ctx,
        "error.html",
        code=500,
        title=_("Server error"),
        message=_("Something went wrong on our side."),
        hint=_("Try again later; the coordinator has the log."),
    )


def loggable_path(request: Request) -> str:
    """The request's path with its parameters named, not shown: ``/invite/{token}``.

    Invitation tokens (and other secrets) travel in paths; they must never reach the log.
    """
    path = request.url.path
    for name, value in request.path_params.items():
        text = str(value)
        if text:
            path = path.replace(text, "{" + name + "}")
    return path


async def _answer(
    site: Site, request: Request, work: Callable[[Ctx], Awaitable[Response]]
) -> Response:
    ctx = Ctx(request, await run_in_threadpool(site.sessions.load, request))
    try:
        response = await work(ctx)
    except DeparturesError as error:
        response = error_page(site, ctx, error)
    except Exception:
        log.exception("error handling %s %s", request.method, loggable_path(request))
        response = _server_error(site, ctx)
    # Sessions are rows in the store: read and written off the event loop.
    await run_in_threadpool(site.sessions.save, ctx, response)
    return finish(site, ctx, response)


def _before_body(site: Site, ctx: Ctx, guard: Guard | None) -> bool:
    """The checks of a POST that need no body; True when the CSRF header settled CSRF."""
    if not site.form_limiter.allow(ctx.client):
        raise TooMany(
            _("too many forms sent from your address in the last minute"),
            _("Wait a minute and send it again"),
        )
    if guard is not None:
        guard(ctx)
    return csrf_header_checked(ctx)


async def _read_form(request: Request) -> Form:
    too_large = TooLarge(_("the form is too large"), _("Shorten the longest field"))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY:
            raise too_large
    return parse_form(bytes(body), request.headers.get("content-type", ""))


def page(site: Site, view: View, *, guard: Guard | None = None) -> Endpoint:
    """The endpoint of a page and of the small URL-encoded forms posted to it."""

    async def work(ctx: Ctx) -> Response:
        if ctx.request.method == "POST":
            header_checked = _before_body(site, ctx, guard)
            ctx.form = await _read_form(ctx.request)
            if not header_checked:
                check_csrf(ctx, ctx.form.fields.get("csrf", ""))
        elif guard is not None:
            guard(ctx)
        return await run_in_threadpool(view, site, ctx)

    async def endpoint(request: Request) -> Response:
        return await _answer(site, request, work)

    return endpoint


class _ReadSlots:
    """At most ``size`` uploaded archives read at once (per process and event loop).

    Reading an archive is CPU work in a worker thread; every such thread competes with the
    event loop for the GIL, so many at once would slow every page. Waiting uploads wait on the
    event loop, holding no thread.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None

    def slots(self) -> asyncio.Semaphore:
        """The semaphore of the running event loop (tests run several loops in turn)."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self._loop, self._slots = loop, asyncio.Semaphore(self.size)
        return self._slots


UPLOAD_READERS = _ReadSlots(2)


def upload(site: Site, view: UploadView, limits: UploadLimits, *, guard: Guard) -> Endpoint:
    """The endpoint of a multipart form: the guard runs before the body is read.

    ``view`` gets the text fields in ``ctx.form`` and the chosen files by field name; it runs
    in a worker thread, so reading an uploaded archive does not hold up the event loop.
    """

    async def work(ctx: Ctx) -> Response:
        header_checked = _before_body(site, ctx, guard)
        async with multipart_form(ctx.request, limits) as (form, files):
            ctx.form = form
            if not header_checked:
                check_csrf(ctx, form.fields.get("csrf", ""))
            async with UPLOAD_READERS.slots():
                return await run_in_threadpool(view, site, ctx, files)

    async def endpoint(request: Request) -> Response:
        return await _answer(site, request, work)

    return endpoint


def limited(
    site: Site,
    bucket: directories.TokenBucket,
    what: str,
    view: View,
    stored: StoredLimit | None = None,
) -> Endpoint:
    """A public API endpoint limited per client address (429 with Retry-After).

    ``bucket`` is this process's limit, the fast path: a client it refuses costs no database
    write. ``stored``, when given, is the authoritative count across every server process.
    """
    inner = page(site, view)

    async def endpoint(request: Request) -> Response:
        key = client_key(request.client.host if request.client else "unknown")
        wait = bucket.take(key)
        if wait <= 0 and stored is not None:
            wait = await run_in_threadpool(stored.take, key)
        if wait <= 0:
            return await inner(request)
        ctx = Ctx(request, await run_in_threadpool(site.sessions.load, request))
        return finish(site, ctx, directories.too_many_response(what, wait))

    return endpoint


def not_found_handler(site: Site) -> Callable[[Request, Exception], Awaitable[Response]]:
    """Starlette's handler for a path no route matches: the 404 page."""

    async def handler(request: Request, _exc: Exception) -> Response:
        ctx = Ctx(request, await run_in_threadpool(site.sessions.load, request))
        return finish(
            site, ctx, error_page(site, ctx, NotFound(_("there is no page at this address")))
        )

    return handler


def not_allowed_handler(site: Site) -> Callable[[Request, Exception], Awaitable[Response]]:
    """Starlette's handler for a method the route does not take: a 405 page."""

    async def handler(request: Request, _exc: Exception) -> Response:
        ctx = Ctx(request, await run_in_threadpool(site.sessions.load, request))
        error = BadInput(
            _("this address does not take %(method)s requests") % {"method": request.method[:10]}
        )
        response = error_page(site, ctx, error)
        response.status_code = 405
        return finish(site, ctx, response)

    return handler
