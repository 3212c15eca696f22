"""One request as the views see it, its session, and the CSRF token in it.

Sessions live on the server (``web_sessions``, :mod:`departures.coalition.store.access`): the
cookie holds only a random 256-bit id, the store its SHA-256, the data and when it expires.
Every sign-in and sign-out (:meth:`Ctx.renew_csrf`) starts a new session id and deletes the
old row, so a cookie copied before a sign-out opens nothing afterwards, and a session cannot
be fixed by an attacker before a sign-in. A session of someone signed in lasts
:data:`SESSION_AGE`; an anonymous one (a CSRF token for a form) :data:`ANONYMOUS_AGE`;
expired rows are purged by the scheduler's pass. Every form carries
the session's CSRF token, either as the ``csrf`` field or in the ``X-CSRF-Token`` header; the
header (and the mere absence of a token in the session) can be checked before the body is
read, the field only after.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response

from departures.coalition.errors import NotAllowed
from departures.coalition.forms import Form
from departures.coalition.i18n import _
from departures.coalition.security import RateLimiter, hash_token, new_token
from departures.coalition.store import access, utc_now
from departures.coalition.web.perimeter import client_key

__all__ = [
    "ANONYMOUS_AGE",
    "ANONYMOUS_PER_HOUR",
    "CSRF_HEADER",
    "SESSION_AGE",
    "SESSION_COOKIE",
    "Ctx",
    "SessionData",
    "Sessions",
    "check_csrf",
    "csrf_header_checked",
    "csrf_token",
]

SESSION_COOKIE = "departures_session"
SESSION_AGE = 30 * 24 * 3600
ANONYMOUS_AGE = 24 * 3600
#: New anonymous sessions one client address (IPv6: its /64) may start in an hour.
ANONYMOUS_PER_HOUR = 120
CSRF_HEADER = "x-csrf-token"

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{40,64}$")


class SessionData(dict[str, Any]):
    """A session's data, with the id its cookie carries (None: no stored session yet)."""

    def __init__(self, data: dict[str, Any] | None = None, session_id: str | None = None):
        super().__init__(data or {})
        self.id = session_id


@dataclass
class Ctx:
    """One request as the views see it."""

    request: Request
    session: dict[str, Any]
    form: Form = field(default_factory=lambda: Form({}))
    dirty: bool = False
    # A new session id is due (sign-in, sign-out): the old row is deleted when saving.
    rotate: bool = False

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
        """A new CSRF token and session id: after every sign-in and sign-out.

        No token outlives a session, and the old session id opens nothing any more.
        """
        self.set("csrf", new_token())
        self.rotate = True


def _owner(data: dict[str, Any]) -> access.SessionOwner:
    coordinator, organisation, did = (
        data.get("coordinator"),
        data.get("organisation"),
        data.get("directory_did"),
    )
    return access.SessionOwner(
        coordinator_id=coordinator if isinstance(coordinator, int) else None,
        organisation_id=organisation if isinstance(organisation, int) else None,
        did=did if isinstance(did, str) else None,
    )


class Sessions:
    """Reads and writes sessions: the cookie's random id, the data in the store."""

    def __init__(
        self,
        engine: Engine,
        *,
        secure: bool,
        clock: Callable[[], datetime] = utc_now,
        anonymous_per_hour: int = ANONYMOUS_PER_HOUR,
    ) -> None:
        self.engine = engine
        self.secure = secure
        self.clock = clock
        # Every page with a form starts an anonymous session (a row until it expires): a
        # flood of GETs from one address must not grow the table without bound.
        self.anonymous = RateLimiter(anonymous_per_hour, 3600.0)

    def load(self, request: Request) -> SessionData:
        """The session of ``request``; empty when it has none, or an ended or expired one."""
        raw = request.cookies.get(SESSION_COOKIE, "")
        if not _SESSION_ID.match(raw):
            return SessionData()
        data = access.session_data(self.engine, hash_token(raw), self.clock())
        return SessionData(data, raw) if data is not None else SessionData()

    def save(self, ctx: Ctx, response: Response) -> None:
        """Store a changed session and set its cookie (readers get no cookie, no row)."""
        if not ctx.dirty:
            return
        old = getattr(ctx.session, "id", None)
        data, owner = dict(ctx.session), _owner(ctx.session)
        session_id = old
        if old and not ctx.rotate:
            if not access.session_update(self.engine, hash_token(old), data, owner):
                # Ended meanwhile (sign out everywhere, a key reset): never revived.
                response.delete_cookie(SESSION_COOKIE)
                ctx.dirty = False
                return
        else:
            if old:
                access.session_delete(self.engine, hash_token(old))
            now = self.clock()
            signed_in = owner != access.SessionOwner()
            if not signed_in and not old and not self.anonymous.allow(ctx.client):
                # Over the address's share of new anonymous sessions: the page is served,
                # but no row is stored (its form answers "expired, reload" until later).
                ctx.dirty = False
                return
            session_id = new_token()
            age = SESSION_AGE if signed_in else ANONYMOUS_AGE
            access.session_create(
                self.engine, hash_token(session_id), data, owner, now, now + timedelta(seconds=age)
            )
        assert session_id is not None
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=SESSION_AGE,
            httponly=True,
            samesite="lax",
            # Secure whenever the visitor reached us over https: the base URL says so, or the
            # request's scheme (behind a trusted proxy, after its forwarded headers).
            secure=self.secure or ctx.request.url.scheme == "https",
        )
        ctx.dirty = ctx.rotate = False  # saved: saving again changes nothing

    def end(self, ctx: Ctx) -> None:
        """End the request's session now (its row goes; a new one starts if it is changed)."""
        old = getattr(ctx.session, "id", None)
        if old:
            access.session_delete(self.engine, hash_token(old))


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
