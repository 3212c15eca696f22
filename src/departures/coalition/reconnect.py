"""Reconnect: people who join the directory after a member left X are found for it later.

A member organisation uploads its X archive (or only ``data/following.js``) on its page; the
service keeps the X ids it followed — ids only, replaced on every upload, deleted on request.
On every scheduler pass (:meth:`Reconnect.run`, called by
:meth:`~departures.coalition.notify.Notifier.tick`), for each member with stored ids:

1. **propose**: the directory entries whose X id the member followed and that were never
   proposed to it (:func:`new_for_members`, pure) are recorded in ``reconnect_proposals``
   and listed in one e-mail, queued in the outbox *in the same transaction*: a pass that dies
   half-way has either done both or neither, and nothing is ever proposed twice (the
   proposals' primary key; a concurrent pass that lost the race rolls back);
2. **follow** (only when the member ticked "follow them for us" and connected its Bluesky
   account for the departure day): the proposed accounts whose X claim is proven
   (``verified`` or ``vouched``, :mod:`departures.coalition.claims`) are followed through the one
   journaled writer (:mod:`departures.bluesky.writer`) with the same deterministic record
   keys and journal keys as ``departures audience follow`` (:func:`derived_rkey`,
   :func:`follow_key`): after a kill the journal and the server tell what was done, and an
   account the member already follows is recorded as ``existing``, not followed again. At
   most ``daily_cap`` follows a member in any 24 hours (default :data:`DEFAULT_DAILY_CAP`).

Withdrawing from the directory deletes the entry's proposals
(:meth:`~departures.coalition.directory.Directory.withdraw`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from departures.bluesky.budget import BudgetConfig, WriteKind
from departures.bluesky.records import FOLLOW, derived_rkey, follow_key
from departures.bluesky.writer import Write, Writer
from departures.coalition.claims import TRUSTED
from departures.coalition.departure import account_writer
from departures.coalition.i18n import _, ngettext, use_language
from departures.coalition.store import CoalitionStore, Organisation
from departures.coalition.store import claims as claim_rows
from departures.coalition.store import reconnect as reconnect_rows
from departures.coalition.vault import AccountSessions, Vault, organisation_owner
from departures.netguard import NetGuard

__all__ = [
    "DEFAULT_DAILY_CAP",
    "Entry",
    "Proposal",
    "Reconnect",
    "ReconnectReport",
    "ReconnectSettings",
    "follows_allowed",
    "new_for_members",
    "profile_url",
]

log = logging.getLogger(__name__)

DEFAULT_DAILY_CAP = 100
# Follows per applyWrites batch: small batches keep a kill's loss of certainty small.
BATCH = 25


@dataclass(frozen=True)
class Entry:
    """A directory entry: X id → Bluesky DID and handle."""

    x_id: str
    did: str
    handle: str
    level: str = "verified"
    """How the X side is known (:mod:`departures.coalition.claims`); only ``verified`` and
    ``vouched`` entries are followed for a member."""


@dataclass(frozen=True)
class Proposal:
    """A directory entry proposed to a member, and what became of its follow."""

    x_id: str
    did: str
    handle: str
    round: int
    proposed_at: datetime
    state: str  # "proposed", "followed", "existing" or "failed"
    done_at: datetime | None
    reason: str

    @property
    def url(self) -> str:
        """The account's page on bsky.app."""
        return profile_url(self.handle or self.did)


@dataclass(frozen=True)
class ReconnectSettings:
    """A member's reconnect settings and how many X ids are stored for it."""

    auto_follow: bool
    uploaded_at: datetime | None
    following_count: int


@dataclass
class ReconnectReport:
    """What one reconnect pass did."""

    members: int = 0
    proposed: int = 0
    queued: int = 0
    followed: int = 0
    existing: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def profile_url(handle_or_did: str) -> str:
    """``https://bsky.app/profile/<handle>``."""
    return f"https://bsky.app/profile/{handle_or_did}"


# --- the pure part --------------------------------------------------------------------------


