"""The moderation list's repository: proposals, decisions, appeals and the audit log.

Every change is checked and recorded in one transaction together with its line of the audit
log (``modlist_events``): a refused change leaves nothing behind, an accepted one is never
missing from the log. The rules of due process are enforced here, whoever calls (a page, the
CLI, the triage queue):

* a member or the campaign's coordinator proposes an account, with reasons and evidence;
  one live proposal per account and campaign;
* a *second* member, or the coordinator, approves or rejects it: nobody decides on their own
  proposal;
* only the listed account itself appeals (the caller proves the DID), once at a time;
* an appeal is decided by someone who took no part in the listing (neither the proposer nor
  the approver); upheld, the entry is to be removed from the list.

What is on Bluesky is written by :mod:`departures.coalition.moderation` through the writer;
it reports back here with :func:`mark_listed` and :func:`mark_unlisted`, each logged once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from departures.coalition.errors import BadInput, NotAllowed, NotFound
from departures.coalition.i18n import _
from departures.coalition.rules import CoalitionError
from departures.coalition.store.schema import (
    campaigns,
    modlist_appeals,
    modlist_choices,
    modlist_events,
    modlist_proposals,
    organisations,
)
from departures.coalition.store.values import check_text

__all__ = [
    "CHOICES",
    "MAX_EVIDENCE",
    "MAX_REASONS",
    "Actor",
    "Appeal",
    "Event",
    "Proposal",
    "appeal",
    "appeals",
    "choice_of",
    "decide",
    "decide_appeal",
    "erase_member",
    "erase_subject",
    "events",
    "listed_for",
    "mark_listed",
    "mark_unlisted",
    "open_appeal_of",
    "proposal",
    "proposals",
    "propose",
    "set_choice",
    "to_list",
    "to_unlist",
]

MAX_REASONS = 2000
MAX_EVIDENCE = 10
MAX_APPEALS = 3
CHOICES = ("block", "mute", "none")


@dataclass(frozen=True)
class Actor:
    """Who acts: a member organisation, the campaign's coordinator, the listed account, or
    the service itself (writing the list on Bluesky)."""

    kind: str  # "member" | "coordinator" | "account" | "service"
    id: int | None = None

    @classmethod
    def member(cls, organisation_id: int) -> Actor:
        """A member organisation."""
        return cls("member", organisation_id)

    @classmethod
    def coordinator(cls, coordinator_id: int) -> Actor:
        """A coordinator."""
        return cls("coordinator", coordinator_id)

    def columns(self, role: str) -> dict[str, int | None]:
        """The ``<role>_organisation_id`` / ``<role>_coordinator_id`` values naming it."""
        return {
            f"{role}_organisation_id": self.id if self.kind == "member" else None,
            f"{role}_coordinator_id": self.id if self.kind == "coordinator" else None,
        }


@dataclass(frozen=True)
class Proposal:
    """An account proposed for the list, and what became of it."""

    id: int
    campaign_id: int
    subject_did: str
    subject_handle: str
    reasons: str
    evidence: tuple[str, ...]
    state: str  # "proposed" | "rejected" | "listed" | "removed"
    proposer: Actor | None  # None: a member that has since deleted its data
    proposed_at: datetime
    decider: Actor | None
    decided_at: datetime | None
    decision_reason: str
    listed_uri: str
    listed_at: datetime | None
    unlisted_at: datetime | None

    @property
    def on_list(self) -> bool:
        """Whether the list on Bluesky should hold the account now."""
        return self.state == "listed"


@dataclass(frozen=True)
class Appeal:
    """A listed account's appeal against its entry."""

    id: int
    proposal_id: int
    statement: str
    filed_at: datetime
    state: str  # "open" | "upheld" | "dismissed"
    decider: Actor | None
    decided_at: datetime | None
    decision_reason: str


@dataclass(frozen=True)
class Event:
    """One line of the audit log: who did what, when, why, about which account."""

    id: int
    proposal_id: int
    at: datetime
    action: str
    actor: Actor | None
    actor_name: str  # the member organisation's name ("" for the others)
    reason: str
    subject_did: str
    subject_handle: str
    evidence: tuple[str, ...] = ()  # the proposal's links, on its "proposed" line


