"""The rows of stored Bluesky sessions: connected accounts and directory visitors.

What is stored here is already encrypted: :mod:`departures.coalition.vault` turns sessions
into ciphertext and back; this module only keeps and finds that text.

* ``bluesky_accounts`` — one Bluesky account per owner (a campaign's coordinator or a member
  organisation), with its encrypted session and the writer's budget state;
* ``directory_sessions`` — a directory visitor's session, under the SHA-256 of the token its
  signed cookie holds, until it expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select, update

from departures.coalition.store.schema import bluesky_accounts, directory_sessions

__all__ = [
    "Account",
    "account_row",
    "account_secret",
    "clear_account_secret",
    "drop_visitor_session",
    "keep_visitor_session",
    "save_account_session",
    "update_visitor_secret",
    "visitor_secret",
]


@dataclass(frozen=True)
class Account:
    """A connected account's row, without its secret (``connected``: a secret is kept)."""

    id: int
    owner: str
    campaign_id: int
    organisation_id: int | None
    did: str
    handle: str
    service: str
    connected: bool


# --- connected accounts -------------------------------------------------------------------


def account_row(engine: Engine, owner: str) -> Account | None:
    """The owner's account row, if one was ever connected."""
    with engine.connect() as conn:
        row = conn.execute(
            select(bluesky_accounts).where(bluesky_accounts.c.owner == owner)
        ).first()
    if row is None:
        return None
    return Account(
        row.id,
        row.owner,
        row.campaign_id,
        row.organisation_id,
        row.did,
        row.handle,
        row.service,
        bool(row.secret),
    )


def account_secret(engine: Engine, owner: str) -> str:
    """The owner's encrypted session ("" when none is kept)."""
    with engine.connect() as conn:
        secret = conn.execute(
            select(bluesky_accounts.c.secret).where(bluesky_accounts.c.owner == owner)
        ).scalar()
    return str(secret or "")


def save_account_session(
    engine: Engine,
    owner: str,
    *,
    campaign_id: int,
    organisation_id: int | None,
    did: str,
    handle: str,
    service: str,
    secret: str,
    now: datetime,
) -> None:
    """Store (or replace) the owner's encrypted session; the row is made on first connection."""
    values = {"did": did, "handle": handle, "service": service, "secret": secret, "updated_at": now}
    with engine.begin() as conn:
        found = conn.execute(
            select(bluesky_accounts.c.id).where(bluesky_accounts.c.owner == owner)
        ).scalar()
        if found is None:
            conn.execute(
                insert(bluesky_accounts).values(
                    owner=owner,
                    campaign_id=campaign_id,
                    organisation_id=organisation_id,
                    budget="",
                    created_at=now,
                    **values,
                )
            )
        else:
            conn.execute(
                update(bluesky_accounts).where(bluesky_accounts.c.id == found).values(**values)
            )


def clear_account_secret(engine: Engine, owner: str, now: datetime) -> None:
    """Forget the owner's session; the row (and the journal that points at it) stays."""
    with engine.begin() as conn:
        conn.execute(
            update(bluesky_accounts)
            .where(bluesky_accounts.c.owner == owner)
            .values(secret="", updated_at=now)
        )


# --- directory visitors -------------------------------------------------------------------


def keep_visitor_session(
    engine: Engine, token_hash: str, did: str, secret: str, now: datetime, expires_at: datetime
) -> None:
    """Store a visitor's encrypted session under ``token_hash``; expired ones go first."""
    with engine.begin() as conn:
        conn.execute(delete(directory_sessions).where(directory_sessions.c.expires_at <= now))
        conn.execute(
            insert(directory_sessions).values(
                token_hash=token_hash, did=did, secret=secret, expires_at=expires_at
            )
        )


def visitor_secret(engine: Engine, token_hash: str, now: datetime) -> str:
    """The visitor's encrypted session if it has not expired at ``now`` ("" otherwise)."""
    with engine.connect() as conn:
        secret = conn.execute(
            select(directory_sessions.c.secret).where(
                directory_sessions.c.token_hash == token_hash,
                directory_sessions.c.expires_at > now,
            )
        ).scalar()
    return str(secret or "")


def update_visitor_secret(engine: Engine, token_hash: str, secret: str) -> None:
    """Replace the visitor's encrypted session (refreshed tokens; the expiry stays)."""
    with engine.begin() as conn:
        conn.execute(
            update(directory_sessions)
            .where(directory_sessions.c.token_hash == token_hash)
            .values(secret=secret)
        )


def drop_visitor_session(engine: Engine, token_hash: str) -> None:
    """Delete the visitor's session (sign-out, withdrawal, expiry)."""
    with engine.begin() as conn:
        conn.execute(
            delete(directory_sessions).where(directory_sessions.c.token_hash == token_hash)
        )
