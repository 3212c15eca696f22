"""Secrets at rest and the stored Bluesky sessions of the coalition.

* :class:`Vault` — encrypts what the coalition keeps of a Bluesky session, with a key derived
  from ``DEPARTURES_COALITION_SECRET`` or the ``coalition.secret`` file (mode 0600) next to
  the store (:func:`vault`).
* :class:`AccountSessions` — where a connected account's session lives. A member (for its
  welcome post) or the coordinator (for the campaign's list and starter pack) gives an app
  password once; it is used to log in right away and is never stored. The session the
  server returns (refresh token included) is kept **encrypted** in the store's
  ``bluesky_accounts``.
* :class:`VisitorSessions` — a directory visitor's session for "Follow all", encrypted,
  under the SHA-256 of a random token that only the visitor's signed cookie holds; it
  lives at most :data:`SESSION_TTL` and is deleted on sign-out and withdrawal.

Both session classes implement the session module's ``SessionStore`` interface, so
:func:`departures.bluesky.session.login` and ``open_client`` work unchanged and store
refreshed tokens back here. The rows themselves are kept by the store layer
(:mod:`departures.coalition.store.accounts`); the writer's journal of an account is
:class:`~departures.coalition.store.write_journal.CoalitionJournal`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets as token_source
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Engine

from departures.bluesky.session import SessionStore, StoredSession
from departures.coalition.security import fallback_keys, load_secret_key
from departures.coalition.store import access, accounts
from departures.coalition.store.accounts import Account
from departures.coalition.store.campaigns import utc_now
from departures.errors import BlueskyError

__all__ = [
    "SESSION_TTL",
    "Account",
    "AccountSessions",
    "Vault",
    "VisitorSessions",
    "campaign_owner",
    "organisation_owner",
    "vault",
]

#: How long a directory visitor's session is kept after signing in.
SESSION_TTL = timedelta(minutes=30)

_KDF_CONTEXT = b"departures coalition: Bluesky sessions at rest, v1\x00"


def _fernet(secret: bytes) -> Fernet:
    # The configured secret is any strong string: derive a separate, well-formed key from it,
    # so that one secret never serves two purposes as is.
    key = hashlib.sha256(_KDF_CONTEXT + secret).digest()
    return Fernet(base64.urlsafe_b64encode(key))


class Vault:
    """Encrypts and decrypts secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256).

    Encrypts with ``secret``; decrypts with it or any of ``fallbacks`` (the keys before a
    rotation, by default those of ``DEPARTURES_COALITION_SECRET_FALLBACKS``).
    """

    def __init__(self, secret: bytes, fallbacks: Sequence[bytes] | None = None) -> None:
        keys = [secret, *(fallback_keys() if fallbacks is None else fallbacks)]
        self._fernet = MultiFernet([_fernet(key) for key in keys])

    def __repr__(self) -> str:
        return "Vault(<key hidden>)"

    def encrypt(self, plain: str) -> str:
        """The encrypted token (ASCII) for ``plain``."""
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plain text of ``token``; a clear error when the key changed."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise BlueskyError(
                "A stored Bluesky session cannot be decrypted (the coalition secret changed)",
                "Restore DEPARTURES_COALITION_SECRET or coalition.secret (or list the old "
                "one in DEPARTURES_COALITION_SECRET_FALLBACKS), or connect the Bluesky "
                "account again with a new app password",
            ) from exc


def vault(directory: Path | None = None) -> Vault:
    """The vault keyed by ``DEPARTURES_COALITION_SECRET`` or ``coalition.secret`` (0600)."""
    return Vault(load_secret_key(directory))


def campaign_owner(campaign_id: int) -> str:
    """The owner name of a campaign's coordinator account."""
    return f"campaign:{campaign_id}"


def organisation_owner(organisation_id: int) -> str:
    """The owner name of a member organisation's account."""
    return f"organisation:{organisation_id}"


