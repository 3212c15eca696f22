"""Reconnect's rows: members' X following ids, their settings, and what was proposed to them.

* ``reconnect_members`` — a member's "follow them for us" setting and when its ids came;
* ``reconnect_followings`` — the X ids a member followed (ids only, replaced on each upload);
* ``reconnect_proposals`` — each directory entry proposed to a member, once (the primary
  key), with its e-mail round and what became of the follow.

The choice of what to propose and the e-mail's words are
:mod:`departures.coalition.reconnect`'s: :func:`propose_round` asks for them inside its one
transaction, so that proposals and their e-mail are stored together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol, TypeVar

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from departures.coalition.store.claims import standing_pairs
from departures.coalition.store.schema import (
    directory_entries,
    outbox,
    reconnect_followings,
    reconnect_members,
    reconnect_proposals,
)

__all__ = [
    "DirectoryPair",
    "ProposalMail",
    "StoredProposal",
    "StoredSettings",
    "auto_follow",
    "delete_followings",
    "followed_since",
    "members_with_followings",
    "proposals_of",
    "propose_round",
    "replace_followings",
    "set_auto_follow",
    "settings_of",
    "settle_proposal",
]

# Rows a statement inserts at once: a member follows up to ~200,000 accounts.
_INSERT_CHUNK = 5000


class DirectoryPair(NamedTuple):
    """A directory entry a member followed on X: X id, DID, handle, and its proof level."""

    x_id: str
    did: str
    handle: str
    level: str = "declared"


class StoredSettings(NamedTuple):
    """A member's reconnect settings and how many X ids are stored for it."""

    auto_follow: bool
    uploaded_at: datetime | None
    following_count: int


class StoredProposal(NamedTuple):
    """One proposal row."""

    x_id: str
    did: str
    handle: str
    round: int
    proposed_at: datetime
    state: str
    done_at: datetime | None
    reason: str


@dataclass(frozen=True)
class ProposalMail:
    """The e-mail that lists a round's proposals (queued in the outbox with them)."""

    message: str
    recipient: str
    subject: str
    body: str


class EntryLike(Protocol):
    """What :func:`propose_round` needs of a chosen entry."""

    @property
    def x_id(self) -> str: ...  # pragma: no cover - a protocol

    @property
    def did(self) -> str: ...  # pragma: no cover - a protocol

    @property
    def handle(self) -> str: ...  # pragma: no cover - a protocol


E = TypeVar("E", bound=EntryLike)


# --- a member's following ids and settings ------------------------------------------------


def replace_followings(
    engine: Engine, organisation_id: int, x_ids: Sequence[str], now: datetime
) -> None:
    """Replace the member's stored X following ids with ``x_ids`` (uploaded ``now``)."""
    with engine.begin() as conn:
        conn.execute(
            delete(reconnect_followings).where(
                reconnect_followings.c.organisation_id == organisation_id
            )
        )
        for start in range(0, len(x_ids), _INSERT_CHUNK):
            conn.execute(
                insert(reconnect_followings),
                [
                    {"organisation_id": organisation_id, "x_id": x_id}
                    for x_id in x_ids[start : start + _INSERT_CHUNK]
                ],
            )
        _upsert_member(conn, organisation_id, uploaded_at=now)


def delete_followings(engine: Engine, organisation_id: int) -> int:
    """Delete the member's stored X following ids; how many there were."""
    with engine.begin() as conn:
        removed = conn.execute(
            delete(reconnect_followings).where(
                reconnect_followings.c.organisation_id == organisation_id
            )
        ).rowcount
        _upsert_member(conn, organisation_id, uploaded_at=None)
    return int(removed)


def set_auto_follow(engine: Engine, organisation_id: int, on: bool) -> None:
    """Store the member's "follow them for us" setting."""
    with engine.begin() as conn:
        _upsert_member(conn, organisation_id, auto_follow=on)


def _upsert_member(conn: Connection, organisation_id: int, **values: Any) -> None:
    found = conn.execute(
        select(reconnect_members.c.organisation_id).where(
            reconnect_members.c.organisation_id == organisation_id
        )
    ).first()
    if found is None:
        row = {"organisation_id": organisation_id, "auto_follow": False, "uploaded_at": None}
        conn.execute(insert(reconnect_members).values(**{**row, **values}))
    else:
        conn.execute(
            update(reconnect_members)
            .where(reconnect_members.c.organisation_id == organisation_id)
            .values(**values)
        )


def settings_of(engine: Engine, organisation_id: int) -> StoredSettings:
    """The member's settings and the number of X ids stored."""
    with engine.connect() as conn:
        row = conn.execute(
            select(reconnect_members).where(reconnect_members.c.organisation_id == organisation_id)
        ).first()
        count = conn.execute(
            select(func.count()).where(reconnect_followings.c.organisation_id == organisation_id)
        ).scalar()
    return StoredSettings(
        auto_follow=bool(row.auto_follow) if row is not None else False,
        uploaded_at=row.uploaded_at if row is not None else None,
        following_count=int(count or 0),
    )


def auto_follow(engine: Engine, organisation_id: int) -> bool:
    """Whether the member asked the coalition to follow for it."""
    with engine.connect() as conn:
        return _auto_follow(conn, organisation_id)


def _auto_follow(conn: Connection, organisation_id: int) -> bool:
    found = conn.execute(
        select(reconnect_members.c.auto_follow).where(
            reconnect_members.c.organisation_id == organisation_id
        )
    ).scalar()
    return bool(found)


