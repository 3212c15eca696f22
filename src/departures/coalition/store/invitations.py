"""Invitations the service e-mails, and what became of each (``invitations``, ``outbox``).

An invitation is a single-use invite (``invites``, which admits one organisation) plus who it
is for and the e-mails sent for it. Creating a batch of them — one, or fifty from a CSV —
writes the invites, the invitations and their queued e-mails in **one transaction**: a row
the store refuses (an address already invited, a text it cannot keep) leaves nothing of the
batch behind, and the error names the row. The link's token is never stored: only a random
nonce, from which :mod:`departures.coalition.invitations` derives it with the service's
secret key (so the e-mail can be sent again, and the sender writes the link only into the
message it hands to the SMTP server).

The delivery state of an invitation is read from its latest e-mail in the outbox: queued,
retrying (the server could not be reached), sent, or bounced (refused by the receiving
server, :func:`mark_bounced`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from departures.coalition.errors import BadInput, NotFound
from departures.coalition.i18n import _
from departures.coalition.rules import CoalitionError
from departures.coalition.store.schema import invitations, invites, outbox
from departures.coalition.store.values import check_text

__all__ = [
    "LINK_MARK",
    "Invitation",
    "NewInvitation",
    "create_invitations",
    "invitation_nonce",
    "invitation_nonce_any",
    "list_invitations",
    "mark_bounced",
    "message_name",
    "resend_invitation",
    "revoke_invitation",
]

LINK_MARK = "{invitation_link}"
"""Where the link goes in a queued invitation e-mail's body (filled in by the sender)."""


@dataclass(frozen=True)
class NewInvitation:
    """One invitation to create: ``line`` names it in an error (the CSV's row number)."""

    line: int
    name: str
    email: str
    website: str
    nonce: str
    token_hash: str
    subject: str
    body: str
    language: str | None = None


@dataclass(frozen=True)
class Invitation:
    """An invitation with its invite's and its latest e-mail's state."""

    id: int
    campaign_id: int
    name: str
    email: str
    website: str
    sends: int
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None
    accepted_at: datetime | None
    organisation_id: int | None
    sent_at: datetime | None
    bounced_at: datetime | None
    last_error: str
    language: str | None = None

    def state(self, now: datetime) -> str:
        """accepted, revoked, expired, bounced, sent, retrying or queued."""
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None or self.expires_at is None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        if self.bounced_at is not None:
            return "bounced"
        if self.sent_at is not None:
            return "sent"
        if self.last_error:
            return "retrying"
        return "queued"

    @property
    def can_change(self) -> bool:
        """Whether it can still be sent again or revoked (not accepted, not revoked)."""
        return self.accepted_at is None and self.revoked_at is None and self.expires_at is not None


def message_name(invitation_id: int, send: int) -> str:
    """The outbox message of the ``send``-th e-mail of an invitation."""
    return f"invitation:{invitation_id}#{send}"


def _queue(
    conn: Connection,
    campaign_id: int,
    invitation_id: int,
    send: int,
    email: str,
    subject: str,
    body: str,
    now: datetime,
) -> None:
    conn.execute(
        insert(outbox).values(
            campaign_id=campaign_id,
            message=message_name(invitation_id, send),
            recipient=email,
            channel="email",
            subject=subject[:300],
            body=body,
            created_at=now,
            attempts=0,
            last_error="",
        )
    )