class AccountSessions(SessionStore):
    """One owner's session in ``bluesky_accounts``, encrypted (a ``SessionStore``)."""

    def __init__(
        self,
        engine: Engine,
        secrets: Vault,
        owner: str,
        *,
        campaign_id: int,
        organisation_id: int | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        # Deliberately not SessionStore.__init__: nothing of this store is in a file.
        self.engine = engine
        self.secrets = secrets
        self.owner = owner
        self.campaign_id = campaign_id
        self.organisation_id = organisation_id
        self.clock = clock

    def __repr__(self) -> str:
        return f"AccountSessions(owner={self.owner!r})"

    def account(self) -> Account | None:
        """The owner's account, if one was ever connected."""
        return accounts.account_row(self.engine, self.owner)

    def get(self, who: str | None = None) -> StoredSession | None:
        """The owner's session (``who`` is ignored: one account per owner)."""
        secret = accounts.account_secret(self.engine, self.owner)
        if not secret:
            return None
        plain = self.secrets.decrypt(secret)
        if plain.startswith('{"oauth":'):  # an OAuth session: coalition.oauth.account_pds
            return None
        return StoredSession(**json.loads(plain))

    def put(self, session: StoredSession, *, make_current: bool = True) -> None:
        """Store (or replace) the owner's session, encrypted."""
        accounts.save_account_session(
            self.engine,
            self.owner,
            campaign_id=self.campaign_id,
            organisation_id=self.organisation_id,
            did=session.did,
            handle=session.handle,
            service=session.service,
            secret=self.secrets.encrypt(json.dumps(asdict(session))),
            now=self.clock(),
        )

    def remove(self, who: str | None = None) -> StoredSession | None:
        """Forget the session (the journal stays: it records what was written)."""
        found = self.get(who)
        accounts.clear_account_secret(self.engine, self.owner, self.clock())
        return found


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class VisitorSessions(SessionStore):
    """One signed-in visitor's Bluesky session, encrypted, for at most 30 minutes."""

    def __init__(
        self,
        engine: Engine,
        secrets: Vault,
        token: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        # Deliberately not SessionStore.__init__: nothing of this store is in a file.
        self.engine = engine
        self.secrets = secrets
        self.token_hash = _hash(token)
        self.clock = clock

    def __repr__(self) -> str:
        return "VisitorSessions(<token hidden>)"

    @classmethod
    def keep(
        cls,
        engine: Engine,
        secrets: Vault,
        session: StoredSession,
        clock: Callable[[], datetime] = utc_now,
    ) -> str:
        """Store ``session`` under a new random token (for the cookie); expired ones go."""
        token = token_source.token_urlsafe(32)
        now = clock()
        accounts.keep_visitor_session(
            engine,
            _hash(token),
            session.did,
            secrets.encrypt(json.dumps(asdict(session))),
            now,
            now + SESSION_TTL,
        )
        return token

    @staticmethod
    def of_did(engine: Engine, secrets: Vault, did: str) -> list[StoredSession]:
        """Every kept session of ``did`` (to revoke them at its PDS before forgetting them)."""
        found = []
        for secret in access.visitor_secrets_of(engine, did):
            try:
                found.append(StoredSession(**json.loads(secrets.decrypt(secret))))
            except Exception:  # the secret changed: nothing left to revoke with
                continue
        return found

    def get(self, who: str | None = None) -> StoredSession | None:
        """The session if it has not expired (``who`` is ignored: one account per token)."""
        secret = accounts.visitor_secret(self.engine, self.token_hash, self.clock())
        if not secret:
            return None
        try:
            return StoredSession(**json.loads(self.secrets.decrypt(secret)))
        except Exception:  # the secret changed: as good as expired
            return None

    def put(self, session: StoredSession, *, make_current: bool = True) -> None:
        """Store refreshed tokens (the expiry stays: 30 minutes from the sign-in)."""
        accounts.update_visitor_secret(
            self.engine, self.token_hash, self.secrets.encrypt(json.dumps(asdict(session)))
        )

    def remove(self, who: str | None = None) -> StoredSession | None:
        """Delete the session (sign-out, withdrawal, expiry)."""
        accounts.drop_visitor_session(self.engine, self.token_hash)
        return None
