"""Who may come in, and forgetting people: web sessions, revocations, erasure and export.

* ``web_sessions`` — the server side of the session cookie. The cookie holds a random id;
  this table keeps its SHA-256, the session's data and whom it signs in, so that signing out
  deletes the row (a replayed cookie then opens nothing) and "sign out everywhere", a member
  key reset or a coordinator token revocation end every session of that person at once.
* Revocations — an unused invitation deleted, a member key or a coordinator token replaced
  (the old one stops working at once, with every session it opened).
* Erasure — :func:`erase_did` (a person withdraws from the directory) and
  :func:`erase_organisation` (a member deletes its data) remove every row that names them in
  one transaction; :func:`organisation_export` is what a member downloads first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, insert, or_, select, update

from departures.coalition.security import hash_token, new_token
from departures.coalition.store import moderation
from departures.coalition.store.board_version import bump_board
from departures.coalition.store.schema import (
    bluesky_accounts,
    bluesky_batches,
    bluesky_records,
    checklist_ticks,
    coordinators,
    departure_posts,
    directory_claim_audit,
    directory_entries,
    directory_follow_batches,
    directory_sessions,
    invitations,
    invites,
    member_connections,
    modlist_choices,
    modlist_events,
    modlist_proposals,
    oauth_connections,
    organisations,
    outbox,
    pledges,
    reconnect_followings,
    reconnect_members,
    reconnect_proposals,
    triage_items,
    triage_members,
    triage_notes,
    web_sessions,
)

__all__ = [
    "SessionOwner",
    "coordinators_list",
    "end_sessions",
    "erase_did",
    "erase_organisation",
    "invite_of_token",
    "organisation_export",
    "purge_expired",
    "replace_coordinator_token",
    "reset_member_key",
    "revoke_invite",
    "session_create",
    "session_data",
    "session_delete",
    "session_update",
    "visitor_secrets_of",
]


# --- web sessions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionOwner:
    """Whom a session signs in (each None when not signed in as that)."""

    coordinator_id: int | None = None
    organisation_id: int | None = None
    did: str | None = None

    def values(self) -> dict[str, Any]:
        """The row's owner columns."""
        return {
            "coordinator_id": self.coordinator_id,
            "organisation_id": self.organisation_id,
            "did": self.did,
        }


def session_create(
    engine: Engine,
    id_hash: str,
    data: Mapping[str, Any],
    owner: SessionOwner,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Store a new session under the SHA-256 of its id."""
    with engine.begin() as conn:
        conn.execute(
            insert(web_sessions).values(
                id_hash=id_hash,
                data=json.dumps(dict(data)),
                created_at=now,
                expires_at=expires_at,
                **owner.values(),
            )
        )


def session_data(engine: Engine, id_hash: str, now: datetime) -> dict[str, Any] | None:
    """The data of a live session (None when unknown, signed out, revoked or expired)."""
    with engine.connect() as conn:
        raw = conn.execute(
            select(web_sessions.c.data).where(
                web_sessions.c.id_hash == id_hash, web_sessions.c.expires_at > now
            )
        ).scalar()
    if raw is None:
        return None
    data = json.loads(raw)
    return data if isinstance(data, dict) else None


def session_update(
    engine: Engine, id_hash: str, data: Mapping[str, Any], owner: SessionOwner
) -> bool:
    """Save a session's changed data; False when it was ended meanwhile (nothing is revived)."""
    with engine.begin() as conn:
        result = conn.execute(
            update(web_sessions)
            .where(web_sessions.c.id_hash == id_hash)
            .values(data=json.dumps(dict(data)), **owner.values())
        )
    return bool(result.rowcount)


def session_delete(engine: Engine, id_hash: str) -> None:
    """End one session (sign-out)."""
    with engine.begin() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == id_hash))


def _end_sessions(
    conn: Connection,
    *,
    coordinator_id: int | None = None,
    organisation_id: int | None = None,
    did: str | None = None,
) -> int:
    conditions = []
    if coordinator_id is not None:
        conditions.append(web_sessions.c.coordinator_id == coordinator_id)
    if organisation_id is not None:
        conditions.append(web_sessions.c.organisation_id == organisation_id)
    if did is not None:
        conditions.append(web_sessions.c.did == did)
    if not conditions:
        return 0
    return conn.execute(delete(web_sessions).where(or_(*conditions))).rowcount


def end_sessions(
    engine: Engine,
    *,
    coordinator_id: int | None = None,
    organisation_id: int | None = None,
    did: str | None = None,
) -> int:
    """End every session of a coordinator, an organisation or a DID ("sign out everywhere").

    A DID's directory sessions (its kept Bluesky sessions) go too; revoking them at the PDS
    first is the caller's (:func:`visitor_secrets_of` gives them).
    """
    with engine.begin() as conn:
        if did is not None:
            conn.execute(delete(directory_sessions).where(directory_sessions.c.did == did))
        return _end_sessions(
            conn, coordinator_id=coordinator_id, organisation_id=organisation_id, did=did
        )