def _actor(
    kind: str | None, organisation_id: int | None, coordinator_id: int | None
) -> Actor | None:
    if kind == "member" or (kind is None and organisation_id is not None):
        return None if organisation_id is None else Actor.member(organisation_id)
    if kind == "coordinator" or (kind is None and coordinator_id is not None):
        return None if coordinator_id is None else Actor.coordinator(coordinator_id)
    return None if kind is None else Actor(kind)


def _proposal(row: Any) -> Proposal:
    return Proposal(
        id=row.id,
        campaign_id=row.campaign_id,
        subject_did=row.subject_did,
        subject_handle=row.subject_handle,
        reasons=row.reasons,
        evidence=tuple(json.loads(row.evidence)),
        state=row.state,
        proposer=_actor(None, row.proposer_organisation_id, row.proposer_coordinator_id),
        proposed_at=row.proposed_at,
        decider=_actor(None, row.decider_organisation_id, row.decider_coordinator_id),
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
        listed_uri=row.listed_uri,
        listed_at=row.listed_at,
        unlisted_at=row.unlisted_at,
    )


def _appeal(row: Any) -> Appeal:
    return Appeal(
        id=row.id,
        proposal_id=row.proposal_id,
        statement=row.statement,
        filed_at=row.filed_at,
        state=row.state,
        decider=_actor(None, row.decider_organisation_id, row.decider_coordinator_id),
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
    )


def _log(
    conn: Connection,
    proposal: Proposal,
    action: str,
    actor: Actor,
    now: datetime,
    reason: str = "",
) -> None:
    conn.execute(
        insert(modlist_events).values(
            campaign_id=proposal.campaign_id,
            proposal_id=proposal.id,
            at=now,
            action=action,
            actor_kind=actor.kind,
            reason=reason,
            **{
                "actor_organisation_id": actor.id if actor.kind == "member" else None,
                "actor_coordinator_id": actor.id if actor.kind == "coordinator" else None,
            },
        )
    )


def _check_actor(conn: Connection, campaign_id: int, actor: Actor) -> None:
    """Refuse an actor that is neither a member of the campaign nor its coordinator."""
    if actor.kind == "member":
        found = conn.execute(
            select(organisations.c.id).where(
                organisations.c.id == actor.id, organisations.c.campaign_id == campaign_id
            )
        ).first()
    elif actor.kind == "coordinator":
        found = conn.execute(
            select(campaigns.c.id).where(
                campaigns.c.id == campaign_id, campaigns.c.coordinator_id == actor.id
            )
        ).first()
    else:
        found = None
    if found is None:
        raise NotAllowed(
            _("only the campaign's members and its coordinator decide what goes on its list"),
            _("Sign in as a member of this campaign"),
        )


def _reason(text: str, label: str, *, required: bool) -> str:
    text = check_text("description", text.replace("\r\n", "\n").strip())
    if required and not text:
        raise BadInput(
            _("%(label)s is required") % {"label": label},
            _("Say why, in a sentence or two: the audit log shows it"),
        )
    if len(text) > MAX_REASONS:
        raise BadInput(
            _("%(label)s is too long (%(length)d characters)")
            % {"label": label, "length": len(text)},
            _("Keep it under %(max)d characters") % {"max": MAX_REASONS},
        )
    return text


