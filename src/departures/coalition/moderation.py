"""The coalition's moderation list, with due process: propose, decide, write, appeal.

The list itself (an ``app.bsky.graph.list`` of purpose ``modlist`` in the coordinator's
repository) is created by :mod:`departures.coalition.listsync`. What goes into it is decided
here, under the rules the store enforces (:mod:`departures.coalition.store.moderation`):

1. a member (or the coordinator) proposes an account — a handle resolved through the
   service's handle resolver, or a DID — with its reasons and links to posts as evidence
   (:func:`propose`, also called by the triage queue's "propose the author");
2. a second member or the coordinator approves or rejects it (:func:`decide`); nobody
   decides on their own proposal;
3. approved entries are written to the list as ``app.bsky.graph.listitem`` records through
   the one journaled writer (record keys derived from the campaign and the DID), by
   :meth:`~departures.coalition.listsync.CoalitionLists.write_entries` at once when it can
   and by every scheduler pass otherwise — exactly once, a kill mid-write included;
4. the listed account appeals from the public page, signed in with Bluesky
   (:func:`appeal`); someone who took no part in the listing decides (:func:`decide_appeal`);
   upheld, the entry is deleted from the list, once.

Every step is in the audit log, published with the list at ``/campaigns/<slug>/moderation``.
Members choose to block the list's accounts (a ``listblock`` subscription, written by the
departure day's :meth:`~departures.coalition.departure.DepartureDay.subscribe`) or to mute
them (``app.bsky.graph.muteActorList`` with their session): :func:`choose`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from departures.coalition.departure import DepartureDay, account_writer
from departures.coalition.errors import BadInput
from departures.coalition.handles import HandleResolver, normalise_handle
from departures.coalition.i18n import _
from departures.coalition.listsync import CoalitionLists
from departures.coalition.rules import CoalitionError
from departures.coalition.store import Campaign, CoalitionStore, Organisation
from departures.coalition.store import graph as graph_rows
from departures.coalition.store import moderation as rows
from departures.coalition.store.moderation import Actor, Appeal, Event, Proposal
from departures.errors import DeparturesError

__all__ = [
    "Actor",
    "Appeal",
    "Event",
    "MemberView",
    "Proposal",
    "appeal",
    "check_evidence",
    "choose",
    "coordinator_view",
    "decide",
    "decide_appeal",
    "member_view",
    "propose",
    "push",
    "split_evidence",
]

log = logging.getLogger(__name__)

MAX_LINK = 500
_DID = re.compile(r"did:(plc:[a-z2-7]{24}|web:[a-zA-Z0-9.\-]{1,253}(%3[aA][0-9]{1,5})?)")
_SPLIT = re.compile(r"[\s,]+")
# A post's record key: any the AT Protocol's record-key syntax allows (posts written by the
# Bluesky app have TIDs, other clients may choose other keys).
_AT_POST = re.compile(
    r"at://(did:[a-z]+:[a-zA-Z0-9._:%\-]{1,200})/app\.bsky\.feed\.post/"
    r"((?!\.{1,2}$)[A-Za-z0-9._:~\-]{1,512})"
)


def check_evidence(links: Sequence[str]) -> list[str]:
    """The links given as evidence, checked: http(s) addresses of a named host, no user
    name or password in them, each at most 500 characters; duplicates dropped. A post's
    ``at://`` URI becomes its ``https://bsky.app/profile/<did>/post/<rkey>`` page."""
    checked: list[str] = []
    for link in links:
        link = link.strip()
        if not link:
            continue
        post = _AT_POST.fullmatch(link)
        if post is not None:  # a post's at:// URI (the triage queue's): its bsky.app page
            link = f"https://bsky.app/profile/{post.group(1)}/post/{post.group(2)}"
        try:
            parts = urlsplit(link)
            host = parts.hostname or ""
            _port = parts.port  # raises on "host:port" that is not a port
        except ValueError:
            parts, host = None, ""
        if (
            parts is None
            or len(link) > MAX_LINK
            or parts.scheme not in ("http", "https")
            or "." not in host
            or parts.username is not None
            or parts.password is not None
            or any(c.isspace() or ord(c) < 32 for c in link)
        ):
            raise BadInput(
                _("%(link)s is not a link to a post") % {"link": link[:80]},
                _("Give whole web addresses, e.g. https://bsky.app/profile/name/post/3k…"),
            )
        if link not in checked:
            checked.append(link)
    return checked


def split_evidence(text: str) -> list[str]:
    """The links of a text box: one per line (or separated by spaces or commas)."""
    return [part for part in _SPLIT.split(text) if part]


def _account(resolver: HandleResolver, account: str) -> tuple[str, str]:
    """(DID, handle) of a handle or a DID typed by a member."""
    account = account.strip().removeprefix("@")
    if account.startswith("did:"):
        if not _DID.fullmatch(account):
            raise BadInput(
                _("%(did)s is not a Bluesky DID") % {"did": account[:80]},
                _("Give the account's handle, or a DID such as did:plc:…"),
            )
        return account, ""
    if not account:
        raise BadInput(_("no account was given"), _("Give the account's handle or DID"))
    handle = normalise_handle(account)
    return resolver.resolve(handle), handle


