"""The coalition's AT Protocol OAuth in the store: client keys, pending sign-ins, connections.

Secrets arrive here already encrypted by the vault (:mod:`departures.coalition.oauth`); this
module only keeps ciphertext. A pending sign-in is *taken* — read and deleted in one
transaction — so a ``state`` is honoured once, whichever server process gets the callback.
:func:`connected_through_oauth` tells whether an owner's account was connected through OAuth
(and as which DID): the verified-domain mark relies on it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update

from departures.coalition.store.schema import (
    oauth_client_keys,
    oauth_connections,
    oauth_pending,
)

__all__ = [
    "PENDING_LIFETIME",
    "add_client_key",
    "client_keys",
    "connected_through_oauth",
    "forget_connection",
    "keep_pending",
    "owners_of",
    "record_connection",
    "retire_client_keys",
    "take_pending",
]

PENDING_LIFETIME = timedelta(minutes=15)
"""How long a sign-in may stay at the authorisation server before its callback is refused."""


def client_keys(engine: Engine) -> list[tuple[str, str, bool]]:
    """(kid, encrypted key, retired) of every client key, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                oauth_client_keys.c.kid,
                oauth_client_keys.c.secret,
                oauth_client_keys.c.retired_at,
            ).order_by(oauth_client_keys.c.created_at.desc(), oauth_client_keys.c.kid.desc())
        ).all()
    return [(row.kid, row.secret, row.retired_at is not None) for row in rows]


def add_client_key(engine: Engine, kid: str, secret: str, now: datetime) -> None:
    """Store a new (encrypted) client key."""
    with engine.begin() as conn:
        conn.execute(insert(oauth_client_keys).values(kid=kid, secret=secret, created_at=now))


def retire_client_keys(engine: Engine, keep: str, now: datetime) -> None:
    """Mark every key but ``keep`` retired (still published, no longer signing)."""
    with engine.begin() as conn:
        conn.execute(
            update(oauth_client_keys)
            .where(oauth_client_keys.c.kid != keep, oauth_client_keys.c.retired_at.is_(None))
            .values(retired_at=now)
        )


def keep_pending(engine: Engine, state_hash: str, secret: str, now: datetime) -> None:
    """Keep a pending sign-in under its state's hash; stale ones are deleted first."""
    with engine.begin() as conn:
        conn.execute(
            delete(oauth_pending).where(oauth_pending.c.created_at <= now - PENDING_LIFETIME)
        )
        conn.execute(
            insert(oauth_pending).values(state_hash=state_hash, secret=secret, created_at=now)
        )


def take_pending(engine: Engine, state_hash: str, now: datetime) -> str:
    """The pending sign-in's ciphertext, deleted as it is read ("" if unknown, used or stale)."""
    with engine.begin() as conn:
        row = conn.execute(
            select(oauth_pending.c.secret, oauth_pending.c.created_at).where(
                oauth_pending.c.state_hash == state_hash
            )
        ).first()
        if row is None:
            return ""
        gone = conn.execute(
            delete(oauth_pending).where(oauth_pending.c.state_hash == state_hash)
        ).rowcount
    # Two callbacks racing for one state: only the one whose delete removed the row wins.
    if gone != 1 or row.created_at <= now - PENDING_LIFETIME:
        return ""
    return str(row.secret)


def record_connection(engine: Engine, owner: str, did: str, now: datetime) -> None:
    """Record that ``owner``'s account ``did`` was connected through OAuth."""
    with engine.begin() as conn:
        conn.execute(delete(oauth_connections).where(oauth_connections.c.owner == owner))
        conn.execute(insert(oauth_connections).values(owner=owner, did=did, connected_at=now))


def forget_connection(engine: Engine, owner: str) -> None:
    """The owner's OAuth connection is gone (disconnected, revoked, or replaced by password)."""
    with engine.begin() as conn:
        conn.execute(delete(oauth_connections).where(oauth_connections.c.owner == owner))


def connected_through_oauth(engine: Engine, owner: str) -> str | None:
    """The DID ``owner``'s account was connected as through OAuth; None if not through OAuth.

    ``owner`` is the vault's owner name: ``organisation_owner(id)`` for a member
    organisation, ``campaign_owner(id)`` for the coalition's own account.
    """
    with engine.connect() as conn:
        did = conn.execute(
            select(oauth_connections.c.did).where(oauth_connections.c.owner == owner)
        ).scalar()
    return str(did) if did else None


def owners_of(engine: Engine, did: str) -> list[str]:
    """The owners whose account ``did`` was connected through OAuth (member sign-in)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(oauth_connections.c.owner)
            .where(oauth_connections.c.did == did)
            .order_by(oauth_connections.c.connected_at.desc())
        ).all()
    return [str(row.owner) for row in rows]