def _locked(
    conn: Connection, proposal_id: int, campaign_id: int | None = None, *, lock: bool = True
) -> Proposal:
    """The proposal, its row locked for the transaction (PostgreSQL) unless ``lock`` is off."""
    query = select(modlist_proposals).where(modlist_proposals.c.id == proposal_id)
    if campaign_id is not None:
        query = query.where(modlist_proposals.c.campaign_id == campaign_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(
            _("there is no proposal %(id)d") % {"id": proposal_id},
            _("List them with 'departures coalition modlist list'"),
        )
    return _proposal(row)


# --- proposing and deciding -----------------------------------------------------------------


def propose(
    engine: Engine,
    campaign_id: int,
    proposer: Actor,
    *,
    did: str,
    handle: str,
    reasons: str,
    evidence: list[str],
    now: datetime,
) -> Proposal:
    """Record ``proposer``'s proposal to list ``did`` (``evidence``: checked links).

    Refused when the proposer is not of the campaign, when the account is a member of the
    campaign, or when a proposal for it is open or it is on the list already.
    """
    did = check_text("did", did)
    handle = check_text("handle", handle)
    reasons = _reason(reasons, _("The reasons"), required=True)
    if not evidence:
        raise BadInput(
            _("no evidence was given"),
            _("Give at least one link to a post that shows why the account should be listed"),
        )
    if len(evidence) > MAX_EVIDENCE:
        raise BadInput(
            _("too many links (%(n)d)") % {"n": len(evidence)},
            _("Give at most %(max)d links") % {"max": MAX_EVIDENCE},
        )
    with engine.begin() as conn:
        _check_actor(conn, campaign_id, proposer)
        member = conn.execute(
            select(organisations.c.id).where(
                organisations.c.campaign_id == campaign_id, organisations.c.bluesky_did == did
            )
        ).first()
        if member is not None:
            raise CoalitionError(
                _("this account is a member of the coalition"),
                _("Members are not put on the coalition's moderation list"),
            )
        live = conn.execute(
            select(modlist_proposals.c.state).where(
                modlist_proposals.c.campaign_id == campaign_id,
                modlist_proposals.c.active_did == did,
            )
        ).first()
        if live is not None:
            raise CoalitionError(
                _("this account is already proposed or on the list"),
                _("See the proposals on your member page"),
            )
        try:
            proposal_id = conn.execute(
                insert(modlist_proposals).values(
                    campaign_id=campaign_id,
                    subject_did=did,
                    subject_handle=handle,
                    reasons=reasons,
                    evidence=json.dumps(list(evidence)),
                    state="proposed",
                    active_did=did,
                    proposed_at=now,
                    decision_reason="",
                    listed_uri="",
                    **proposer.columns("proposer"),
                )
            ).inserted_primary_key or (0,)
        except IntegrityError:  # a second proposal at the same moment
            raise CoalitionError(
                _("this account is already proposed or on the list"),
                _("See the proposals on your member page"),
            ) from None
        made = _locked(conn, int(proposal_id[0]))
        _log(conn, made, "proposed", proposer, now, reasons)
    return made


def decide(
    engine: Engine,
    campaign_id: int,
    proposal_id: int,
    decider: Actor,
    *,
    approve: bool,
    reason: str,
    now: datetime,
) -> Proposal:
    """Approve (the account goes on the list) or reject an open proposal.

    Refused for the proposer itself: a second member or the coordinator decides.
    """
    reason = _reason(reason, _("The reason"), required=not approve)
    with engine.begin() as conn:
        _check_actor(conn, campaign_id, decider)
        found = _locked(conn, proposal_id, campaign_id)
        if found.state != "proposed":
            raise CoalitionError(
                _("this proposal was decided already"),
                _("Its outcome is in the audit log"),
            )
        if found.proposer == decider:
            raise NotAllowed(
                _("nobody approves or rejects their own proposal"),
                _("A second member or the coordinator decides on it"),
            )
        conn.execute(
            update(modlist_proposals)
            .where(modlist_proposals.c.id == proposal_id)
            .values(
                state="listed" if approve else "rejected",
                active_did=found.subject_did if approve else None,
                decided_at=now,
                decision_reason=reason,
                **decider.columns("decider"),
            )
        )
        _log(conn, found, "approved" if approve else "rejected", decider, now, reason)
        return _locked(conn, proposal_id)


# --- appeals ---------------------------------------------------------------------------------


def appeal(
    engine: Engine, campaign_id: int, proposal_id: int, did: str, statement: str, now: datetime
) -> Appeal:
    """The listed account ``did`` (signed in: the caller proved it) appeals its entry."""
    statement = _reason(statement, _("Your statement"), required=True)
    with engine.begin() as conn:
        found = _locked(conn, proposal_id, campaign_id)
        if found.subject_did != did:
            raise NotAllowed(
                _("only the listed account itself may appeal"),
                _("Sign in with the Bluesky account that is on the list"),
            )
        if found.state != "listed":
            raise CoalitionError(
                _("this account is not on the list"), _("There is nothing to appeal")
            )
        made = conn.execute(
            select(modlist_appeals.c.id).where(modlist_appeals.c.proposal_id == proposal_id)
        ).all()
        if len(made) >= MAX_APPEALS:
            raise CoalitionError(
                _("this entry was appealed %(n)d times already") % {"n": len(made)},
                _("Write to the coordinator of the coalition"),
            )
        try:
            appeal_id = conn.execute(
                insert(modlist_appeals).values(
                    proposal_id=proposal_id,
                    statement=statement,
                    filed_at=now,
                    state="open",
                    open_proposal=proposal_id,
                    decision_reason="",
                )
            ).inserted_primary_key or (0,)
        except IntegrityError:
            raise CoalitionError(
                _("an appeal of this entry is open already"),
                _("It will be decided by someone who took no part in the listing"),
            ) from None
        _log(conn, found, "appealed", Actor("account"), now, statement)
        row = conn.execute(
            select(modlist_appeals).where(modlist_appeals.c.id == appeal_id[0])
        ).one()
    return _appeal(row)


def decide_appeal(
    engine: Engine,
    campaign_id: int,
    appeal_id: int,
    decider: Actor,
    *,
    uphold: bool,
    reason: str,
    now: datetime,
) -> Appeal:
    """Uphold (the entry is to be removed from the list) or dismiss an open appeal.

    Refused for the proposer and the approver of the entry: the decider took no part in it.
    """
    reason = _reason(reason, _("The reason"), required=True)
    with engine.begin() as conn:
        _check_actor(conn, campaign_id, decider)
        row = conn.execute(
            select(modlist_appeals).where(modlist_appeals.c.id == appeal_id).with_for_update()
        ).first()
        if row is None:
            raise NotFound(_("there is no appeal %(id)d") % {"id": appeal_id})
        found = _locked(conn, row.proposal_id, campaign_id)
        if row.state != "open":
            raise CoalitionError(
                _("this appeal was decided already"), _("Its outcome is in the audit log")
            )
        if decider in (found.proposer, found.decider):
            raise NotAllowed(
                _("you took part in this listing, so you may not decide its appeal"),
                _("Someone who neither proposed nor approved it decides"),
            )
        conn.execute(
            update(modlist_appeals)
            .where(modlist_appeals.c.id == appeal_id)
            .values(
                state="upheld" if uphold else "dismissed",
                open_proposal=None,
                decided_at=now,
                decision_reason=reason,
                **decider.columns("decider"),
            )
        )
        if uphold:
            conn.execute(
                update(modlist_proposals)
                .where(modlist_proposals.c.id == found.id)
                .values(state="removed")
            )
        _log(conn, found, "appeal_upheld" if uphold else "appeal_dismissed", decider, now, reason)
        decided = conn.execute(
            select(modlist_appeals).where(modlist_appeals.c.id == appeal_id)
        ).one()
    return _appeal(decided)


# --- what the list on Bluesky should hold ----------------------------------------------------


def to_list(engine: Engine, campaign_id: int) -> list[Proposal]:
    """The approved entries (on the list, or to be written to it)."""
    return _select(engine, campaign_id, modlist_proposals.c.state == "listed")


def to_unlist(engine: Engine, campaign_id: int) -> list[Proposal]:
    """The entries whose appeal was upheld and whose list item is not deleted yet."""
    return _select(
        engine,
        campaign_id,
        modlist_proposals.c.state == "removed",
        modlist_proposals.c.unlisted_at.is_(None),
    )


def mark_listed(engine: Engine, proposal_id: int, uri: str, now: datetime) -> bool:
    """The entry's list item exists at ``uri``; logged the first time only (True then)."""
    with engine.begin() as conn:
        found = _locked(conn, proposal_id)
        if found.listed_uri == uri or found.state != "listed":
            return False
        conn.execute(
            update(modlist_proposals)
            .where(modlist_proposals.c.id == proposal_id)
            .values(listed_uri=uri, listed_at=now)
        )
        _log(conn, found, "listed", Actor("service"), now, uri)
    return True


def mark_unlisted(engine: Engine, proposal_id: int, now: datetime) -> bool:
    """The entry's list item is gone; logged the first time only (True then)."""
    with engine.begin() as conn:
        found = _locked(conn, proposal_id)
        if found.state != "removed" or found.unlisted_at is not None:
            return False
        if erased_spread(found) is not None:
            # An erased account's item is gone: nothing of the entry is kept.
            conn.execute(modlist_proposals.delete().where(modlist_proposals.c.id == proposal_id))
            return True
        conn.execute(
            update(modlist_proposals)
            .where(modlist_proposals.c.id == proposal_id)
            .values(unlisted_at=now, active_did=None)
        )
        _log(conn, found, "unlisted", Actor("service"), now, found.listed_uri)
    return True


# --- reading ---------------------------------------------------------------------------------


def _select(engine: Engine, campaign_id: int, *where: Any) -> list[Proposal]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(modlist_proposals)
            .where(modlist_proposals.c.campaign_id == campaign_id, *where)
            .order_by(modlist_proposals.c.id)
        ).all()
    return [_proposal(row) for row in rows]