def visitor_secrets_of(engine: Engine, did: str) -> list[str]:
    """The encrypted kept Bluesky sessions of ``did`` (to revoke them before erasing)."""
    with engine.connect() as conn:
        return [
            str(secret)
            for secret in conn.execute(
                select(directory_sessions.c.secret).where(directory_sessions.c.did == did)
            ).scalars()
        ]


def purge_expired(engine: Engine, now: datetime) -> int:
    """Delete expired web and directory sessions (the scheduler's pass); how many."""
    with engine.begin() as conn:
        gone = conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now)).rowcount
        gone += conn.execute(
            delete(directory_sessions).where(directory_sessions.c.expires_at <= now)
        ).rowcount
    return int(gone)


# --- revocations ------------------------------------------------------------------------------


def invite_of_token(engine: Engine, token: str) -> int | None:
    """The id of the invitation whose link carries ``token``, if any."""
    with engine.connect() as conn:
        found = conn.execute(
            select(invites.c.id).where(invites.c.token_hash == hash_token(token))
        ).scalar()
    return int(found) if found is not None else None


def revoke_invite(engine: Engine, campaign_id: int, invite_id: int) -> bool:
    """Delete an unused invitation of the campaign; False when there is none to revoke."""
    with engine.begin() as conn:
        result = conn.execute(
            delete(invites).where(
                invites.c.id == invite_id,
                invites.c.campaign_id == campaign_id,
                invites.c.used_at.is_(None),
            )
        )
    return bool(result.rowcount)


def reset_member_key(engine: Engine, organisation_id: int) -> str | None:
    """A new sign-in key for the organisation (shown once); the old one and its sessions end.

    None when there is no such organisation.
    """
    key = new_token()
    with engine.begin() as conn:
        result = conn.execute(
            update(organisations)
            .where(organisations.c.id == organisation_id)
            .values(key_hash=hash_token(key))
        )
        if not result.rowcount:
            return None
        _end_sessions(conn, organisation_id=organisation_id)
    return key