def members_with_followings(engine: Engine) -> list[int]:
    """The members with stored X ids, by id."""
    # The members table, not a DISTINCT over every stored id: this runs every minute.
    with engine.connect() as conn:
        return [
            int(row[0])
            for row in conn.execute(
                select(reconnect_members.c.organisation_id)
                .where(reconnect_members.c.uploaded_at.is_not(None))
                .order_by(reconnect_members.c.organisation_id)
            )
        ]


# --- proposals ----------------------------------------------------------------------------


def proposals_of(engine: Engine, organisation_id: int) -> list[StoredProposal]:
    """What was proposed to the member, newest round first, by handle."""
    query = (
        select(reconnect_proposals)
        .where(reconnect_proposals.c.organisation_id == organisation_id)
        .order_by(reconnect_proposals.c.round.desc(), reconnect_proposals.c.handle)
    )
    with engine.connect() as conn:
        return [
            StoredProposal(
                row.x_id,
                row.did,
                row.handle,
                row.round,
                row.proposed_at,
                row.state,
                row.done_at,
                row.reason,
            )
            for row in conn.execute(query)
        ]


def _candidates(conn: Connection, organisation_id: int) -> list[DirectoryPair]:
    # The join runs in the database: a member follows up to ~200,000 accounts, the
    # directory can hold millions; only the (few) matches come back.
    # Several DIDs may claim one X id: only the claim that stands is proposed (none while a
    # dispute waits for a coordinator).
    query = (
        select(directory_entries)
        .join(reconnect_followings, reconnect_followings.c.x_id == directory_entries.c.x_id)
        .where(reconnect_followings.c.organisation_id == organisation_id)
    )
    return [
        DirectoryPair(row.x_id, row.did, row.handle, row.level)
        for row in standing_pairs(conn.execute(query))
    ]


def _round_of(message: str) -> int:
    """The round of a reconnect e-mail's id ``reconnect:<member>#<round>`` (0 if unreadable)."""
    tail = message.rpartition("#")[2]
    return int(tail) if tail.isdigit() else 0


def _proposed_ids(conn: Connection, organisation_id: int) -> set[str]:
    return {
        str(row[0])
        for row in conn.execute(
            select(reconnect_proposals.c.x_id).where(
                reconnect_proposals.c.organisation_id == organisation_id
            )
        )
    }


def propose_round(
    engine: Engine,
    organisation_id: int,
    campaign_id: int,
    now: datetime,
    choose: Callable[[list[DirectoryPair], Collection[str]], list[E]],
    mail: Callable[[int, list[E], Callable[[], bool]], ProposalMail | None],
) -> tuple[list[E], bool] | None:
    """Record a new round of proposals and its e-mail in one transaction.

    ``choose(candidates, proposed_x_ids)`` picks the entries to propose from the directory
    entries the member followed; ``mail(round, chosen, auto_follow)`` gives the e-mail (or
    None), ``auto_follow()`` reading the member's setting in the same transaction. Returns
    the chosen entries and whether an e-mail was queued, or None when a concurrent pass
    recorded the same proposals first (its transaction has them, and their e-mail).
    """
    try:
        with engine.begin() as conn:
            candidates = _candidates(conn, organisation_id)
            if not candidates:
                return [], False
            fresh = choose(candidates, _proposed_ids(conn, organisation_id))
            if not fresh:
                return [], False
            last = conn.execute(
                select(func.max(reconnect_proposals.c.round)).where(
                    reconnect_proposals.c.organisation_id == organisation_id
                )
            ).scalar()
            # A round's proposals can be withdrawn (their claim no longer stands) after its
            # e-mail was queued: the rounds already e-mailed count too, so no id is reused.
            mailed = conn.execute(
                select(outbox.c.message).where(
                    outbox.c.message.like(f"reconnect:{organisation_id}#%")
                )
            ).scalars()
            round_no = max([int(last or 0), *(_round_of(m) for m in mailed)]) + 1
            conn.execute(
                insert(reconnect_proposals),
                [
                    {
                        "organisation_id": organisation_id,
                        "x_id": entry.x_id,
                        "did": entry.did,
                        "handle": entry.handle,
                        "round": round_no,
                        "proposed_at": now,
                        "state": "proposed",
                        "uri": "",
                        "reason": "",
                    }
                    for entry in fresh
                ],
            )
            message = mail(round_no, fresh, lambda: _auto_follow(conn, organisation_id))
            if message is not None:
                conn.execute(
                    insert(outbox).values(
                        campaign_id=campaign_id,
                        message=message.message,
                        recipient=message.recipient,
                        channel="email",
                        subject=message.subject,
                        body=message.body,
                        created_at=now,
                        attempts=0,
                        last_error="",
                    )
                )
    except IntegrityError:
        return None
    return fresh, message is not None


def followed_since(engine: Engine, organisation_id: int, since: datetime) -> int:
    """Follows this service made for the member since ``since`` (what the daily cap counts)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    reconnect_proposals.c.organisation_id == organisation_id,
                    reconnect_proposals.c.state == "followed",
                    reconnect_proposals.c.done_at >= since,
                )
            ).scalar()
            or 0
        )


def settle_proposal(
    engine: Engine,
    organisation_id: int,
    x_id: str,
    state: str,
    now: datetime,
    uri: str,
    reason: str = "",
) -> None:
    """Record what became of a proposal's follow (only while it is still "proposed")."""
    with engine.begin() as conn:
        conn.execute(
            update(reconnect_proposals)
            .where(
                reconnect_proposals.c.organisation_id == organisation_id,
                reconnect_proposals.c.x_id == x_id,
                reconnect_proposals.c.state == "proposed",
            )
            .values(state=state, done_at=now, uri=uri, reason=reason[:500])
        )