def proposal(engine: Engine, proposal_id: int) -> Proposal:
    """One proposal; NotFound when there is none."""
    with engine.connect() as conn:
        return _locked(conn, proposal_id, lock=False)


def proposals(engine: Engine, campaign_id: int, *states: str) -> list[Proposal]:
    """The campaign's proposals (in ``states`` when given), oldest first; not what is left
    of an erased account's entry."""
    where = [modlist_proposals.c.subject_did != ""]
    if states:
        where.append(modlist_proposals.c.state.in_(states))
    return _select(engine, campaign_id, *where)


def appeals(engine: Engine, campaign_id: int, *states: str) -> list[Appeal]:
    """The campaign's appeals (in ``states`` when given), oldest first."""
    query = (
        select(modlist_appeals)
        .join(modlist_proposals, modlist_proposals.c.id == modlist_appeals.c.proposal_id)
        .where(modlist_proposals.c.campaign_id == campaign_id)
        .order_by(modlist_appeals.c.id)
    )
    if states:
        query = query.where(modlist_appeals.c.state.in_(states))
    with engine.connect() as conn:
        return [_appeal(row) for row in conn.execute(query).all()]


def events(
    engine: Engine, campaign_id: int, *, listed_only: bool = False, limit: int = 1000
) -> list[Event]:
    """The audit log, newest first; ``listed_only``: only entries that were ever approved
    (what the public page shows: a proposal rejected or still open names nobody publicly)."""
    query = (
        select(
            modlist_events,
            modlist_proposals.c.subject_did,
            modlist_proposals.c.subject_handle,
            modlist_proposals.c.evidence,
            organisations.c.name.label("actor_name"),
        )
        .join(modlist_proposals, modlist_proposals.c.id == modlist_events.c.proposal_id)
        .outerjoin(organisations, organisations.c.id == modlist_events.c.actor_organisation_id)
        .where(modlist_events.c.campaign_id == campaign_id)
        .order_by(modlist_events.c.id.desc())
        .limit(limit)
    )
    if listed_only:
        query = query.where(modlist_proposals.c.state.in_(("listed", "removed")))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        Event(
            id=row.id,
            proposal_id=row.proposal_id,
            at=row.at,
            action=row.action,
            actor=_actor(row.actor_kind, row.actor_organisation_id, row.actor_coordinator_id),
            actor_name=row.actor_name or "",
            reason=row.reason,
            subject_did=row.subject_did,
            subject_handle=row.subject_handle,
            evidence=tuple(json.loads(row.evidence)) if row.action == "proposed" else (),
        )
        for row in rows
    ]


