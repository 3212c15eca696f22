"""Each request in its reader's language (pure ASGI, around the whole app).

The language is the reader's choice — a ``?lang=`` link of the switcher on every page, then
remembered in a cookie — or else the best match of the browser's ``Accept-Language``, or else
the service's default. It is current (:func:`departures.i18n.use_language`) for everything the
request runs, worker threads included: views, templates, error pages. Every answer says what
it depends on (``Vary: Accept-Language, Cookie``) so that no shared cache hands a Dutch page
to a French reader, and in which language it is (``Content-Language``, unless the view set
it, as the board does when a campaign publishes in fewer languages).
"""

from __future__ import annotations

from http.cookies import SimpleCookie

from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from departures.i18n import negotiate, normalise_language, use_language

__all__ = ["LANGUAGE_COOKIE", "LANGUAGE_PARAM", "Languages", "add_vary"]

LANGUAGE_COOKIE = "departures_lang"
LANGUAGE_PARAM = "lang"
_COOKIE_AGE = 365 * 24 * 3600
_VARY = ("Accept-Language", "Cookie")


def add_vary(headers: MutableHeaders, *names: str) -> None:
    """Add ``names`` to the response's ``Vary`` (each once, whatever was there)."""
    present = [v.strip() for v in headers.get("vary", "").split(",") if v.strip()]
    lowered = {v.lower() for v in present}
    present += [name for name in names if name.lower() not in lowered]
    if present:
        headers["Vary"] = ", ".join(present)


def _cookie_language(headers: Headers) -> str | None:
    raw = headers.get("cookie", "")
    if LANGUAGE_COOKIE not in raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed Cookie header is no choice, never an error page
        return None
    morsel = jar.get(LANGUAGE_COOKIE)
    return normalise_language(morsel.value) if morsel is not None else None


class Languages:
    """Sets the request's language and the headers that go with it."""

    def __init__(self, app: ASGIApp, default: str, secure: bool) -> None:
        self.app = app
        self.default = default
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        asked = normalise_language(QueryParams(scope.get("query_string", b"")).get(LANGUAGE_PARAM))
        remembered = _cookie_language(headers)
        language = negotiate(
            headers.get("accept-language"), asked or remembered, default=self.default
        )
        secure = self.secure or scope.get("scheme") == "https"

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                add_vary(out, *_VARY)
                if "content-language" not in out:
                    out["Content-Language"] = language
                if asked is not None and asked != remembered:
                    cookie = (
                        f"{LANGUAGE_COOKIE}={asked}; Max-Age={_COOKIE_AGE}; Path=/; "
                        "SameSite=Lax; HttpOnly"
                    )
                    out.append("Set-Cookie", cookie + ("; Secure" if secure else ""))
            await send(message)

        with use_language(language):
            await self.app(scope, receive, send_with_language)
