"""What every request passes before it reaches a route, and what every response carries.

:class:`Perimeter` is a pure ASGI middleware around the whole coalition app, so that nothing
escapes it — not the 404 and 405 pages, not ``/static``, not redirects, not errors:

* **trusted proxies** — ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only from
  the addresses in the ``forwarded_allow_ips`` deployment setting (none by default), through
  uvicorn's :class:`~uvicorn.middleware.proxy_headers.ProxyHeadersMiddleware`, which takes the
  nearest address the proxy did not vouch for. The rest of the app then sees the real client in
  ``scope["client"]`` and ``https`` in ``scope["scheme"]`` behind a TLS-terminating proxy;
* **the Host allow-list** — a request whose ``Host`` is not the base URL's host (or one named
  by ``allowed_hosts``) is answered 400 before routing: links, redirects and DNS rebinding can
  then never use a name an attacker chose;
* **security headers** on every response, HSTS when served over HTTPS, and
  ``Cache-Control: no-store`` on every answer to a signed-in browser, on any response that sets
  a cookie, and on invitation links (their token is in the path).
"""

from __future__ import annotations

import ipaddress
from typing import Any, cast
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from departures.coalition.web.settings import Deployment, Settings

__all__ = [
    "HSTS",
    "SECURITY_HEADERS",
    "Perimeter",
    "allowed_hosts",
    "client_key",
]

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000"
"""A year, without ``includeSubDomains``: the coalition may share a domain with other sites."""

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
TEST_CLIENT_HOST = "testserver"
"""What in-process test clients (httpx's ASGI transport, Starlette's TestClient) send as Host;
allowed only when the base URL is a loopback address, as Django allows it under its test
runner. It is not a name that resolves, so no page on the internet can rebind to it."""

_NO_STORE_PATHS = ("/invite/",)


def client_key(host: str) -> str:
    """The key of a client address in the rate limits: IPv4 as is, IPv6 by its /64.

    One IPv6 subscriber gets a whole /64 and can pick a fresh address per request; keyed by
    address, every request would be a new client. An IPv4-mapped IPv6 address is its IPv4.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # "unknown", or a test client's name
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _host_name(host: str) -> str:
    """``Host`` header or URL netloc → the lower-case name without port or brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else ""
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def allowed_hosts(settings: Settings, deployment: Deployment) -> frozenset[str]:
    """The names the service answers to: the base URL's host and ``deployment.allowed_hosts``.

    A loopback base URL (the development default) also allows the other loopback names and
    the in-process test client's name.
    """
    base = _host_name(urlsplit(settings.base_url).netloc.rsplit("@", 1)[-1])
    names = {base, *(_host_name(extra) for extra in deployment.allowed_hosts)}
    if base in LOOPBACK_NAMES:
        names.update((*LOOPBACK_NAMES, TEST_CLIENT_HOST))
    names.discard("")
    return frozenset(names)


def _bad_host_page() -> bytes:
    return (
        b"<!doctype html><html lang=en><meta charset=utf-8><title>Bad request</title>"
        b"<p>This server does not answer to that host name. "
        b"Open the coalition's address as its coordinator published it.</p></html>"
    )


class Perimeter:
    """Around the whole app: trusted proxy headers, the Host allow-list, response headers."""

    def __init__(
        self, app: ASGIApp, settings: Settings, deployment: Deployment, *, session_cookie: str
    ) -> None:
        self.hosts = allowed_hosts(settings, deployment)
        self.any_host = "*" in deployment.allowed_hosts
        self.session_cookie = session_cookie
        self.https_base = settings.base_url.startswith("https://")
        self.app: ASGIApp = self._checked
        self.inner = app
        proxies = deployment.trusted_proxies
        if proxies:
            # uvicorn types ASGI apps with its own TypedDicts, Starlette with plain mappings.
            proxied = ProxyHeadersMiddleware(cast(Any, self._checked), trusted_hosts=list(proxies))
            self.app = cast(ASGIApp, proxied)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        headers = Headers(scope=scope)
        over_https = self.https_base or scope.get("scheme") == "https"
        no_store = self._no_store(scope, headers)
        if not self.any_host and _host_name(headers.get("host", "")) not in self.hosts:
            await self._bad_host(scope, send, over_https)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._add_headers(message, over_https, no_store)
            await send(message)

        await self.inner(scope, receive, send_with_headers)

    def _no_store(self, scope: Scope, headers: Headers) -> bool:
        path = str(scope.get("path", ""))
        if path.startswith("/static/"):
            return False
        cookies = cookie_parser(headers.get("cookie", ""))
        return path.startswith(_NO_STORE_PATHS) or self.session_cookie in cookies

    def _add_headers(self, message: Message, over_https: bool, no_store: bool) -> None:
        response = MutableHeaders(scope=message)
        for name, value in SECURITY_HEADERS.items():
            response.setdefault(name, value)
        if over_https:
            response.setdefault("Strict-Transport-Security", HSTS)
        if no_store or "set-cookie" in response:
            # Whatever a view said about caching: a signed-in page, or one that hands out a
            # cookie, must not be kept by a shared cache or the browser's back button.
            response["Cache-Control"] = "no-store"

    async def _bad_host(self, scope: Scope, send: Send, over_https: bool) -> None:
        body = _bad_host_page()
        start: Message = {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
        self._add_headers(start, over_https, no_store=True)
        await send(start)
        head = scope["method"] == "HEAD"
        await send({"type": "http.response.body", "body": b"" if head else body})