def open_appeal_of(engine: Engine, proposal_id: int) -> Appeal | None:
    """The entry's open appeal, if any."""
    with engine.connect() as conn:
        row = conn.execute(
            select(modlist_appeals).where(modlist_appeals.c.open_proposal == proposal_id)
        ).first()
    return None if row is None else _appeal(row)


def listed_for(engine: Engine, campaign_id: int, did: str) -> Proposal | None:
    """The entry listing ``did`` in the campaign now, if any."""
    found = _select(
        engine,
        campaign_id,
        modlist_proposals.c.subject_did == did,
        modlist_proposals.c.state == "listed",
    )
    return found[0] if found else None


# --- members' choice: block, mute or neither -------------------------------------------------


def choice_of(engine: Engine, organisation_id: int) -> str:
    """The member's choice ("none" until it made one)."""
    with engine.connect() as conn:
        found = conn.execute(
            select(modlist_choices.c.choice).where(
                modlist_choices.c.organisation_id == organisation_id
            )
        ).scalar()
    return str(found or "none")


def set_choice(engine: Engine, organisation_id: int, choice: str, now: datetime) -> None:
    """Record the member's choice (one of :data:`CHOICES`)."""
    if choice not in CHOICES:
        raise BadInput(_("choose block, mute or neither"))
    with engine.begin() as conn:
        changed = conn.execute(
            update(modlist_choices)
            .where(modlist_choices.c.organisation_id == organisation_id)
            .values(choice=choice, changed_at=now)
        ).rowcount
        if not changed:
            conn.execute(
                insert(modlist_choices).values(
                    organisation_id=organisation_id, choice=choice, changed_at=now
                )
            )


