"""AT Protocol OAuth for a confidential web client (:class:`ClientConfig`, the coalition) or
a public loopback client (:class:`LoopbackConfig`, the desk): sign-in at the account's own
server. A loopback client authenticates with its ``client_id`` alone; the rest is the same.

The flow, as the AT Protocol OAuth profile asks it of a web service:

1. **Resolution** — handle → DID (``resolveHandle`` on the configured service) → DID document
   (PLC directory or ``did:web``) → PDS → its protected-resource metadata
   (``/.well-known/oauth-protected-resource``) → the authorisation server's metadata
   (``/.well-known/oauth-authorization-server``, whose ``issuer`` must be the server's own
   URL). Every fetch goes through the ``httpx.Client`` the caller hands in: the coalition's is
   a :class:`~departures.netguard.NetGuard` client.
2. **PAR** — the authorisation request is pushed to the server (``pushed_authorization_
   request_endpoint``) with PKCE (S256), the client's ``private_key_jwt`` assertion and a DPoP
   proof signed by a key made for this sign-in (ES256); the browser is sent to the
   authorisation endpoint with only ``client_id`` and the ``request_uri``.
3. **Callback** — the caller finds the pending sign-in by its ``state`` (and removes it: a
   state is used once), then :meth:`OAuthClient.finish` checks ``iss`` against the resolved
   issuer, exchanges the code (PKCE verifier, assertion, DPoP) and checks that the token's
   ``sub`` DID resolves to the same PDS and authorisation server.
4. **Use** — :class:`OAuthRequest` is the atproto SDK's request layer on the granted session:
   ``Authorization: DPoP <token>`` plus a DPoP proof with the access token's hash; the PDS's
   nonce is learned and retried once (``use_dpop_nonce``), and an expired access token is
   refreshed once. :class:`~departures.bluesky.pds.Pds` is built on it unchanged, so every
   write still goes through :mod:`departures.bluesky.writer`.
5. **Refresh** and **revocation** (sign-out) at the token and revocation endpoints.

DPoP nonces: each server sends its current nonce in ``DPoP-Nonce``; a request refused with
``use_dpop_nonce`` is sent once more with the new one, at the authorisation server and at the
PDS alike. JOSE is :mod:`joserfc`'s; nothing here signs or hashes by hand but the
``ath``/PKCE SHA-256 digests the specifications define.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from atproto_client.request import Request, _handle_request_errors, _handle_response
from joserfc import jwt
from joserfc.jwk import ECKey

from departures.errors import BlueskyError

__all__ = [
    "ALL_SCOPES",
    "ASSERTION_TYPE",
    "DESK_SCOPE",
    "SCOPES",
    "AuthServer",
    "ClientConfig",
    "LoopbackConfig",
    "OAuthClient",
    "OAuthError",
    "OAuthRequest",
    "OAuthSession",
    "PendingAuth",
    "dpop_proof",
    "new_client_key",
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ALG = "ES256"

# The narrowest scopes for each use. "atproto" alone proves who the account is; the
# granular "repo:" scopes name the record collections (and actions) the service writes.
SCOPES: dict[str, str] = {
    # Directory and member pages: who you are. The directory's "Follow all" follows.
    "sign-in": "atproto",
    "directory": "atproto repo:app.bsky.graph.follow?action=create",
    # A member's departure day: its welcome post (with its reply and quote controls), the
    # subscription to the coalition's moderation list, reconnect's follows.
    "member": (
        "atproto repo:app.bsky.feed.post?action=create&action=delete "
        "repo:app.bsky.feed.threadgate repo:app.bsky.feed.postgate "
        "repo:app.bsky.graph.listblock?action=create&action=delete "
        "repo:app.bsky.graph.follow?action=create"
    ),
    # The coalition's own account: announcements, the campaign's lists (and moderation
    # list) with their members, the starter pack.
    "coalition": (
        "atproto repo:app.bsky.feed.post?action=create&action=delete "
        "repo:app.bsky.feed.threadgate repo:app.bsky.feed.postgate repo:app.bsky.graph.list "
        "repo:app.bsky.graph.listitem repo:app.bsky.graph.starterpack"
    ),
}


def _union(scopes: Mapping[str, str]) -> str:
    seen: list[str] = []
    for value in scopes.values():
        for scope in value.split():
            if scope not in seen:
                seen.append(scope)
    return " ".join(seen)


ALL_SCOPES = _union(SCOPES)
"""Every scope the client may ask for (its metadata's ``scope``; the server refuses others)."""

DESK_SCOPE = (
    "atproto repo:app.bsky.feed.post?action=create&action=delete "
    "repo:app.bsky.feed.threadgate repo:app.bsky.feed.postgate "
    "repo:app.bsky.graph.follow?action=create&action=delete blob:*/*"
)
"""What the desk (a loopback client) asks for: publishing posts with their images and reply
and quote controls, undoing them, following and unfollowing."""


class OAuthError(BlueskyError):
    """A sign-in or a granted session failed; ``reason`` names the case for the caller.

    Reasons: ``denied`` (the person declined), ``issuer`` (the answer came from another
    server), ``account`` (the token is for another account or server), ``state`` (unknown or
    used), ``rejected`` (the server refused a request or token), ``unreachable``,
    ``revoked`` (the session is no longer accepted).
    """

    def __init__(self, reason: str, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.reason = reason


def new_client_key(kid: str | None = None) -> ECKey:
    """A new ES256 (P-256) private key for ``private_key_jwt`` or DPoP."""
    kid = kid or f"k{int(time.time())}-{secrets.token_hex(4)}"
    return ECKey.generate_key("P-256", parameters={"kid": kid, "alg": _ALG}, private=True)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _htu(url: str) -> str:
    """The DPoP ``htu``: the request URL without query or fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def dpop_proof(
    key: ECKey,
    method: str,
    url: str,
    *,
    nonce: str | None = None,
    access_token: str | None = None,
) -> str:
    """A DPoP proof JWT for one request (RFC 9449), signed with ``key``."""
    public = {k: v for k, v in key.as_dict(private=False).items() if k in ("kty", "crv", "x", "y")}
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16),
        "htm": method.upper(),
        "htu": _htu(url),
        "iat": int(time.time()),
    }
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        claims["ath"] = _b64(hashlib.sha256(access_token.encode()).digest())
    return jwt.encode({"typ": "dpop+jwt", "alg": _ALG, "jwk": public}, claims, key)


@dataclass(frozen=True)
class ClientConfig:
    """The service as an OAuth client: its ``client_id`` URL, redirect URI and keys.

    ``keys`` are the client's private keys, newest first: the first signs assertions, all are
    published in the JWKS (an old key stays published while a rotation settles).
    """

    base_url: str
    keys: tuple[ECKey, ...]
    client_name: str = "Departures coalition"
    scope: str = ALL_SCOPES

    @property
    def client_id(self) -> str:
        """The client's id: the URL of its metadata document."""
        return f"{self.base_url.rstrip('/')}/oauth/client-metadata.json"

    @property
    def redirect_uri(self) -> str:
        """Where the authorisation server sends the browser back."""
        return f"{self.base_url.rstrip('/')}/oauth/callback"

    @property
    def jwks_uri(self) -> str:
        """The URL of the client's public keys."""
        return f"{self.base_url.rstrip('/')}/oauth/jwks.json"

    def metadata(self) -> dict[str, Any]:
        """The client metadata document served at ``client_id``."""
        return {
            "client_id": self.client_id,
            "client_name": self.client_name,
            "client_uri": self.base_url.rstrip("/"),
            "application_type": "web",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "redirect_uris": [self.redirect_uri],
            "scope": self.scope,
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": _ALG,
            "jwks_uri": self.jwks_uri,
            "dpop_bound_access_tokens": True,
        }

    def jwks(self) -> dict[str, Any]:
        """The public keys (JWKS) served at ``jwks_uri``."""
        keys = []
        for key in self.keys:
            public = key.as_dict(private=False)
            public.update(use="sig", alg=_ALG)
            keys.append(public)
        return {"keys": keys}

    def assertion(self, audience: str) -> str:
        """A ``private_key_jwt`` client assertion for the server ``audience`` (its issuer)."""
        key = self.keys[0]
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + 60,
        }
        return jwt.encode({"alg": _ALG, "kid": key.kid}, claims, key)

    def authentication(self, audience: str) -> dict[str, str]:
        """The client-authentication fields of a request to the server ``audience``."""
        return {
            "client_id": self.client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(audience),
        }


@dataclass(frozen=True)
class LoopbackConfig:
    """A local app as a public OAuth *loopback client* (the desk on 127.0.0.1).

    The AT Protocol has no metadata document for it: the ``client_id`` is
    ``http://localhost`` with the redirect URI and the scope in its query, from which the
    server derives the metadata (``token_endpoint_auth_method: none``). Without a client
    secret, PKCE and the DPoP key made for each sign-in are what bind the code and the tokens
    to this process.
    """

    redirect_uri: str
    scope: str = DESK_SCOPE

    def __post_init__(self) -> None:
        host = urlsplit(self.redirect_uri).hostname
        # The server accepts only loopback IP literals as a loopback client's redirect host.
        if urlsplit(self.redirect_uri).scheme != "http" or host not in ("127.0.0.1", "::1"):
            raise ValueError(f"{self.redirect_uri} is not a loopback redirect URI")

    @property
    def client_id(self) -> str:
        """``http://localhost?redirect_uri=…&scope=…``."""
        return "http://localhost?" + urlencode(
            {"redirect_uri": self.redirect_uri, "scope": self.scope}
        )

    def authentication(self, audience: str) -> dict[str, str]:
        """A public client authenticates with its ``client_id`` alone."""
        return {"client_id": self.client_id}


@dataclass(frozen=True)
class AuthServer:
    """An authorisation server's metadata, as far as this client uses it."""

    issuer: str
    par_endpoint: str
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str | None


@dataclass
class PendingAuth:
    """A sign-in between the redirect and the callback (kept by the caller, encrypted)."""

    state: str
    issuer: str
    pds: str
    did: str | None
    handle: str | None
    code_verifier: str
    dpop_key: dict[str, Any]
    dpop_nonce: str | None
    scope: str
    server: dict[str, Any]
    created_at: float = field(default_factory=time.time)

    def __repr__(self) -> str:  # the verifier and key stay out of logs
        return f"PendingAuth(issuer={self.issuer!r}, did={self.did!r})"

    def to_json(self) -> str:
        """The pending sign-in as JSON (contains a private key: encrypt before storing)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> PendingAuth:
        """The pending sign-in from :meth:`to_json`."""
        return cls(**json.loads(text))


@dataclass
class OAuthSession:
    """A granted session: DPoP-bound tokens, the DPoP key and the servers' nonces."""

    did: str
    handle: str
    pds: str
    issuer: str
    token_endpoint: str
    revocation_endpoint: str | None
    access_token: str
    refresh_token: str | None
    expires_at: float
    scope: str
    dpop_key: dict[str, Any]
    server_nonce: str | None = None
    pds_nonce: str | None = None

    def __repr__(self) -> str:  # tokens stay out of logs and tracebacks
        return f"OAuthSession(handle={self.handle!r}, did={self.did!r}, pds={self.pds!r})"

    def to_json(self) -> str:
        """The session as JSON (tokens and a private key: encrypt before storing)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> OAuthSession:
        """The session from :meth:`to_json`."""
        return cls(**json.loads(text))

    def key(self) -> ECKey:
        """The session's DPoP key."""
        return ECKey.import_key(self.dpop_key)


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    auth = str(response.headers.get("www-authenticate", ""))
    if 'error="' in auth:
        return auth.split('error="', 1)[1].split('"', 1)[0]
    return ""


def _unreachable(where: str) -> OAuthError:
    return OAuthError(
        "unreachable",
        f"The Bluesky server {where} does not answer",
        "Try again in a few minutes",
    )


class OAuthClient:
    """The OAuth client of one service: resolution, PAR, the callback, refresh, revocation.

    ``http`` is the client every request goes through (the coalition's is guarded);
    ``service`` answers ``resolveHandle``; ``plc`` is the PLC directory for ``did:plc``.
    """

    def __init__(
        self,
        config: ClientConfig | LoopbackConfig,
        http: httpx.Client,
        *,
        service: str,
        plc: str,
    ) -> None:
        self.config = config
        self.http = http
        self.service = service.rstrip("/")
        self.plc = plc.rstrip("/")

    # -- resolution ------------------------------------------------------------------------
    def _get_json(self, url: str) -> Any:
        try:
            response = self.http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise _unreachable(urlsplit(url).netloc) from exc
        if response.status_code != 200:
            raise _unreachable(urlsplit(url).netloc)
        try:
            return response.json()
        except ValueError as exc:
            raise _unreachable(urlsplit(url).netloc) from exc

    def resolve_handle(self, handle: str) -> str:
        """The DID of ``handle`` (``resolveHandle`` on the configured service)."""
        query = urlencode({"handle": handle})
        url = f"{self.service}/xrpc/com.atproto.identity.resolveHandle?{query}"
        try:
            response = self.http.get(url)
        except httpx.HTTPError as exc:
            raise _unreachable(urlsplit(self.service).netloc) from exc
        if response.status_code == 400:
            raise OAuthError(
                "handle",
                f"The Bluesky handle {handle} does not exist",
                "Check the spelling, or create the account first and come back",
            )
        if response.status_code != 200:
            raise _unreachable(urlsplit(self.service).netloc)
        try:
            did = response.json().get("did")
        except (ValueError, AttributeError) as exc:
            raise _unreachable(urlsplit(self.service).netloc) from exc
        if not isinstance(did, str) or not did.startswith("did:"):
            raise _unreachable(urlsplit(self.service).netloc)
        return did

    def did_document(self, did: str) -> dict[str, Any]:
        """The DID document of ``did`` (PLC directory, or the domain of a ``did:web``)."""
        if did.startswith("did:plc:"):
            url = f"{self.plc}/{did}"
        elif did.startswith("did:web:"):
            host = did.removeprefix("did:web:")
            if ":" in host or "/" in host:
                raise OAuthError("account", f"{did} is not a DID this service resolves")
            url = f"https://{host}/.well-known/did.json"
        else:
            raise OAuthError("account", f"{did} is not a DID this service resolves")
        document = self._get_json(url)
        if not isinstance(document, dict) or document.get("id") != did:
            raise OAuthError("account", f"The DID document of {did} is not valid")
        return document

    @staticmethod
    def pds_of(document: Mapping[str, Any]) -> str:
        """The PDS endpoint a DID document names."""
        for service in document.get("service") or []:
            if not isinstance(service, dict):
                continue
            if str(service.get("id", "")).endswith("#atproto_pds") and isinstance(
                service.get("serviceEndpoint"), str
            ):
                return str(service["serviceEndpoint"]).rstrip("/")
        raise OAuthError("account", "The account's DID document names no Bluesky server")

    @staticmethod
    def handle_of(document: Mapping[str, Any]) -> str | None:
        """The handle a DID document claims (``at://`` in ``alsoKnownAs``), if any."""
        for name in document.get("alsoKnownAs") or []:
            if isinstance(name, str) and name.startswith("at://"):
                return name.removeprefix("at://")
        return None

    def issuer_of(self, pds: str) -> str:
        """The authorisation server a PDS names in its protected-resource metadata."""
        meta = self._get_json(f"{pds}/.well-known/oauth-protected-resource")
        servers = meta.get("authorization_servers") if isinstance(meta, dict) else None
        if not servers or not isinstance(servers[0], str):
            raise OAuthError(
                "unsupported",
                "This Bluesky server does not offer sign-in with OAuth",
                "Ask the coalition to enable app passwords, or use another server",
            )
        return servers[0].rstrip("/")

    def server(self, issuer: str) -> AuthServer:
        """The metadata of the authorisation server ``issuer`` (its issuer checked)."""
        meta = self._get_json(f"{issuer}/.well-known/oauth-authorization-server")
        if not isinstance(meta, dict) or str(meta.get("issuer", "")).rstrip("/") != issuer:
            raise OAuthError("issuer", "The authorisation server names another issuer")
        try:
            return AuthServer(
                issuer=issuer,
                par_endpoint=str(meta["pushed_authorization_request_endpoint"]),
                authorization_endpoint=str(meta["authorization_endpoint"]),
                token_endpoint=str(meta["token_endpoint"]),
                revocation_endpoint=meta.get("revocation_endpoint"),
            )
        except KeyError as exc:
            raise OAuthError("unsupported", "The authorisation server lacks PAR") from exc

    # -- the authorisation server ------------------------------------------------------------
    def _post(
        self, url: str, form: Mapping[str, str], key: ECKey, nonce: str | None, issuer: str
    ) -> tuple[httpx.Response, str | None]:
        """POST ``form`` with client authentication and DPoP; one retry for a new nonce."""
        response: httpx.Response | None = None
        for _attempt in range(2):
            data = {**form, **self.config.authentication(issuer)}
            headers = {"DPoP": dpop_proof(key, "POST", url, nonce=nonce)}
            try:
                response = self.http.post(url, data=data, headers=headers)
            except httpx.HTTPError as exc:
                raise _unreachable(urlsplit(url).netloc) from exc
            nonce = response.headers.get("DPoP-Nonce") or nonce
            if response.status_code == 400 and _error_code(response) == "use_dpop_nonce":
                continue
            break
        assert response is not None
        return response, nonce

    def start(self, handle: str, purpose: str | None = None) -> tuple[str, PendingAuth]:
        """Begin signing ``handle`` in for ``purpose`` (one of :data:`SCOPES`; None: all the
        configuration's scope): the URL to send the browser to, and the pending sign-in to
        keep (by its ``state``) until the callback."""
        scope = SCOPES[purpose] if purpose is not None else self.config.scope
        did = self.resolve_handle(handle)
        pds = self.pds_of(self.did_document(did))
        issuer = self.issuer_of(pds)
        server = self.server(issuer)
        key = new_client_key()
        verifier = secrets.token_urlsafe(48)
        challenge = _b64(hashlib.sha256(verifier.encode()).digest())
        state = secrets.token_urlsafe(24)
        form = {
            "response_type": "code",
            "redirect_uri": self.config.redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "login_hint": handle,
        }
        response, nonce = self._post(server.par_endpoint, form, key, None, issuer)
        if response.status_code not in (200, 201):
            raise OAuthError(
                "rejected",
                f"The Bluesky server refused the sign-in request ({_error_code(response)})",
                "Try again; if it keeps failing, tell the coalition",
            )
        try:
            request_uri = response.json().get("request_uri")
        except (ValueError, AttributeError):
            request_uri = None
        if not isinstance(request_uri, str):
            raise OAuthError("rejected", "The Bluesky server answered without a request_uri")
        pending = PendingAuth(
            state=state,
            issuer=issuer,
            pds=pds,
            did=did,
            handle=handle,
            code_verifier=verifier,
            dpop_key=key.as_dict(private=True),
            dpop_nonce=nonce,
            scope=scope,
            server=asdict(server),
        )
        query = urlencode({"client_id": self.config.client_id, "request_uri": request_uri})
        return f"{server.authorization_endpoint}?{query}", pending

    def finish(self, pending: PendingAuth, params: Mapping[str, str]) -> OAuthSession:
        """The granted session, from the callback's ``params`` for ``pending``.

        The caller has already matched ``state`` to ``pending`` and removed it (once only).
        Checks: no error, ``iss`` is the issuer the sign-in began with, the code exchanges,
        the token is DPoP-bound for the account that began (``sub``) and that account's DID
        still resolves to the same PDS and authorisation server.
        """
        if params.get("error"):
            raise OAuthError(
                "denied",
                "The sign-in was cancelled or refused at the Bluesky server",
                "Try again, and accept on your server's page",
            )
        if str(params.get("iss", "")).rstrip("/") != pending.issuer:
            raise OAuthError(
                "issuer", "The sign-in answer did not come from the account's own server"
            )
        code = params.get("code")
        if not code:
            raise OAuthError("rejected", "The sign-in answer carries no code")
        server = AuthServer(**pending.server)
        key = ECKey.import_key(pending.dpop_key)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.redirect_uri,
            "code_verifier": pending.code_verifier,
        }
        response, nonce = self._post(
            server.token_endpoint, form, key, pending.dpop_nonce, pending.issuer
        )
        tokens = self._tokens(response)
        sub = tokens.get("sub")
        if not isinstance(sub, str) or (pending.did is not None and sub != pending.did):
            raise OAuthError("account", "The server granted a session for another account")
        # The DID must still name this PDS, and the PDS this authorisation server: a server
        # may only grant sessions for the accounts it hosts.
        document = self.did_document(sub)
        pds = self.pds_of(document)
        if pds != pending.pds or self.issuer_of(pds) != pending.issuer:
            raise OAuthError("account", "The account is not hosted by the server that signed in")
        handle = pending.handle or self.handle_of(document) or sub
        return OAuthSession(
            did=sub,
            handle=handle,
            pds=pds,
            issuer=pending.issuer,
            token_endpoint=server.token_endpoint,
            revocation_endpoint=server.revocation_endpoint,
            access_token=str(tokens["access_token"]),
            refresh_token=tokens.get("refresh_token"),
            expires_at=time.time() + float(tokens.get("expires_in") or 300),
            scope=str(tokens.get("scope") or pending.scope),
            dpop_key=pending.dpop_key,
            server_nonce=nonce,
        )

    @staticmethod
    def _tokens(response: httpx.Response) -> dict[str, Any]:
        if response.status_code != 200:
            code = _error_code(response)
            raise OAuthError(
                "revoked" if code == "invalid_grant" else "rejected",
                f"The Bluesky server refused the token request ({code or response.status_code})",
                "Sign in again",
            )
        try:
            tokens = response.json()
        except ValueError:
            tokens = None
        if (
            not isinstance(tokens, dict)
            or str(tokens.get("token_type", "")).lower() != "dpop"
            or not isinstance(tokens.get("access_token"), str)
            or "atproto" not in str(tokens.get("scope", "")).split()
        ):
            raise OAuthError("rejected", "The Bluesky server granted an unusable session")
        return tokens

    def refresh(self, session: OAuthSession) -> OAuthSession:
        """``session`` with new tokens (the refresh token rotates: store the result)."""
        if not session.refresh_token:
            raise OAuthError("revoked", "The session cannot be renewed", "Sign in again")
        form = {"grant_type": "refresh_token", "refresh_token": session.refresh_token}
        response, nonce = self._post(
            session.token_endpoint, form, session.key(), session.server_nonce, session.issuer
        )
        tokens = self._tokens(response)
        if tokens.get("sub") != session.did:
            raise OAuthError("account", "The server renewed a session for another account")
        session.access_token = str(tokens["access_token"])
        session.refresh_token = tokens.get("refresh_token") or session.refresh_token
        session.expires_at = time.time() + float(tokens.get("expires_in") or 300)
        session.scope = str(tokens.get("scope") or session.scope)
        session.server_nonce = nonce
        return session

    def revoke(self, session: OAuthSession) -> bool:
        """Revoke ``session`` at its authorisation server (sign-out); True if it accepted.

        Never raises: forgetting the session here must not depend on the server answering.
        """
        if not session.revocation_endpoint:
            return False
        done = True
        nonce = session.server_nonce
        for token in (session.refresh_token, session.access_token):
            if not token:
                continue
            try:
                response, nonce = self._post(
                    session.revocation_endpoint,
                    {"token": token},
                    session.key(),
                    nonce,
                    session.issuer,
                )
            except OAuthError:
                return False
            done = done and response.status_code == 200
        return done

    def sdk_client(
        self,
        session: OAuthSession,
        on_change: Callable[[OAuthSession], None],
        *,
        timeout: float = 60.0,
    ) -> Any:
        """An atproto SDK ``Client`` on ``session`` (for :class:`~.pds.Pds`): DPoP-bound,
        refreshing as needed; ``on_change`` is called with the session whenever its tokens
        or nonces change (store it)."""
        from atproto import Client

        request = OAuthRequest(self, session, on_change, timeout=timeout)
        return Client(base_url=session.pds, request=request)