def create_invitations(
    engine: Engine,
    campaign_id: int,
    new: Sequence[NewInvitation],
    *,
    now: datetime,
    ttl: timedelta,
) -> list[int]:
    """Create the invitations, their invites and their queued e-mails, all or none.

    Refused, naming the row: an address given twice, or already invited to the campaign
    (an invitation not revoked). Returns the new invitations' ids, in order.
    """
    seen: dict[str, int] = {}
    for item in new:
        key = item.email.lower()
        if key in seen:
            raise BadInput(
                _("row %(line)d: %(email)s is also on row %(other)d")
                % {"line": item.line, "email": item.email, "other": seen[key]},
                _("Invite each organisation once; nothing was imported"),
            )
        seen[key] = item.line
    created: list[int] = []
    with engine.begin() as conn:
        taken = {
            str(email).lower()
            for email in conn.execute(
                select(invitations.c.email).where(
                    invitations.c.campaign_id == campaign_id, invitations.c.revoked_at.is_(None)
                )
            ).scalars()
        }
        for item in new:
            if item.email.lower() in taken:
                raise BadInput(
                    _("row %(line)d: %(email)s is already invited to this campaign")
                    % {"line": item.line, "email": item.email},
                    _("Send that invitation again from the list instead; nothing was imported"),
                )
            try:
                values = {
                    "name": check_text("name", item.name),
                    "email": check_text("email", item.email),
                    "website": check_text("website", item.website),
                    "language": item.language,
                }
            except BadInput as error:
                raise BadInput(
                    _("row %(line)d: %(problem)s") % {"line": item.line, "problem": error.message},
                    _("Correct that row and import the file again; nothing was imported"),
                ) from None
            invite = conn.execute(
                insert(invites).values(
                    campaign_id=campaign_id,
                    token_hash=item.token_hash,
                    note=values["name"],
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
            (invite_id,) = invite.inserted_primary_key or (0,)
            result = conn.execute(
                insert(invitations).values(
                    campaign_id=campaign_id,
                    invite_id=int(invite_id),
                    nonce=item.nonce,
                    sends=1,
                    created_at=now,
                    **values,
                )
            )
            (invitation_id,) = result.inserted_primary_key or (0,)
            _queue(
                conn, campaign_id, int(invitation_id), 1, item.email, item.subject, item.body, now
            )
            created.append(int(invitation_id))
    return created


def list_invitations(engine: Engine, campaign_id: int) -> list[Invitation]:
    """The campaign's e-mailed invitations, newest first, each with its state's facts."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                invitations,
                invites.c.expires_at,
                invites.c.used_at,
                invites.c.organisation_id,
            )
            .select_from(invitations.outerjoin(invites, invites.c.id == invitations.c.invite_id))
            .where(invitations.c.campaign_id == campaign_id)
            .order_by(invitations.c.id.desc())
        ).all()
        mails = {
            str(row.message): row
            for row in conn.execute(
                select(
                    outbox.c.message, outbox.c.sent_at, outbox.c.bounced_at, outbox.c.last_error
                ).where(
                    outbox.c.campaign_id == campaign_id,
                    outbox.c.message.like("invitation:%"),
                )
            )
        }
    found: list[Invitation] = []
    for row in rows:
        mail = mails.get(message_name(row.id, row.sends))
        found.append(
            Invitation(
                id=row.id,
                campaign_id=row.campaign_id,
                name=row.name,
                email=row.email,
                website=row.website,
                sends=row.sends,
                created_at=row.created_at,
                revoked_at=row.revoked_at,
                expires_at=row.expires_at,
                accepted_at=row.used_at,
                organisation_id=row.organisation_id,
                sent_at=mail.sent_at if mail is not None else None,
                bounced_at=mail.bounced_at if mail is not None else None,
                last_error=mail.last_error if mail is not None else "",
                language=row.language,
            )
        )
    return found


def _changeable(conn: Connection, campaign_id: int, invitation_id: int) -> tuple[int, str, int]:
    row = conn.execute(
        select(
            invitations.c.invite_id,
            invitations.c.email,
            invitations.c.sends,
            invitations.c.revoked_at,
            invites.c.used_at,
        )
        .select_from(invitations.outerjoin(invites, invites.c.id == invitations.c.invite_id))
        .where(invitations.c.id == invitation_id, invitations.c.campaign_id == campaign_id)
    ).first()
    if row is None:
        raise NotFound(_("there is no such invitation in this campaign"))
    if row.used_at is not None:
        raise CoalitionError(_("this invitation was accepted already"))
    if row.revoked_at is not None or row.invite_id is None:
        raise CoalitionError(
            _("this invitation was revoked"), _("Invite the organisation again instead")
        )
    return int(row.invite_id), str(row.email), int(row.sends)


def resend_invitation(
    engine: Engine,
    campaign_id: int,
    invitation_id: int,
    *,
    subject: str,
    body: str,
    now: datetime,
    ttl: timedelta,
    token_hash: str,
) -> None:
    """Queue the invitation's e-mail again, valid ``ttl`` from now. ``token_hash`` is the hash
    of the link's token as the service derives it now: the same link, unless the service's
    key changed since (then the new link works, the old one no longer)."""
    with engine.begin() as conn:
        invite_id, email, sends = _changeable(conn, campaign_id, invitation_id)
        conn.execute(
            update(invites)
            .where(invites.c.id == invite_id)
            .values(expires_at=now + ttl, token_hash=token_hash)
        )
        conn.execute(
            update(invitations).where(invitations.c.id == invitation_id).values(sends=sends + 1)
        )
        _queue(conn, campaign_id, invitation_id, sends + 1, email, subject, body, now)


def revoke_invitation(engine: Engine, campaign_id: int, invitation_id: int, now: datetime) -> None:
    """Revoke an invitation not yet accepted: its link stops working, its unsent e-mails stay
    unsent (they would carry a dead link)."""
    with engine.begin() as conn:
        invite_id, _email, _sends = _changeable(conn, campaign_id, invitation_id)
        conn.execute(delete(invites).where(invites.c.id == invite_id, invites.c.used_at.is_(None)))
        conn.execute(
            update(invitations)
            .where(invitations.c.id == invitation_id)
            .values(revoked_at=now, invite_id=None)
        )
        conn.execute(
            delete(outbox).where(
                outbox.c.campaign_id == campaign_id,
                outbox.c.message.like(f"invitation:{invitation_id}#%"),
                outbox.c.sent_at.is_(None),
            )
        )


def invitation_nonce_any(engine: Engine, invitation_id: int) -> str | None:
    """The nonce of an invitation, revoked or not (None when there is none)."""
    with engine.connect() as conn:
        nonce = conn.execute(
            select(invitations.c.nonce).where(invitations.c.id == invitation_id)
        ).scalar()
    return str(nonce) if nonce is not None else None


def invitation_nonce(engine: Engine, invitation_id: int) -> str | None:
    """The nonce of a live invitation, its link's seed: None once revoked, or once its invite
    is gone (revoked from the campaign page as a plain invitation link)."""
    with engine.connect() as conn:
        nonce = conn.execute(
            select(invitations.c.nonce)
            .select_from(invitations.join(invites, invites.c.id == invitations.c.invite_id))
            .where(invitations.c.id == invitation_id, invitations.c.revoked_at.is_(None))
        ).scalar()
    return str(nonce) if nonce is not None else None


def mark_bounced(engine: Engine, message_id: int, error: str, now: datetime) -> bool:
    """The receiving server refused the message for good: never tried again (at send time),
    or it came back later (a delivery report). False when there is no such message."""
    with engine.begin() as conn:
        result = conn.execute(
            update(outbox)
            .where(outbox.c.id == message_id)
            .values(bounced_at=now, claimed_at=None, last_error=error[:500])
        )
    return bool(result.rowcount)


def count_invitations(engine: Engine, campaign_id: int) -> int:
    """How many invitations the campaign has e-mailed (revoked ones included)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(invitations)
                .where(invitations.c.campaign_id == campaign_id)
            ).scalar()
            or 0
        )