def new_for_members(
    followings: Mapping[int, Collection[str]],
    entries: Iterable[Entry],
    proposed: Mapping[int, Collection[str]],
    own_dids: Mapping[int, str] | None = None,
) -> dict[int, list[Entry]]:
    """For each member, the directory entries it followed on X and was never proposed.

    ``followings``: member → X ids it followed; ``proposed``: member → X ids already proposed
    to it; ``own_dids``: member → its own DID (a member is never proposed itself). Members
    with nothing new are absent; each list is in X id order (numeric), once per X id.
    """
    by_x_id: dict[str, Entry] = {}
    for entry in entries:
        by_x_id.setdefault(entry.x_id, entry)
    own = own_dids or {}
    out: dict[int, list[Entry]] = {}
    for member, followed in followings.items():
        done = proposed.get(member, ())
        fresh = [
            by_x_id[x_id]
            for x_id in set(followed)
            if x_id in by_x_id and x_id not in done and by_x_id[x_id].did != own.get(member)
        ]
        if fresh:
            out[member] = sorted(fresh, key=lambda e: (len(e.x_id), e.x_id))
    return out


def follows_allowed(daily_cap: int, followed_last_24h: int, pending: int) -> int:
    """How many follows a pass may make now: the pending ones, within the daily cap."""
    return max(0, min(pending, daily_cap - followed_last_24h))


# --- the service ----------------------------------------------------------------------------