class OAuthRequest(Request):  # type: ignore[misc]  # the SDK ships no types
    """The atproto SDK's request layer on an OAuth session: every request carries
    ``Authorization: DPoP …`` and a fresh DPoP proof; a new PDS nonce is retried once and an
    expired access token refreshed once."""

    def __init__(
        self,
        oauth: OAuthClient,
        session: OAuthSession,
        on_change: Callable[[OAuthSession], None],
        *,
        timeout: float = 60.0,
    ) -> None:
        # Requests go through the OAuth client's (guarded) httpx client.
        super().__init__(timeout=timeout)
        self._client.close()
        self._client: httpx.Client = oauth.http
        self._oauth = oauth
        self._session = session
        self._on_change = on_change
        self._lock = threading.Lock()

    def _new_instance(self) -> OAuthRequest:
        return OAuthRequest(self._oauth, self._session, self._on_change)

    def close(self) -> None:
        """Close the OAuth client's connections (``Pds.close``): one client per Pds."""
        self._client.close()

    def _refresh(self) -> None:
        with self._lock:
            self._session = self._oauth.refresh(self._session)
            self._on_change(self._session)

    def _send_request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = self.get_headers(kwargs.pop("headers", None))
        if self._session.expires_at - 30 < time.time():
            try:
                self._refresh()
            except OAuthError as exc:
                if exc.reason == "unreachable":
                    raise
                # Refused (revoked, expired): what every session's end looks like to callers.
                from departures.bluesky.session import expired

                raise expired(self._session.handle) from exc
        refreshed = renonced = False
        while True:
            session = self._session
            token = session.access_token
            sent = {
                **headers,
                "Authorization": f"DPoP {token}",
                "DPoP": dpop_proof(
                    session.key(), method, url, nonce=session.pds_nonce, access_token=token
                ),
            }
            try:
                response = self._client.request(method=method, url=url, headers=sent, **kwargs)
            except Exception as exc:
                _handle_request_errors(exc)
                raise
            nonce = response.headers.get("DPoP-Nonce")
            if nonce and nonce != session.pds_nonce:
                session.pds_nonce = nonce
                self._on_change(session)
            if response.status_code == 401:
                code = _error_code(response)
                if code == "use_dpop_nonce" and not renonced:
                    renonced = True
                    continue
                if code == "invalid_token" and not refreshed and session.refresh_token:
                    refreshed = True
                    try:
                        self._refresh()
                    except OAuthError:
                        return self._checked(response)
                    continue
            return self._checked(response)

    @staticmethod
    def _checked(response: httpx.Response) -> httpx.Response:
        """The SDK's own mapping of an answer to its exceptions (401 → Unauthorized, …)."""
        checked: httpx.Response = _handle_response(response)
        return checked