def propose(
    store: CoalitionStore,
    resolver: HandleResolver,
    campaign: Campaign,
    proposer: Actor,
    account: str,
    reasons: str,
    evidence: Sequence[str],
) -> Proposal:
    """Propose ``account`` (a handle or a DID) for the campaign's moderation list.

    ``proposer``: ``Actor.member(organisation_id)`` or ``Actor.coordinator(coordinator_id)``;
    ``evidence``: links to posts (checked by :func:`check_evidence`). The proposal waits for a
    second member or the coordinator (:func:`decide`); every refusal is a one-line
    :class:`~departures.errors.DeparturesError`.
    """
    links = check_evidence(evidence)
    did, handle = _account(resolver, account)
    return rows.propose(
        store.engine,
        campaign.id,
        proposer,
        did=did,
        handle=handle,
        reasons=reasons,
        evidence=links,
        now=store.clock(),
    )


def push(lists: CoalitionLists | None, campaign: Campaign) -> bool:
    """Write the list's approved and removed entries to Bluesky now, if it can.

    A failure (the PDS down, no account connected yet) is not the decision's: it is logged,
    and the next scheduler pass writes the entry. Whether anything was sent now.
    """
    if lists is None:
        return False
    try:
        return lists.write_entries(campaign) > 0
    except DeparturesError as error:
        log.warning("moderation list of %s not written now: %s", campaign.slug, error)
        return False
    except Exception:
        # The decision is recorded already; whatever went wrong on the way to Bluesky (a
        # dropped connection, an answer the SDK could not read), the next pass settles it.
        log.exception("moderation list of %s not written now", campaign.slug)
        return False


def decide(
    store: CoalitionStore,
    lists: CoalitionLists | None,
    campaign: Campaign,
    proposal_id: int,
    decider: Actor,
    *,
    approve: bool,
    reason: str,
) -> Proposal:
    """Approve or reject a proposal (not the proposer's to decide); approved, it is written."""
    decided = rows.decide(
        store.engine,
        campaign.id,
        proposal_id,
        decider,
        approve=approve,
        reason=reason,
        now=store.clock(),
    )
    if approve:
        push(lists, campaign)
    return rows.proposal(store.engine, decided.id)


def appeal(
    store: CoalitionStore, campaign: Campaign, did: str, statement: str
) -> tuple[Proposal, Appeal]:
    """The signed-in account ``did`` appeals its entry on the campaign's list."""
    entry = rows.listed_for(store.engine, campaign.id, did)
    if entry is None:
        raise CoalitionError(
            _("your account is not on this coalition's list"), _("There is nothing to appeal")
        )
    made = rows.appeal(store.engine, campaign.id, entry.id, did, statement, store.clock())
    return entry, made


def decide_appeal(
    store: CoalitionStore,
    lists: CoalitionLists | None,
    campaign: Campaign,
    appeal_id: int,
    decider: Actor,
    *,
    uphold: bool,
    reason: str,
) -> Appeal:
    """Uphold or dismiss an appeal (by someone who took no part in the listing); upheld, the
    entry is deleted from the list."""
    decided = rows.decide_appeal(
        store.engine,
        campaign.id,
        appeal_id,
        decider,
        uphold=uphold,
        reason=reason,
        now=store.clock(),
    )
    if uphold:
        push(lists, campaign)
    return decided


def choose(
    store: CoalitionStore, day: DepartureDay, organisation: Organisation, choice: str
) -> None:
    """The member blocks the list's accounts (``listblock``), mutes them (the list muted at
    the AppView with its session), or neither; the other way is undone first."""
    if choice not in rows.CHOICES:
        raise BadInput(_("choose block, mute or neither"))
    campaign = store.campaign_by_id(organisation.campaign_id)
    modlist = day.modlist_uri(campaign.id)
    if not modlist:
        raise CoalitionError(
            _("the coalition has no moderation list yet"),
            _("Ask the coordinator to connect its Bluesky account"),
        )
    opened = account_writer(day.sessions(organisation), guard=day.guard)
    if opened is None:
        raise BadInput(
            _("connect your Bluesky account first"),
            _("Give an app password with your welcome post"),
        )
    writer, _journal = opened
    try:
        writer.pds.mute_list(modlist, mute=choice == "mute")
    finally:
        writer.pds.close()
    day.subscribe(organisation, on=choice == "block")
    rows.set_choice(store.engine, organisation.id, choice, store.clock())


# --- what a member's page shows ------------------------------------------------------------


@dataclass(frozen=True)
class MemberView:
    """The moderation list as a member sees it on its page."""

    modlist_uri: str
    choice: str
    pending: list[Proposal]
    listed: list[Proposal]
    appeals: list[tuple[Appeal, Proposal]]
    events: list[Event]
    me: Actor


def member_view(store: CoalitionStore, organisation: Organisation) -> MemberView:
    """Proposals waiting for a decision, entries on the list, open appeals, the audit log."""
    return _view(store, organisation.campaign_id, Actor.member(organisation.id), organisation.id)


def coordinator_view(store: CoalitionStore, campaign: Campaign) -> MemberView:
    """The same as the campaign's coordinator sees it on its page (no block or mute choice)."""
    return _view(store, campaign.id, Actor.coordinator(campaign.coordinator_id), None)


def _view(
    store: CoalitionStore, campaign_id: int, me: Actor, organisation_id: int | None
) -> MemberView:
    engine = store.engine
    modlist_uri = graph_rows.modlist_uri(engine, campaign_id)
    by_id = {p.id: p for p in rows.proposals(engine, campaign_id)}
    return MemberView(
        modlist_uri=modlist_uri,
        choice=rows.choice_of(engine, organisation_id) if organisation_id is not None else "",
        pending=[p for p in by_id.values() if p.state == "proposed"],
        listed=[p for p in by_id.values() if p.state == "listed"],
        appeals=[(a, by_id[a.proposal_id]) for a in rows.appeals(engine, campaign_id, "open")],
        events=rows.events(engine, campaign_id, limit=50),
        me=me,
    )