class Reconnect:
    """Members' following lists, proposals of late directory registrants, and their follows."""

    def __init__(
        self,
        store: CoalitionStore,
        *,
        secrets: Vault | None = None,
        daily_cap: int = DEFAULT_DAILY_CAP,
        budget: BudgetConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
        guard: NetGuard | None = None,
    ) -> None:
        if daily_cap < 0:
            raise ValueError("the daily cap cannot be negative")
        self.store = store
        # Members' PDSs are reached only at public https addresses, but for the hosts the
        # operator configured (the Bluesky service, DEPARTURES_COALITION_ALLOW_HOSTS).
        self.guard = guard or NetGuard.for_service()
        # None: this process cannot open members' Bluesky sessions, so it only proposes.
        self.secrets = secrets
        self.daily_cap = daily_cap
        self.budget = budget
        self.sleep = sleep

    @property
    def engine(self) -> Engine:
        """The store's engine."""
        return self.store.engine

    # --- the member page ------------------------------------------------------------------

    def save_followings(self, organisation: Organisation, x_ids: Collection[str]) -> int:
        """Replace the member's stored X following ids with ``x_ids``; how many are stored.

        What was already proposed stays proposed: a new upload adds, it does not repeat.
        """
        ids = sorted(set(x_ids))
        reconnect_rows.replace_followings(self.engine, organisation.id, ids, self.store.clock())
        return len(ids)

    def delete_followings(self, organisation: Organisation) -> int:
        """Delete the member's stored X following ids; how many there were."""
        return reconnect_rows.delete_followings(self.engine, organisation.id)

    def set_auto_follow(self, organisation: Organisation, on: bool) -> None:
        """Turn "follow them for us" on or off."""
        reconnect_rows.set_auto_follow(self.engine, organisation.id, on)

    def settings(self, organisation: Organisation) -> ReconnectSettings:
        """The member's settings and the number of X ids stored."""
        stored = reconnect_rows.settings_of(self.engine, organisation.id)
        return ReconnectSettings(
            auto_follow=stored.auto_follow,
            uploaded_at=stored.uploaded_at,
            following_count=stored.following_count,
        )

    def proposals(self, organisation: Organisation) -> list[Proposal]:
        """What was proposed to the member, newest round first, by handle."""
        return [Proposal(*row) for row in reconnect_rows.proposals_of(self.engine, organisation.id)]

    # --- the scheduler pass ---------------------------------------------------------------

    def run(self, base_url: str, now: datetime | None = None) -> ReconnectReport:
        """Propose new entries to every member with stored ids, then follow where asked.

        One member's failure does not stop the others: it is in ``errors`` and the next pass
        tries again.
        """
        report = ReconnectReport()
        moment = now or self.store.clock()
        for organisation_id in reconnect_rows.members_with_followings(self.engine):
            report.members += 1
            try:
                organisation = self.store.organisation(organisation_id)
                self.propose(organisation, base_url, moment, report)
                if self.secrets is not None and self.auto_follow(organisation):
                    self.follow(organisation, moment, report)
            except Exception as exc:
                log.exception("reconnect pass failed for organisation %s", organisation_id)
                report.errors.append(f"reconnect for organisation #{organisation_id}: {exc}")
        return report

    def auto_follow(self, organisation: Organisation) -> bool:
        """Whether the member asked the coalition to follow for it."""
        return reconnect_rows.auto_follow(self.engine, organisation.id)

    def propose(
        self,
        organisation: Organisation,
        base_url: str,
        now: datetime,
        report: ReconnectReport | None = None,
    ) -> list[Entry]:
        """Record and e-mail the entries new for this member (one transaction); which."""
        report = report or ReconnectReport()

        def choose(
            candidates: list[reconnect_rows.DirectoryPair], proposed: Collection[str]
        ) -> list[Entry]:
            entries = [Entry(*pair) for pair in candidates]
            return new_for_members(
                {organisation.id: [e.x_id for e in entries]},
                entries,
                {organisation.id: proposed},
                {organisation.id: organisation.bluesky_did},
            ).get(organisation.id, [])

        def mail(
            round_no: int, fresh: list[Entry], auto_follow: Callable[[], bool]
        ) -> reconnect_rows.ProposalMail | None:
            if not organisation.email:
                return None
            auto = self.secrets is not None and auto_follow()
            subject, body = proposal_email(organisation, fresh, base_url, auto=auto)
            return reconnect_rows.ProposalMail(
                f"reconnect:{organisation.id}#{round_no}", organisation.email, subject, body
            )

        done = reconnect_rows.propose_round(
            self.engine, organisation.id, organisation.campaign_id, now, choose, mail
        )
        if done is None:
            # Another pass proposed the same entries at the same moment and won: its
            # transaction has them (and their e-mail); ours did nothing.
            log.info("reconnect proposals of organisation %s made by another pass", organisation.id)
            return []
        fresh, queued = done
        if not fresh:
            return []
        if queued:
            report.queued += 1
        report.proposed += len(fresh)
        return fresh

    # --- following for the member ---------------------------------------------------------

    def sessions(self, organisation: Organisation) -> AccountSessions:
        """The member's Bluesky session store (the one its departure-day connection filled)."""
        assert self.secrets is not None
        return AccountSessions(
            self.engine,
            self.secrets,
            organisation_owner(organisation.id),
            campaign_id=organisation.campaign_id,
            organisation_id=organisation.id,
            clock=self.store.clock,
        )

    def followed_since(self, organisation: Organisation, since: datetime) -> int:
        """Follows this service made for the member since ``since`` (what the cap counts)."""
        return reconnect_rows.followed_since(self.engine, organisation.id, since)

    def _pending(self, organisation: Organisation) -> list[Proposal]:
        """The proposals to follow for the member: only claims that stand and are proven.

        A claim that is only declared or from an archive is proposed (the member may follow
        it by hand) but never followed by the service: anyone can type an X id.
        """
        pending = [p for p in reversed(self.proposals(organisation)) if p.state == "proposed"]
        trusted = claim_rows.trusted_pairs(self.engine, [p.x_id for p in pending])
        return [p for p in pending if (p.x_id, p.did) in trusted]

    def follow(
        self, organisation: Organisation, now: datetime, report: ReconnectReport | None = None
    ) -> int:
        """Follow the member's proposed accounts, exactly once, within the daily cap; how many.

        Does nothing when the member's Bluesky account is not connected.
        """
        report = report or ReconnectReport()
        pending = self._pending(organisation)
        done_today = self.followed_since(organisation, now - timedelta(days=1))
        if not follows_allowed(self.daily_cap, done_today, len(pending)):
            return 0  # nothing to do, or the cap is reached: no session opened, no request
        opened = account_writer(
            self.sessions(organisation), config=self.budget, sleep=self.sleep, guard=self.guard
        )
        if opened is None:
            return 0
        writer, journal = opened
        try:
            # Settle first: what the journal knows was created (a pass killed after the
            # server wrote), and what the account follows already (by hand, or by the CLI).
            journaled = journal.last("follow:")
            existing = writer.pds.followed()
            for proposal in pending:
                known = journaled.get(follow_key(proposal.did))
                if known is not None and known.action is WriteKind.CREATE:
                    self._settle(organisation, proposal.x_id, "followed", now, known.uri)
                elif proposal.did in existing:
                    uri = existing[proposal.did]
                    mine = uri.endswith("/" + derived_rkey(proposal.did))
                    state = "followed" if mine else "existing"
                    self._settle(organisation, proposal.x_id, state, now, uri)
                    if not mine:
                        report.existing += 1
            return self._send(organisation, writer, now, report)
        finally:
            writer.pds.close()

    def _send(
        self, organisation: Organisation, writer: Writer, now: datetime, report: ReconnectReport
    ) -> int:
        followed = 0
        while True:
            pending = self._pending(organisation)
            allowed = follows_allowed(
                self.daily_cap,
                self.followed_since(organisation, now - timedelta(days=1)),
                len(pending),
            )
            if allowed <= 0:
                return followed
            batch = {follow_key(p.did): p for p in pending[: min(allowed, BATCH)]}
            stamp = _iso(self.store.clock())
            writes = [
                Write.create(
                    key,
                    FOLLOW,
                    derived_rkey(p.did),
                    {"$type": FOLLOW, "subject": p.did, "createdAt": stamp},
                )
                for key, p in batch.items()
            ]
            # A refused follow is isolated and marked; one another process (a cron tick beside
            # the server) created a moment ago comes back as a result: done, not failed.
            sent = writer.send_isolating(writes, batch_size=BATCH)
            for result in sent.results:
                self._settle(
                    organisation, batch[result.write.key].x_id, "followed", now, result.uri
                )
            for refused in sent.refused:
                proposal = batch[refused.write.key]
                self._settle(organisation, proposal.x_id, "failed", now, "", refused.reason)
            followed += len(sent.results)
            report.followed += len(sent.results)
            report.failed += len(sent.refused)
            if not sent.results and not sent.refused:  # nothing answered for: never loop
                return followed

    def _settle(
        self,
        organisation: Organisation,
        x_id: str,
        state: str,
        now: datetime,
        uri: str,
        reason: str = "",
    ) -> None:
        reconnect_rows.settle_proposal(self.engine, organisation.id, x_id, state, now, uri, reason)


