"""One request as the views see it, its signed session cookie, and the CSRF token in it.

The session lives in a cookie signed with HMAC under the server's secret key
(:mod:`departures.coalition.security`): the server keeps no session table. Every form carries
the session's CSRF token, either as the ``csrf`` field or in the ``X-CSRF-Token`` header; the
header (and the mere absence of a token in the session) can be checked before the body is
read, the field only after.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from departures.coalition.errors import NotAllowed
from departures.coalition.forms import Form
from departures.coalition.i18n import _
from departures.coalition.security import new_token, sign, unsign
from departures.coalition.web.perimeter import client_key

__all__ = [
    "CSRF_HEADER",
    "SESSION_AGE",
    "SESSION_COOKIE",
    "Ctx",
    "Sessions",
    "check_csrf",
    "csrf_header_checked",
    "csrf_token",
]

SESSION_COOKIE = "departures_session"
SESSION_AGE = 30 * 24 * 3600
CSRF_HEADER = "x-csrf-token"


@dataclass
class Ctx:
    """One request as the views see it."""

    request: Request
    session: dict[str, Any]
    form: Form = field(default_factory=lambda: Form({}))
    dirty: bool = False

    def param(self, name: str) -> str:
        """A path parameter."""
        return str(self.request.path_params[name])

    @property
    def client(self) -> str:
        """The client's address as the per-address limits key it (IPv6 by its /64)."""
        return client_key(self.request.client.host if self.request.client else "unknown")

    @property
    def coordinator_id(self) -> int | None:
        """The signed-in coordinator, if any."""
        value = self.session.get("coordinator")
        return value if isinstance(value, int) else None

    @property
    def organisation_id(self) -> int | None:
        """The signed-in member organisation, if any."""
        value = self.session.get("organisation")
        return value if isinstance(value, int) else None

    @property
    def anonymous(self) -> bool:
        """Neither a coordinator nor a member is signed in."""
        return self.coordinator_id is None and self.organisation_id is None

    def set(self, key: str, value: Any) -> None:
        """Change the session (saved in the cookie with the response)."""
        self.session[key] = value
        self.dirty = True

    def drop(self, key: str) -> None:
        """Remove ``key`` from the session, if it is there."""
        if key in self.session:
            self.session.pop(key)
            self.dirty = True

    def renew_csrf(self) -> None:
        """A new CSRF token: after every sign-in and sign-out (no token outlives a session)."""
        self.set("csrf", new_token())


class Sessions:
    """Reads and writes the signed session cookie."""

    def __init__(self, secret_key: bytes, *, secure: bool) -> None:
        self.secret_key = secret_key
        self.secure = secure

    def load(self, request: Request) -> dict[str, Any]:
        """The session of ``request``; ``{}`` when it has none or a forged or expired one."""
        raw = request.cookies.get(SESSION_COOKIE, "")
        return unsign(self.secret_key, raw, SESSION_AGE) if raw else {}

    def save(self, ctx: Ctx, response: Response) -> None:
        """Set the cookie when the request changed the session (readers get no cookie)."""
        if not ctx.dirty:
            return
        response.set_cookie(
            SESSION_COOKIE,
            sign(self.secret_key, ctx.session),
            max_age=SESSION_AGE,
            httponly=True,
            samesite="lax",
            secure=self.secure,
        )


def csrf_token(ctx: Ctx) -> str:
    """The session's CSRF token, created on first use (only pages with a form use it)."""
    token = ctx.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = new_token()
        ctx.set("csrf", token)
    return token


def _refused() -> NotAllowed:
    return NotAllowed(
        _("this form has expired or did not come from this site"),
        _("Reload the page and send the form again (cookies must be enabled)"),
    )


def check_csrf(ctx: Ctx, sent: str) -> None:
    """Refuse the request unless ``sent`` is the session's CSRF token."""
    expected = ctx.session.get("csrf")
    if (
        not isinstance(expected, str)
        or not expected
        or not hmac.compare_digest(expected.encode(), sent.encode())
    ):
        raise _refused()


def csrf_header_checked(ctx: Ctx) -> bool:
    """What can be known of the CSRF token before reading the body.

    True when the ``X-CSRF-Token`` header carries the right token (the form field need not be
    looked at); False when the field must still be checked after parsing. Raises at once when
    the header is wrong, or when the session has no token at all, which no form can match.
    """
    expected = ctx.session.get("csrf")
    if not isinstance(expected, str) or not expected:
        raise _refused()
    sent = ctx.request.headers.get(CSRF_HEADER)
    if sent is None:
        return False
    check_csrf(ctx, sent)
    return True
