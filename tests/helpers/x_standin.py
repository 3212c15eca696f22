"""A small local stand-in of X's two OAuth 2.0 endpoints and ``/2/users/me`` — the one fake
the tests of Sign in with X are allowed (X cannot run here).

It behaves as X's API documents the authorisation code flow with PKCE for a confidential
client, and checks what X checks: the client id, the registered redirect URI, ``S256`` only,
the scopes, the client's HTTP Basic credentials at the token endpoint, the code verifier
against the challenge, a code used once and within its lifetime, and a bearer token on
``users/me``. The authorisation page has no form: it answers as the person :attr:`XStandIn.
user` would by allowing (or, with :attr:`XStandIn.deny`, by refusing).

    with x_standin() as x:
        x.user = ("783214", "XSquat")
        ... Settings(x_authorize_url=x.authorize_url, x_api_url=x.api_url, ...)
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from helpers.web import serve

CLIENT_ID = "coalition-test-client"
CLIENT_SECRET = "x-test-secret-never-logged-7f3a"
CODE_LIFETIME = 30.0  # seconds (X's codes live 30 seconds)


@dataclass
class XStandIn:
    """The stand-in's state: the app registered with it, who is "signed in at X", and what
    it was asked."""

    redirect_uri: str
    base: str = ""
    user: tuple[str, str] = ("783214", "XSquat")
    deny: bool = False
    codes: dict[str, dict[str, object]] = field(default_factory=dict)
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    me_requests: int = 0

    @property
    def authorize_url(self) -> str:
        """Where Sign in with X sends the visitor."""
        return f"{self.base}/i/oauth2/authorize"

    @property
    def api_url(self) -> str:
        """The API base (token endpoint and users/me)."""
        return self.base

    @property
    def host(self) -> str:
        """``host:port``, for ``DEPARTURES_COALITION_ALLOW_HOSTS``."""
        return urlsplit(self.base).netloc

    # --- the endpoints -------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("redirect_uri") != self.redirect_uri:
            return JSONResponse({"error": "invalid_request"}, 400)
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, 400)
        if "users.read" not in q.get("scope", "").split() or not q.get("code_challenge"):
            return JSONResponse({"error": "invalid_scope"}, 400)
        state = q.get("state", "")
        if self.deny:
            query = urlencode({"error": "access_denied", "state": state})
            return RedirectResponse(f"{self.redirect_uri}?{query}", 302)
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "challenge": q["code_challenge"],
            "user": self.user,
            "at": time.monotonic(),
            "used": False,
        }
        query = urlencode({"code": code, "state": state})
        return RedirectResponse(f"{self.redirect_uri}?{query}", 302)

    async def token(self, request: Request) -> Response:
        form = dict((await request.form()).items())
        self.token_requests.append({k: str(v) for k, v in form.items()})
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {basic}":
            return JSONResponse({"error": "unauthorized_client"}, 401)
        grant = self.codes.get(str(form.get("code", "")))
        if (
            form.get("grant_type") != "authorization_code"
            or form.get("redirect_uri") != self.redirect_uri
            or grant is None
            or grant["used"]
            or time.monotonic() - float(str(grant["at"])) > CODE_LIFETIME
        ):
            return JSONResponse({"error": "invalid_request"}, 400)
        verifier = str(form.get("code_verifier", "")).encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        grant["used"] = True  # one use, even when the verifier is wrong
        if challenge.decode() != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant"}, 400)
        token = secrets.token_urlsafe(32)
        user = grant["user"]
        assert isinstance(user, tuple)
        self.tokens[token] = user
        return JSONResponse(
            {
                "token_type": "bearer",
                "expires_in": 7200,
                "access_token": token,
                "scope": "users.read tweet.read",
            }
        )

    async def me(self, request: Request) -> Response:
        self.me_requests += 1
        auth = request.headers.get("authorization", "")
        user = self.tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if user is None:
            return JSONResponse({"title": "Unauthorized", "status": 401}, 401)
        x_id, username = user
        return JSONResponse({"data": {"id": x_id, "name": username.title(), "username": username}})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/i/oauth2/authorize", self.authorize),
                Route("/2/oauth2/token", self.token, methods=["POST"]),
                Route("/2/users/me", self.me),
            ]
        )


@contextmanager
def x_standin(redirect_uri: str) -> Iterator[XStandIn]:
    """The stand-in served on a free loopback port, for the app whose callback is
    ``redirect_uri``."""
    standin = XStandIn(redirect_uri)
    with serve(lambda _base: standin.app()) as base:
        standin.base = base
        yield standin