def coordinators_list(engine: Engine) -> list[tuple[int, str]]:
    """Every coordinator as (id, name), oldest first (to name one to revoke)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(coordinators.c.id, coordinators.c.name).order_by(coordinators.c.id)
        )
        return [(int(row.id), str(row.name)) for row in rows]


def replace_coordinator_token(engine: Engine, coordinator_id: int) -> str | None:
    """A new token for the coordinator; the old one and every session it opened end.

    Revoking is replacing and not showing the new token. None when there is no such
    coordinator.
    """
    token = new_token()
    with engine.begin() as conn:
        result = conn.execute(
            update(coordinators)
            .where(coordinators.c.id == coordinator_id)
            .values(token_hash=hash_token(token))
        )
        if not result.rowcount:
            return None
        _end_sessions(conn, coordinator_id=coordinator_id)
    return token


# --- erasure ----------------------------------------------------------------------------------


def _redact_outbox(conn: Connection, names: list[str]) -> None:
    """Take the lines naming someone out of queued and sent e-mails.

    A reconnect e-mail lists one account a line; the others of the round stay listed. An
    unsent e-mail left with no account is deleted; a sent one stays (its row keeps it from
    being queued twice) with those lines gone.
    """
    names = [name for name in names if name]
    if not names:
        return
    rows = conn.execute(
        select(outbox.c.id, outbox.c.body, outbox.c.sent_at).where(
            or_(*[outbox.c.body.contains(name, autoescape=True) for name in names])
        )
    ).all()
    for row in rows:
        lines = [line for line in row.body.split("\n") if not any(n in line for n in names)]
        listed = any(line.startswith("- ") for line in lines)
        if row.sent_at is None and not listed:
            conn.execute(delete(outbox).where(outbox.c.id == row.id))
        else:
            conn.execute(update(outbox).where(outbox.c.id == row.id).values(body="\n".join(lines)))


def _erase_journals(conn: Connection, did: str, *, own: bool) -> None:
    """Forget journal entries naming ``did`` (as follower when ``own``, or as subject).

    Only settled batches are forgotten: an open one ("sent") is still needed to settle with
    the server exactly once — except the person's own, whose session is revoked with them.
    """
    if own:
        conn.execute(delete(directory_follow_batches).where(directory_follow_batches.c.did == did))
    named = directory_follow_batches.c.writes.contains(did, autoescape=True)
    conn.execute(
        delete(directory_follow_batches).where(named, directory_follow_batches.c.state != "sent")
    )
    # The coalition's own accounts' journals (members' reconnect follows, list items).
    records = or_(
        bluesky_records.c.key.contains(did, autoescape=True),
        bluesky_records.c.uri.contains(did, autoescape=True),
    )
    conn.execute(delete(bluesky_records).where(records))
    for row in conn.execute(
        select(bluesky_batches.c.id, bluesky_batches.c.writes).where(
            bluesky_batches.c.writes.contains(did, autoescape=True),
            bluesky_batches.c.state != "sent",
        )
    ).all():
        kept = [w for w in json.loads(row.writes) if did not in json.dumps(w)]
        conn.execute(
            update(bluesky_batches)
            .where(bluesky_batches.c.id == row.id)
            .values(writes=json.dumps(kept))
        )


def erase_did(engine: Engine, did: str) -> int:
    """Everything that names ``did``, deleted in one transaction; how many directory pairs.

    Its pairs and the X ids in them (members' following lists included), what was proposed to
    members from them, the lines of e-mails that list it, its sessions (web and kept Bluesky
    sessions) and its settled follow journals.
    """
    with engine.begin() as conn:
        return _erase_did(conn, did)


def _erase_did(conn: Connection, did: str) -> int:
    pairs = conn.execute(
        select(directory_entries.c.x_id, directory_entries.c.handle).where(
            directory_entries.c.did == did
        )
    ).all()
    handles = {row.handle for row in pairs}
    handles.update(
        conn.execute(
            select(reconnect_proposals.c.handle).where(reconnect_proposals.c.did == did)
        ).scalars()
    )
    x_ids = [row.x_id for row in pairs]
    _redact_outbox(conn, [did, *(f"@{h} " for h in handles if h), *(f"/{h}" for h in handles)])
    conn.execute(delete(reconnect_proposals).where(reconnect_proposals.c.did == did))
    # Replies the person wrote that a member's triage scored (score, reasons and text).
    conn.execute(delete(triage_items).where(triage_items.c.author_did == did))
    if x_ids:
        conn.execute(delete(reconnect_proposals).where(reconnect_proposals.c.x_id.in_(x_ids)))
        conn.execute(delete(reconnect_followings).where(reconnect_followings.c.x_id.in_(x_ids)))
    removed = conn.execute(delete(directory_entries).where(directory_entries.c.did == did)).rowcount
    conn.execute(delete(directory_claim_audit).where(directory_claim_audit.c.did == did))
    connected = list(
        conn.execute(
            select(member_connections.c.organisation_id).where(member_connections.c.did == did)
        ).scalars()
    )
    if connected:
        # The verified-domain mark rested on that connection: it goes with it.
        conn.execute(delete(member_connections).where(member_connections.c.did == did))
        conn.execute(
            update(organisations)
            .where(organisations.c.id.in_(connected))
            .values(verified_domain=False)
        )
        for campaign_id in set(
            conn.execute(
                select(organisations.c.campaign_id).where(organisations.c.id.in_(connected))
            ).scalars()
        ):
            bump_board(conn, campaign_id, datetime.now(UTC))
    conn.execute(delete(directory_sessions).where(directory_sessions.c.did == did))
    moderation.erase_subject(conn, did)
    conn.execute(delete(oauth_connections).where(oauth_connections.c.did == did))
    _end_sessions(conn, did=did)
    _erase_journals(conn, did, own=True)
    return int(removed)


def _rows(conn: Connection, table: Table, *where: Any) -> list[dict[str, Any]]:
    out = []
    for row in conn.execute(select(table).where(*where)):
        values = dict(row._mapping)
        out.append(
            {str(k): v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}
        )
    return out


def organisation_export(engine: Engine, organisation_id: int) -> dict[str, Any]:
    """Everything the store keeps of an organisation, as JSON-ready data (secrets left out)."""
    with engine.connect() as conn:
        found = _rows(conn, organisations, organisations.c.id == organisation_id)
        if not found:
            return {}
        organisation = found[0]
        organisation.pop("key_hash", None)
        accounts = _rows(
            conn, bluesky_accounts, bluesky_accounts.c.organisation_id == organisation_id
        )
        for account in accounts:
            account.pop("secret", None)  # the encrypted session: useless outside, never shown
        account_ids = [account["id"] for account in accounts]
        did = organisation["bluesky_did"]
        return {
            "organisation": organisation,
            "pledges": _rows(conn, pledges, pledges.c.organisation_id == organisation_id),
            "welcome_post": _rows(
                conn, departure_posts, departure_posts.c.organisation_id == organisation_id
            ),
            "bluesky_account": accounts,
            "bluesky_connection": _rows(
                conn, member_connections, member_connections.c.organisation_id == organisation_id
            ),
            "bluesky_records": _rows(
                conn, bluesky_records, bluesky_records.c.account_id.in_(account_ids)
            ),
            "reconnect": _rows(
                conn, reconnect_members, reconnect_members.c.organisation_id == organisation_id
            ),
            "x_following_ids": [
                row["x_id"]
                for row in _rows(
                    conn,
                    reconnect_followings,
                    reconnect_followings.c.organisation_id == organisation_id,
                )
            ],
            "reconnect_proposals": _rows(
                conn, reconnect_proposals, reconnect_proposals.c.organisation_id == organisation_id
            ),
            "triage": _rows(
                conn, triage_members, triage_members.c.organisation_id == organisation_id
            ),
            "triage_items": _rows(
                conn, triage_items, triage_items.c.organisation_id == organisation_id
            ),
            "triage_notes": _rows(
                conn, triage_notes, triage_notes.c.organisation_id == organisation_id
            ),
            "directory_entries": _rows(conn, directory_entries, directory_entries.c.did == did)
            if did
            else [],
            # The moderation list: what it proposed, the steps it took, how it uses the list.
            "modlist_proposals": _rows(
                conn,
                modlist_proposals,
                modlist_proposals.c.proposer_organisation_id == organisation_id,
            ),
            "modlist_steps": _rows(
                conn, modlist_events, modlist_events.c.actor_organisation_id == organisation_id
            ),
            "modlist_choice": _rows(
                conn, modlist_choices, modlist_choices.c.organisation_id == organisation_id
            ),
            "messages": _rows(conn, outbox, outbox.c.recipient == organisation["email"])
            if organisation["email"]
            else [],
            "checklist": _rows(
                conn, checklist_ticks, checklist_ticks.c.organisation_id == organisation_id
            ),
            # The e-mailed invitation it joined with, without the nonce its link came from.
            "invitation": [
                {key: value for key, value in row.items() if key != "nonce"}
                for row in _rows(
                    conn,
                    invitations,
                    invitations.c.invite_id.in_(
                        select(invites.c.id).where(invites.c.organisation_id == organisation_id)
                    ),
                )
            ],
        }


def erase_organisation(engine: Engine, organisation_id: int) -> bool:
    """Delete every row of an organisation in one transaction; False when there is none.

    Its pledges, invitation, welcome post, connected account and that account's journal, its
    reconnect data, its e-mails, its sessions, and its DID's directory pairs (as a withdrawal).
    Revoking its Bluesky session at the PDS first is the caller's.
    """
    with engine.begin() as conn:
        row = conn.execute(
            select(
                organisations.c.email, organisations.c.bluesky_did, organisations.c.campaign_id
            ).where(organisations.c.id == organisation_id)
        ).first()
        if row is None:
            return False
        account_ids = list(
            conn.execute(
                select(bluesky_accounts.c.id).where(
                    bluesky_accounts.c.organisation_id == organisation_id
                )
            ).scalars()
        )
        if account_ids:
            conn.execute(
                delete(bluesky_records).where(bluesky_records.c.account_id.in_(account_ids))
            )
            conn.execute(
                delete(bluesky_batches).where(bluesky_batches.c.account_id.in_(account_ids))
            )
            conn.execute(delete(bluesky_accounts).where(bluesky_accounts.c.id.in_(account_ids)))
        # Its e-mailed invitation and the e-mails of it name it too (before its invite goes).
        invited = conn.execute(
            select(invitations.c.id).where(
                invitations.c.invite_id.in_(
                    select(invites.c.id).where(invites.c.organisation_id == organisation_id)
                )
            )
        ).scalars()
        for invitation_id in list(invited):
            conn.execute(
                delete(outbox).where(outbox.c.message.like(f"invitation:{invitation_id}#%"))
            )
            conn.execute(delete(invitations).where(invitations.c.id == invitation_id))
        for table in (
            member_connections,
            checklist_ticks,
            departure_posts,
            triage_items,
            triage_notes,
            triage_members,
            reconnect_proposals,
            reconnect_followings,
            reconnect_members,
            pledges,
            invites,
        ):
            conn.execute(delete(table).where(table.c.organisation_id == organisation_id))
        if row.email:
            conn.execute(delete(outbox).where(outbox.c.recipient == row.email))
        conn.execute(delete(outbox).where(outbox.c.message.like(f"reconnect:{organisation_id}#%")))
        moderation.erase_member(conn, organisation_id)
        _end_sessions(conn, organisation_id=organisation_id)
        conn.execute(
            delete(oauth_connections).where(
                oauth_connections.c.owner == f"organisation:{organisation_id}"
            )
        )
        conn.execute(delete(organisations).where(organisations.c.id == organisation_id))
        bump_board(conn, row.campaign_id, datetime.now(UTC))
        if row.bluesky_did:
            _erase_did(conn, row.bluesky_did)
    return True
