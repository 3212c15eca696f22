"""What keeps the desk to this computer and this browser (pure ASGI, around the whole app).

The desk listens on 127.0.0.1 only, but that is not enough on a laptop: any web page the
person visits can make their browser send requests to ``127.0.0.1:<port>``, and a DNS
rebinding attack can even make such requests look same-origin. So, as Jupyter does:

* the ``Host`` header must be ``127.0.0.1:<port>`` or ``localhost:<port>`` (a rebound name
  is refused before anything else happens);
* the desk is opened once through a URL carrying a random **one-time token**, which is
  exchanged for an ``HttpOnly; SameSite=Strict`` session cookie and redirected away (the
  token leaves the address bar and the history; it cannot be used twice);
* every request but the static files needs that cookie;
* every ``POST`` needs the CSRF token of the session: in the form's ``csrf`` field for
  URL-encoded forms, in the ``csrf`` query parameter of the form's action for file uploads
  (checked before a byte of the upload is read), and an ``Origin``, when sent, that is the
  desk's own;
* every response carries the security headers: a CSP without any remote source, no framing,
  no sniffing, no referrer outside the desk, ``no-store``.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "COOKIE",
    "CSP",
    "FORM_LIMIT",
    "SECURITY_HEADERS",
    "Guard",
    "Keys",
]

COOKIE = "departures_desk"
LOGIN_PATH = "/login"
STATIC_PREFIX = "/static/"
#: A URL-encoded form is read whole to find its CSRF field; none of the desk's is larger.
FORM_LIMIT = 1024 * 1024

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Keys:
    """The desk's secrets for one run: the one-time token and the session it opens.

    Both live only in this process's memory; a new ``departures desk`` prints a new URL.
    """

    def __init__(self) -> None:
        self.token: str | None = secrets.token_urlsafe(32)
        self.session = secrets.token_urlsafe(32)
        self.csrf = secrets.token_urlsafe(32)

    def take_token(self, offered: str) -> bool:
        """Whether ``offered`` is the one-time token; it is spent by the first right answer."""
        if self.token is None or not hmac.compare_digest(offered.encode(), self.token.encode()):
            return False
        self.token = None
        return True

    def session_ok(self, cookie: str | None) -> bool:
        """Whether the request carries this run's session cookie."""
        return cookie is not None and hmac.compare_digest(cookie.encode(), self.session.encode())

    def csrf_ok(self, offered: str | None) -> bool:
        """Whether ``offered`` is this run's CSRF token."""
        return offered is not None and hmac.compare_digest(offered.encode(), self.csrf.encode())


def _cookie(headers: Headers) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is no session, not an error page
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


OAUTH_CALLBACK = "/publish/oauth/callback"
"""The one page open without the session cookie: where the account's server sends the
browser back after "Continue with Bluesky"."""


class Guard:
    """Around the whole desk: Host check, token exchange, session, CSRF, security headers.

    ``port`` is the port the desk serves on (the Host header must name it); ``refused``
    renders a refusal page (status, message) in the page's language.
    """

    def __init__(
        self,
        inner: ASGIApp,
        keys: Keys,
        port: int,
        refused: Callable[[Scope, int, str], Awaitable[bytes]],
    ) -> None:
        self.inner = inner
        self.keys = keys
        self.refused = refused
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{host}" for host in self.hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.inner(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets: nothing of the desk uses them
            return
        headers = Headers(scope=scope)
        if headers.get("host", "").lower() not in self.hosts:
            # Plain text: a rebound page gets nothing from us, not even the desk's name.
            await _respond(send, 400, b"Bad request: unknown host.", "text/plain")
            return
        path: str = scope["path"]
        if path == LOGIN_PATH:
            await self._login(scope, send)
            return
        # The OAuth callback comes from the account's server: the SameSite=Strict cookie is not
        # sent on that navigation. Its one-time ``state`` authenticates it instead
        # (desk/views/connect.py), and its page shows nothing of the desk's.
        is_open = path == OAUTH_CALLBACK and scope["method"] in ("GET", "HEAD")
        if (
            not path.startswith(STATIC_PREFIX)
            and not is_open
            and not self.keys.session_ok(_cookie(headers))
        ):
            await self._refuse(scope, send, 403, "no-session")
            return
        if scope["method"] not in ("GET", "HEAD"):
            origin = headers.get("origin")
            if origin is not None and origin not in self.origins:
                await self._refuse(scope, send, 403, "csrf")
                return
            ok, receive = await self._csrf(scope, receive, headers)
            if not ok:
                await self._refuse(scope, send, 403, "csrf")
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                _add_headers(message)
            await send(message)

        await self.inner(scope, receive, send_with_headers)

    async def _login(self, scope: Scope, send: Send) -> None:
        token = QueryParams(scope.get("query_string", b"").decode("latin-1")).get("token", "")
        if not self.keys.take_token(token):
            await self._refuse(scope, send, 403, "token")
            return
        cookie = f"{COOKIE}={self.keys.session}; HttpOnly; SameSite=Strict; Path=/"
        await _respond(send, 303, b"", "text/plain", [("location", "/"), ("set-cookie", cookie)])

    async def _csrf(self, scope: Scope, receive: Receive, headers: Headers) -> tuple[bool, Receive]:
        """Whether the request carries the CSRF token; the body is replayed to the view."""
        query = QueryParams(scope.get("query_string", b"").decode("latin-1"))
        if self.keys.csrf_ok(query.get("csrf")) or self.keys.csrf_ok(headers.get("x-csrf-token")):
            return True, receive
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return False, receive
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return False, receive
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > FORM_LIMIT:
                return False, receive
        fields = parse_qs(body.decode("latin-1"), keep_blank_values=True)
        offered = fields.get("csrf", [None])[-1]
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return self.keys.csrf_ok(offered), replay

    async def _refuse(self, scope: Scope, send: Send, status: int, reason: str) -> None:
        page = await self.refused(scope, status, reason)
        await _respond(send, status, page, "text/html; charset=utf-8")


def _add_headers(message: Message) -> None:
    headers = list(message.get("headers", []))
    present = {name.lower() for name, _ in headers}
    for name, value in SECURITY_HEADERS.items():
        key = name.lower().encode("latin-1")
        if key not in present:
            headers.append((key, value.encode("latin-1")))
    message["headers"] = headers


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[str, str]] | None = None,
) -> None:
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", content_type.encode("latin-1")),
            (b"content-length", str(len(body)).encode()),
            *[(k.encode("latin-1"), v.encode("latin-1")) for k, v in extra or []],
        ],
    }
    _add_headers(start)
    await send(start)
    await send({"type": "http.response.body", "body": body})
