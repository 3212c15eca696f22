"""Sign in with X: the proof that makes a directory claim ``verified``.

OAuth 2.0's authorisation code flow with PKCE (RFC 7636, ``S256``), as X's API documents it
for a confidential client: the visitor, already signed in with Bluesky, is sent to X's
authorisation page with a random ``state`` and a code challenge; X sends them back to
``/directory/x/callback`` with a code, which the service exchanges at X's token endpoint (HTTP
Basic with the coalition's client id and secret, plus the code verifier) for an access token
used exactly once: ``GET /2/users/me``, the signed-in user's own id and username. Nothing else
of the account is read, and neither the token nor the secret is stored or logged; the token is
dropped at once (it expires within two hours by itself).

Every request goes through :class:`~departures.netguard.NetGuard` (public HTTPS only; the
tests' local stand-in of X is allowed through ``DEPARTURES_COALITION_ALLOW_HOSTS``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from departures.coalition.errors import BadInput, NotAllowed
from departures.coalition.i18n import _
from departures.netguard import NetGuard

__all__ = ["SCOPES", "XApp", "XSignIn", "XSignInError", "XStart", "code_challenge"]

log = logging.getLogger(__name__)

# users.read for /2/users/me; X requires tweet.read beside it for that endpoint. No write
# scope, no offline.access: the token is used once and dropped.
SCOPES = ("users.read", "tweet.read")
_X_ID = re.compile(r"^[0-9]{1,20}$")
_X_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,15}$")


class XSignInError(BadInput):
    """Sign in with X did not prove an account (X refused, or answered something unexpected)."""


@dataclass(frozen=True)
class XApp:
    """The coalition's X API app: where to send people and with which credentials."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    authorize_url: str = "https://x.com/i/oauth2/authorize"
    api_url: str = "https://api.x.com"

    @property
    def token_url(self) -> str:
        """X's token endpoint."""
        return f"{self.api_url.rstrip('/')}/2/oauth2/token"

    @property
    def me_url(self) -> str:
        """The endpoint that names the signed-in user."""
        return f"{self.api_url.rstrip('/')}/2/users/me"


@dataclass(frozen=True)
class XStart:
    """A started sign-in: where to send the visitor, and what to keep in their session."""

    url: str
    state: str
    verifier: str = field(repr=False)


def code_challenge(verifier: str) -> str:
    """PKCE's ``S256`` challenge: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class XSignIn:
    """The flow's two halves: :meth:`start` (the redirect) and :meth:`finish` (the callback)."""

    def __init__(self, app: XApp, guard: NetGuard | None = None) -> None:
        self.app = app
        # X's hosts are not trusted as configured: they must be public HTTPS addresses.
        self.guard = guard or NetGuard.for_service(timeout=15.0)

    def start(self) -> XStart:
        """A fresh state and code verifier, and the authorisation URL that carries them."""
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters: PKCE wants 43 to 128
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.app.client_id,
                "redirect_uri": self.app.redirect_uri,
                "scope": " ".join(SCOPES),
                "state": state,
                "code_challenge": code_challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        return XStart(f"{self.app.authorize_url}?{query}", state, verifier)

    def finish(self, code: str, verifier: str) -> tuple[str, str]:
        """(X id, username) of the account that authorised the code; XSignInError otherwise."""
        try:
            with self.guard.client() as client:
                token = self._token(client, code, verifier)
                return self._me(client, token)
        except httpx.HTTPError as exc:
            log.info("Sign in with X: X did not answer (%s)", type(exc).__name__)
            raise XSignInError(
                _("X does not answer just now"), _("Try Sign in with X again in a few minutes")
            ) from None

    def _token(self, client: httpx.Client, code: str, verifier: str) -> str:
        response = client.post(
            self.app.token_url,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.app.redirect_uri,
                "code_verifier": verifier,
                "client_id": self.app.client_id,
            },
            auth=(self.app.client_id, self.app.client_secret),
            headers={"Accept": "application/json"},
        )
        body = _json(response)
        if response.status_code != 200:
            # X's error code ("invalid_request", …) says what happened; its text may echo
            # what was sent, so only the code is logged.
            log.info("Sign in with X: the token endpoint answered %s", response.status_code)
            raise NotAllowed(
                _("X did not confirm the sign-in (it may have expired or been used already)"),
                _("Press Sign in with X again"),
            )
        token = body.get("access_token")
        if (
            not isinstance(token, str)
            or not token
            or str(body.get("token_type", "")).lower() != "bearer"
        ):
            raise XSignInError(
                _("X answered the sign-in without a usable token"), _("Try again later")
            )
        return token

    def _me(self, client: httpx.Client, token: str) -> tuple[str, str]:
        response = client.get(
            self.app.me_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        if response.status_code != 200:
            log.info("Sign in with X: users/me answered %s", response.status_code)
            raise XSignInError(_("X did not say which account signed in"), _("Try again later"))
        data = _json(response).get("data")
        x_id = data.get("id") if isinstance(data, dict) else None
        username = data.get("username") if isinstance(data, dict) else None
        if not (isinstance(x_id, str) and _X_ID.match(x_id)) or not (
            isinstance(username, str) and _X_USERNAME.match(username)
        ):
            raise XSignInError(_("X's answer does not name an account"), _("Try again later"))
        return x_id, username


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