def proposal_email(
    organisation: Organisation, entries: Sequence[Entry], base_url: str, *, auto: bool
) -> tuple[str, str]:
    """The subject and body of the e-mail that lists newly found accounts, in the
    organisation's own language."""
    with use_language(organisation.language):
        return _proposal_texts(organisation, entries, base_url, auto=auto)


def _proposal_texts(
    organisation: Organisation, entries: Sequence[Entry], base_url: str, *, auto: bool
) -> tuple[str, str]:
    n = len(entries)
    subject = ngettext(
        "%(n)d account you followed on X is now on Bluesky",
        "%(n)d accounts you followed on X are now on Bluesky",
        n,
    ) % {"n": n}
    intro = _(
        "These accounts that %(name)s followed on X have joined the coalition's directory "
        "and are on Bluesky now:"
    ) % {"name": organisation.name}
    unproven = _("(not proven to be the same person: follow only if you recognise them)")
    lines = [
        f"- @{e.handle}  {profile_url(e.handle or e.did)}"
        + ("" if e.level in TRUSTED else f"  {unproven}")
        for e in entries
    ]
    if auto:
        action = _(
            "As you asked, the coalition follows the proven ones for you from your Bluesky "
            "account (a limited number a day); the others you follow yourself if they are who "
            "you think."
        )
    else:
        action = _(
            "Follow them with one click each on your member page, or turn on "
            '"follow them for us" there:'
        )
    page = base_url.rstrip("/") + "/member"
    return subject, "\n".join([intro, "", *lines, "", action, page, ""])


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