# --- erasure (called by store.access in its transaction) ------------------------------------


ERASED = "erased:"


def did_spread(did: str) -> int:
    """The 32 bits of ``did``'s SHA-256 that its list item's record key is derived from."""
    return int.from_bytes(hashlib.sha256(did.encode()).digest()[:4], "big")


def erased_spread(entry: Proposal) -> int | None:
    """For what is left of an erased account's entry (a row naming no DID, kept until its
    list item is deleted): the spread of its record key; None for any other entry."""
    if entry.subject_did or not entry.listed_uri.startswith(ERASED):
        return None
    return int(entry.listed_uri.removeprefix(ERASED), 16)


def erase_subject(conn: Connection, did: str) -> None:
    """Delete every proposal naming ``did`` as the listed account, its appeals and its log.

    An entry whose list item may be on the PDS (listed, or removed and not yet deleted)
    leaves a row that names no DID, only its record key's spread (:func:`did_spread`), so
    that the next list sync deletes the item (:func:`to_unlist`), then the row.
    """
    p = modlist_proposals.c
    found = conn.execute(select(p.id, p.state, p.unlisted_at).where(p.subject_did == did)).all()
    if not found:
        return
    ids = [row.id for row in found]
    on_pds = [
        row.id
        for row in found
        if row.state == "listed" or (row.state == "removed" and row.unlisted_at is None)
    ]
    conn.execute(modlist_events.delete().where(modlist_events.c.proposal_id.in_(ids)))
    conn.execute(modlist_appeals.delete().where(modlist_appeals.c.proposal_id.in_(ids)))
    if on_pds:
        conn.execute(
            update(modlist_proposals)
            .where(p.id.in_(on_pds))
            .values(
                subject_did="",
                subject_handle="",
                reasons="",
                evidence="[]",
                state="removed",
                active_did=None,
                unlisted_at=None,
                decision_reason="",
                listed_uri=f"{ERASED}{did_spread(did):08x}",
                proposer_organisation_id=None,
                proposer_coordinator_id=None,
                decider_organisation_id=None,
                decider_coordinator_id=None,
            )
        )
    conn.execute(modlist_proposals.delete().where(p.id.in_(ids), p.id.not_in(on_pds or [0])))


def erase_member(conn: Connection, organisation_id: int) -> None:
    """Forget that a member took part: its steps stay in the log as "a former member"."""
    p, a, e = modlist_proposals.c, modlist_appeals.c, modlist_events.c
    conn.execute(
        update(modlist_proposals)
        .where(p.proposer_organisation_id == organisation_id)
        .values(proposer_organisation_id=None)
    )
    conn.execute(
        update(modlist_proposals)
        .where(p.decider_organisation_id == organisation_id)
        .values(decider_organisation_id=None)
    )
    conn.execute(
        update(modlist_appeals)
        .where(a.decider_organisation_id == organisation_id)
        .values(decider_organisation_id=None)
    )
    conn.execute(
        update(modlist_events)
        .where(e.actor_organisation_id == organisation_id)
        .values(actor_organisation_id=None)
    )
    conn.execute(
        modlist_choices.delete().where(modlist_choices.c.organisation_id == organisation_id)
    )
