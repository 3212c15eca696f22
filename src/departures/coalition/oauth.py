"""Sign in with Bluesky through AT Protocol OAuth: the coalition's side of it.

The protocol is :mod:`departures.bluesky.oauth`'s; this module gives it what it needs from
the coalition and keeps what it returns:

* **the client key** — an ES256 key made on first use, kept encrypted with the service's
  vault in the store (:mod:`.store.oauth`); :meth:`OAuthService.rotate_key` makes a new one,
  the old one stays published in the JWKS (servers may cache it) but no longer signs;
* **pending sign-ins** — encrypted, under the hash of their ``state``, taken once;
* **granted sessions** — a member's or the coalition's account in ``bluesky_accounts``
  (encrypted, like an app-password session), marked in ``oauth_connections``
  (:func:`departures.coalition.store.oauth.connected_through_oauth`); a directory visitor's
  in ``directory_sessions`` (30 minutes, like the app-password one);
* **the writes** — :func:`account_pds` opens :class:`~departures.bluesky.pds.Pds` on an
  OAuth session, so :func:`departures.coalition.departure.account_writer` (departure day,
  list sync, reconnect) works unchanged with either kind of session.

Every request goes through the service's :class:`~departures.netguard.NetGuard`.
App passwords remain only as a fallback (:data:`APP_PASSWORDS_ENV`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import httpx
from joserfc.jwk import ECKey

from departures.bluesky.identity import plc_url
from departures.bluesky.oauth import (
    SCOPES,
    ClientConfig,
    OAuthClient,
    OAuthError,
    OAuthSession,
    PendingAuth,
    new_client_key,
)
from departures.coalition.store import accounts
from departures.coalition.store import claims as claim_rows
from departures.coalition.store import oauth as store
from departures.coalition.store.campaigns import utc_now
from departures.netguard import NetGuard

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from departures.bluesky.pds import Pds
    from departures.coalition.vault import AccountSessions, Vault

__all__ = [
    "APP_PASSWORDS_ENV",
    "PURPOSES",
    "Finished",
    "OAuthService",
    "account_pds",
    "app_passwords_allowed",
    "is_oauth_secret",
    "load_secret",
    "revoke_account",
    "revoke_visitor_sessions",
]

APP_PASSWORDS_ENV = "DEPARTURES_COALITION_APP_PASSWORDS"
PURPOSES = tuple(SCOPES)


def app_passwords_allowed() -> bool:
    """Whether the operator kept app-password sign-in as a fallback (``=1``)."""
    return os.environ.get(APP_PASSWORDS_ENV, "").strip() in ("1", "true", "yes")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def is_oauth_secret(plain: str) -> bool:
    """Whether a decrypted stored session is an OAuth one (not an app-password session)."""
    return plain.startswith('{"oauth":')


def _secret(session: OAuthSession, client_id: str) -> str:
    # "oauth" first: is_oauth_secret recognises it without parsing.
    return json.dumps({"oauth": json.loads(session.to_json()), "client_id": client_id})


def load_secret(plain: str) -> tuple[OAuthSession, str]:
    """The OAuth session and ``client_id`` of a decrypted stored secret."""
    data = json.loads(plain)
    return OAuthSession(**data["oauth"]), str(data["client_id"])


@dataclass(frozen=True)
class Finished:
    """A completed sign-in: the granted session, what it was for and whose browser began it."""

    session: OAuthSession
    purpose: str
    binding: str


def _keys(engine: Engine, vault: Vault, clock: Callable[[], datetime]) -> tuple[ECKey, ...]:
    rows = store.client_keys(engine)
    if not rows:
        key = new_client_key()
        store.add_client_key(
            engine, str(key.kid), vault.encrypt(json.dumps(key.as_dict(private=True))), clock()
        )
        rows = store.client_keys(engine)
    active = [r for r in rows if not r[2]] or rows[:1]
    ordered = active[:1] + [r for r in rows if r is not active[0]]
    return tuple(ECKey.import_key(json.loads(vault.decrypt(secret))) for _, secret, _ in ordered)


class OAuthService:
    """The coalition's OAuth client: keys, sign-ins, and the sessions it keeps."""

    def __init__(
        self,
        engine: Engine,
        vault: Vault,
        base_url: str,
        *,
        service: str,
        guard: NetGuard | None = None,
        plc: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.vault = vault
        self.base_url = base_url.rstrip("/")
        self.service = service.rstrip("/")
        self.plc = (plc or plc_url()).rstrip("/")
        self.guard = guard or NetGuard.for_service(self.service, self.plc)
        self.clock = clock

    def config(self) -> ClientConfig:
        """The client as published (its first key is made now if there is none)."""
        return ClientConfig(self.base_url, _keys(self.engine, self.vault, self.clock))

    def rotate_key(self) -> str:
        """Make a new signing key; the others stay published, retired. Returns its kid."""
        key = new_client_key()
        kid = str(key.kid)
        now = self.clock()
        store.add_client_key(
            self.engine, kid, self.vault.encrypt(json.dumps(key.as_dict(private=True))), now
        )
        store.retire_client_keys(self.engine, kid, now)
        return kid

    def client(self) -> OAuthClient:
        """The protocol client, its requests through the guard (close ``.http`` after)."""
        return OAuthClient(self.config(), self.guard.client(), service=self.service, plc=self.plc)

    def start(self, handle: str, purpose: str, binding: str) -> str:
        """Begin a sign-in; the authorisation URL to send the browser to.

        ``binding`` ties the callback to the browser that began (the hash of a random value
        kept in its session): a callback from another browser is refused.
        """
        client = self.client()
        try:
            url, pending = client.start(handle, purpose)
        finally:
            client.http.close()
        secret = json.dumps(
            {"pending": json.loads(pending.to_json()), "purpose": purpose, "binding": binding}
        )
        store.keep_pending(
            self.engine, _hash(pending.state), self.vault.encrypt(secret), self.clock()
        )
        return url

    def finish(self, params: Mapping[str, str]) -> Finished:
        """The callback: the pending sign-in taken once by its state, then the checks."""
        state = params.get("state", "")
        found = store.take_pending(self.engine, _hash(state), self.clock()) if state else ""
        if not found:
            raise OAuthError(
                "state",
                "This sign-in link was already used or has expired",
                "Start the sign-in again",
            )
        data = json.loads(self.vault.decrypt(found))
        pending = PendingAuth(**data["pending"])
        client = self.client()
        try:
            session = client.finish(pending, params)
        finally:
            client.http.close()
        return Finished(session, str(data["purpose"]), str(data["binding"]))

    def connect(self, sessions: AccountSessions, session: OAuthSession) -> None:
        """Keep ``session`` as the owner's connected account, marked as connected by OAuth.

        An app-password session it replaces is ended at its PDS (not left live there).
        """
        from departures.coalition.handles import revoke_session
        from departures.errors import DeparturesError

        replaced = None
        try:
            replaced = sessions.get()  # None for an OAuth session: its grant is revoked here
            if replaced is None:
                revoke_account(sessions, self.guard)
        except DeparturesError:  # a secret that no longer decrypts: nothing to end with it
            replaced = None
        now = self.clock()
        accounts.save_account_session(
            self.engine,
            sessions.owner,
            campaign_id=sessions.campaign_id,
            organisation_id=sessions.organisation_id,
            did=session.did,
            handle=session.handle,
            service=self.service,
            secret=self.vault.encrypt(_secret(session, self.config().client_id)),
            now=now,
        )
        store.record_connection(self.engine, sessions.owner, session.did, now)
        if replaced is not None:
            revoke_session(replaced, self.guard)  # never raises
        if sessions.organisation_id is not None:
            # What the board's verified-domain mark rests on: this very account, through OAuth.
            claim_rows.record_member_connection(
                self.engine, sessions.organisation_id, session.did, session.handle, "oauth", now
            )

    def keep_visitor(self, session: OAuthSession) -> str:
        """Keep a directory visitor's session (30 minutes); the token for the cookie."""
        import secrets as token_source

        from departures.coalition.vault import SESSION_TTL

        token = token_source.token_urlsafe(32)
        now = self.clock()
        accounts.keep_visitor_session(
            self.engine,
            _hash(token),
            session.did,
            self.vault.encrypt(_secret(session, self.config().client_id)),
            now,
            now + SESSION_TTL,
        )
        return token

    def visitor_pds(self, token: str) -> Pds | None:
        """The visitor's Pds on their kept OAuth session; None if none (or expired)."""
        secret = accounts.visitor_secret(self.engine, _hash(token), self.clock())
        if not secret:
            return None
        plain = self.vault.decrypt(secret)
        if not is_oauth_secret(plain):
            return None
        session, client_id = load_secret(plain)

        def save(changed: OAuthSession) -> None:
            accounts.update_visitor_secret(
                self.engine, _hash(token), self.vault.encrypt(_secret(changed, client_id))
            )

        return _pds(self.engine, self.vault, session, client_id, self.service, self.guard, save)

    def revoke_visitor(self, token: str) -> bool:
        """Revoke a visitor's kept OAuth session at its server (sign-out); True if done."""
        secret = accounts.visitor_secret(self.engine, _hash(token), self.clock())
        if not secret:
            return False
        plain = self.vault.decrypt(secret)
        if not is_oauth_secret(plain):
            return False
        session, _client_id = load_secret(plain)
        client = self.client()
        try:
            return client.revoke(session)
        finally:
            client.http.close()

    def disconnect(self, sessions: AccountSessions) -> bool:
        """End the owner's session at its server (an OAuth grant revoked, an app-password
        session deleted) and forget it here; True if the server accepted. A session that no
        longer decrypts (the service's key changed) is forgotten unrevoked."""
        from departures.coalition.handles import revoke_session
        from departures.errors import DeparturesError

        revoked = False
        try:
            stored = sessions.get()  # an app-password session; None for OAuth (or none)
            if stored is None:
                revoked = revoke_account(sessions, self.guard)
            else:
                revoked = revoke_session(stored, self.guard)
        except DeparturesError:
            revoked = False
        accounts.clear_account_secret(self.engine, sessions.owner, self.clock())
        store.forget_connection(self.engine, sessions.owner)
        return revoked


def _pds(
    engine: Engine,
    vault: Vault,
    session: OAuthSession,
    client_id: str,
    service: str,
    guard: NetGuard,
    save: Callable[[OAuthSession], None],
) -> Pds:
    from departures.bluesky.pds import Pds

    client = _client_for(engine, vault, client_id, service, guard)
    client.http.timeout = httpx.Timeout(60.0, connect=5.0)  # 200 writes take a while
    return Pds(client.sdk_client(session, save), session.did, session.handle)


def account_pds(sessions: AccountSessions, guard: NetGuard) -> Pds | None:
    """A Pds on the owner's OAuth session, refreshed tokens stored back; None when the
    owner's account was connected with an app password (or not at all)."""
    secret = accounts.account_secret(sessions.engine, sessions.owner)
    if not secret:
        return None
    plain = sessions.secrets.decrypt(secret)
    if not is_oauth_secret(plain):
        return None
    session, client_id = load_secret(plain)
    account = sessions.account()
    service = account.service if account is not None else ""

    def save(changed: OAuthSession) -> None:
        sessions_secret = sessions.secrets.encrypt(_secret(changed, client_id))
        accounts.save_account_session(
            sessions.engine,
            sessions.owner,
            campaign_id=sessions.campaign_id,
            organisation_id=sessions.organisation_id,
            did=changed.did,
            handle=changed.handle,
            service=service,
            secret=sessions_secret,
            now=sessions.clock(),
        )

    return _pds(sessions.engine, sessions.secrets, session, client_id, service, guard, save)


def _client_for(
    engine: Engine, vault: Vault, client_id: str, service: str, guard: NetGuard
) -> OAuthClient:
    base = client_id.removesuffix("/oauth/client-metadata.json")
    return OAuthClient(
        ClientConfig(base, _keys(engine, vault, utc_now)),
        guard.client(),
        service=service,
        plc=plc_url(),
    )


def revoke_account(sessions: AccountSessions, guard: NetGuard) -> bool:
    """Revoke the owner's OAuth session at its server and drop the OAuth mark; True if the
    server accepted. Nothing happens for an app-password session (the caller revokes it)."""
    secret = accounts.account_secret(sessions.engine, sessions.owner)
    if not secret:
        return False
    plain = sessions.secrets.decrypt(secret)
    if not is_oauth_secret(plain):
        return False
    session, client_id = load_secret(plain)
    account = sessions.account()
    client = _client_for(
        sessions.engine,
        sessions.secrets,
        client_id,
        account.service if account is not None else "",
        guard,
    )
    try:
        return client.revoke(session)
    finally:
        client.http.close()
        store.forget_connection(sessions.engine, sessions.owner)


def revoke_visitor_sessions(engine: Engine, vault: Vault, did: str, guard: NetGuard) -> int:
    """Revoke every kept OAuth session of a directory visitor (withdrawal, sign-out
    everywhere) at its server; how many the server accepted. The rows are the caller's."""
    from departures.coalition.store import access

    done = 0
    for secret in access.visitor_secrets_of(engine, did):
        try:
            plain = vault.decrypt(secret)
        except Exception:  # the secret changed: nothing left to revoke with
            continue
        if not is_oauth_secret(plain):
            continue
        session, client_id = load_secret(plain)
        client = _client_for(engine, vault, client_id, "", guard)
        try:
            done += client.revoke(session)
        finally:
            client.http.close()
    return done
