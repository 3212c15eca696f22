"""Reply controls and the triage queue for hostile replies — never automatic deletion.

**Reply controls.** A member chooses who may reply to its welcome post and whether it may be
quoted (:class:`~departures.migrate.gates.GateChoice`, stored with its triage settings). The
departure day writes the gates in the same batch as the post (:mod:`.reply_gates`); a change
later, or a choice made after the post went out, is written by :meth:`Triage.apply_gates`
through the member's journaled writer — only what differs, exactly once.

**Triage.** For each member that opted in, the pass (:meth:`Triage.run`, in the scheduler's
turn; :meth:`Triage.run_member` for the CLI) reads with the member's own session the replies
and quotes of its recent posts and the posts mentioning it, from the AppView
(:class:`~departures.bluesky.feeds.FeedReader`); scores each once, offline
(:mod:`.triage_score`: nothing is sent to any third party); stores the score and its reasons
(the text only when it crosses the threshold) and queues what crosses it for a person, who
can hide the reply (the thread gate's ``hiddenReplies``), propose its author to the
coalition's moderation list, or dismiss it. A post that cannot be read (deleted, blocked, the
AppView failing) is skipped with a note. Each reply is stored as soon as it is scored, under
a unique key, so a pass killed midway and run again scores only the rest; the hides a pass
writes go through the writer and its journal, within the write budget: a pass that would
have to wait for the budget leaves them for the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from departures.bluesky.budget import BudgetConfig
from departures.bluesky.feeds import FeedReader, Reaction, Unreadable
from departures.bluesky.pds import Pds, StoredRecord, Uncertain
from departures.bluesky.records import POST, POSTGATE, THREADGATE
from departures.bluesky.session import open_client
from departures.bluesky.writer import Writer
from departures.coalition import moderation
from departures.coalition.departure import DepartureDay, account_writer
from departures.coalition.errors import BadInput
from departures.coalition.handles import HandleResolver, XrpcHandleResolver
from departures.coalition.i18n import _
from departures.coalition.reply_gates import member_choice
from departures.coalition.rules import CoalitionError
from departures.coalition.store import CoalitionStore, Organisation
from departures.coalition.store import departure as departure_rows
from departures.coalition.store import triage as rows
from departures.coalition.store.moderation import Actor
from departures.coalition.triage_score import Scorer, WordLists, word_lists_with_defaults
from departures.coalition.vault import AccountSessions, Vault, organisation_owner
from departures.errors import DeparturesError
from departures.migrate.gates import REPLY_RULES, GateChoice, GatedPost, gate_writes
from departures.netguard import NetGuard

__all__ = [
    "BudgetLater",
    "Triage",
    "TriageReport",
    "page_values",
    "propose_author_to_moderation_list",
]

log = logging.getLogger(__name__)

#: How many of a member's latest posts the pass reads the replies and quotes of.
RECENT_POSTS = 25
#: Replies scored in one batch through the model (and stored before the next).
SCORE_BATCH = 64
#: How often the scheduler reads a member's replies (each read is ~2 requests per recent
#: post with the member's session: every minute would strain the AppView's rate limits).
TRIAGE_EVERY = timedelta(minutes=15)
#: How often the scheduler checks that a welcome post's gates match its member's choice.
GATES_EVERY = timedelta(hours=1)


class BudgetLater(Exception):
    """The write budget would make the pass wait: the write is left for the next pass."""


def _no_waiting(seconds: float) -> None:
    if seconds > 0:
        raise BudgetLater(f"the write budget asks to wait {seconds:.0f}s")


@dataclass
class TriageReport:
    """What a triage pass did."""

    members: int = 0
    read: int = 0  # replies, quotes and mentions seen
    scored: int = 0  # new ones scored (those already stored are not scored again)
    queued: int = 0
    skipped: int = 0  # posts that could not be read (noted)
    written: int = 0  # gate records written (hides, changed controls)
    errors: list[str] = field(default_factory=list)


def propose_author_to_moderation_list(
    store: CoalitionStore,
    resolver: HandleResolver,
    organisation: Organisation,
    author_did: str,
    reasons: str,
    evidence: Sequence[str],
) -> int:
    """Propose the author ``author_did`` for the coalition's moderation list, by
    ``organisation``, with ``reasons`` and the queued posts as ``evidence`` (post URIs).

    The list's due process (:mod:`departures.coalition.moderation`) takes it from there: a
    second member or the coordinator approves or rejects; nothing is written to the list
    from here. Returns the proposal's id; refusals (already proposed, a member of the
    coalition, no reason) are one-line errors.
    """
    campaign = store.campaign_by_id(organisation.campaign_id)
    proposal = moderation.propose(
        store, resolver, campaign, Actor.member(organisation.id), author_did, reasons, evidence
    )
    return proposal.id


class Triage:
    """The triage queue and the reply controls of the members of a coalition."""

    def __init__(
        self,
        store: CoalitionStore,
        secrets: Vault,
        service: str,
        *,
        budget: BudgetConfig | None = None,
        guard: NetGuard | None = None,
        scorer: Callable[[WordLists], Scorer] = Scorer,
        sleep: Callable[[float], None] = _no_waiting,
    ) -> None:
        self.store = store
        self.secrets = secrets
        self.service = service.rstrip("/")
        self.budget = budget
        self.guard = guard or NetGuard.for_service(self.service)
        self.make_scorer = scorer
        self.sleep = sleep
        # When each member's gates were last found as chosen (this process only: a server
        # keeps its Triage, so it checks each hourly; a cron tick checks on every run).
        self._gates_checked: dict[int, datetime] = {}

    @classmethod
    def from_departure(cls, departure: DepartureDay) -> Triage:
        """The triage of the coalition whose departure day is ``departure`` (same sessions)."""
        return cls(
            departure.store,
            departure.secrets,
            departure.service,
            budget=departure.budget,
            guard=departure.guard,
        )

    def sessions(self, organisation: Organisation) -> AccountSessions:
        """Where the member's Bluesky session is kept (the departure day's)."""
        return AccountSessions(
            self.store.engine,
            self.secrets,
            organisation_owner(organisation.id),
            campaign_id=organisation.campaign_id,
            organisation_id=organisation.id,
            clock=self.store.clock,
        )

    def connected(self, organisation: Organisation) -> bool:
        """Whether the member's Bluesky account is connected (needed for everything here)."""
        account = self.sessions(organisation).account()
        return account is not None and account.connected

    # --- settings --------------------------------------------------------------------------

    def settings(self, organisation: Organisation) -> tuple[bool, GateChoice]:
        """(triage on, reply controls of the welcome post)."""
        member = rows.member(self.store.engine, organisation.id)
        return member.opted_in, member_choice(self.store.engine, organisation.id)

    def save_settings(
        self, organisation: Organisation, *, opted_in: bool, choice: GateChoice
    ) -> int:
        """Store the member's choices; a published welcome post's gates change at once.

        Returns how many gate records were written (0 when the post is not published yet:
        the departure day writes them with it; 0 too when the write budget or Bluesky makes
        it wait: the next scheduler pass writes them).
        """
        if opted_in and not self.connected(organisation):
            raise BadInput(
                _("connect your Bluesky account first"),
                _("Give an app password under “Welcome post on Bluesky”"),
            )
        rows.save_member(
            self.store.engine,
            organisation.id,
            now=self.store.clock(),
            opted_in=opted_in,
            gate_choice=choice.to_json(),
        )
        try:
            return self.apply_gates(organisation)
        except (BudgetLater, Uncertain) as exc:
            # Stored: the next scheduler pass writes it (see write_pending_gates).
            log.info("reply controls of %s left for the next pass: %s", organisation.id, exc)
            return 0

    def apply_gates(
        self, organisation: Organisation, *, sleep: Callable[[float], None] | None = None
    ) -> int:
        """Bring the published welcome post's gates to the member's choice; writes made."""
        welcome = departure_rows.stored_welcome(self.store.engine, organisation.id)
        if welcome is None or not welcome.post_uri:
            return 0
        writer = self._writer(organisation, sleep)
        if writer is None:
            return 0
        try:
            post = GatedPost(welcome.post_uri, _iso(welcome.published_at or self.store.clock()))
            existing = _gates_of(writer.pds, post.rkey)
            writes = gate_writes(
                [post], member_choice(self.store.engine, organisation.id), existing
            )
            sent = writer.send_isolating(writes)
        finally:
            writer.pds.close()
        if sent.refused:
            raise CoalitionError(
                _("Bluesky refused the reply controls: %(reason)s")
                % {"reason": sent.refused[0].reason},
                _("Choose other reply rules"),
            )
        return len(sent.results)

    def _writer(
        self, organisation: Organisation, sleep: Callable[[float], None] | None = None
    ) -> Writer | None:
        opened = account_writer(
            self.sessions(organisation),
            config=self.budget,
            sleep=sleep or self.sleep,
            guard=self.guard,
        )
        return None if opened is None else opened[0]

    # --- the coordinator's word lists and threshold ------------------------------------------

    def word_lists(self, campaign_id: int) -> dict[str, str]:
        """The campaign's word lists (the shipped ones for a language never edited)."""
        return word_lists_with_defaults(rows.word_lists(self.store.engine, campaign_id))

    def save_word_list(self, campaign_id: int, lang: str, words: str) -> None:
        """Replace the campaign's word list of ``lang`` (two to eight letters)."""
        lang = lang.strip().lower()
        if not (2 <= len(lang) <= 8 and lang.isalpha()):
            raise BadInput(
                _("“%(lang)s” is not a language code") % {"lang": lang},
                _("Use a code such as nl, fr or en"),
            )
        rows.save_words(self.store.engine, campaign_id, lang, words, self.store.clock())

    def threshold(self, campaign_id: int) -> int:
        """The campaign's threshold (percent)."""
        return rows.threshold(self.store.engine, campaign_id)

    def save_threshold(self, campaign_id: int, percent: int) -> None:
        """Change the campaign's threshold (percent)."""
        rows.save_threshold(self.store.engine, campaign_id, percent, self.store.clock())

    def scorer(self, campaign_id: int) -> Scorer:
        """A scorer with the campaign's word lists."""
        return self.make_scorer(WordLists(self.word_lists(campaign_id)))

    # --- the pass ----------------------------------------------------------------------------

    def run(self) -> TriageReport:
        """One pass over every opted-in member of every campaign (the scheduler's turn).

        One member's failure does not stop the others: it is reported and retried next pass.
        """
        report = TriageReport()
        scorers: dict[int, Scorer] = {}
        now = self.store.clock()
        for organisation_id in rows.opted_in_members(self.store.engine):
            last = rows.member(self.store.engine, organisation_id).last_pass_at
            if last is not None and now - last < TRIAGE_EVERY:
                continue  # read lately; its next turn comes
            try:
                organisation = self.store.organisation(organisation_id)
                if organisation.campaign_id not in scorers:
                    scorers[organisation.campaign_id] = self.scorer(organisation.campaign_id)
                self.run_member(organisation, report, scorer=scorers[organisation.campaign_id])
            except Exception as exc:
                log.warning("triage of organisation %s failed: %s", organisation_id, exc)
                report.errors.append(f"triage {organisation_id}: {exc}")
        self.write_pending_hides(report)
        self.write_pending_gates(report)
        return report

    def write_pending_gates(self, report: TriageReport) -> None:
        """Bring every published welcome post's gates to its member's choice.

        Nothing is written where they match already (two record reads per member); a
        choice saved while the budget was spent, or while Bluesky failed, is written here.
        """
        now = self.store.clock()
        for organisation_id in rows.members_with_choice(self.store.engine):
            checked = self._gates_checked.get(organisation_id)
            if checked is not None and now - checked < GATES_EVERY:
                continue
            try:
                report.written += self.apply_gates(self.store.organisation(organisation_id))
                self._gates_checked[organisation_id] = now
            except BudgetLater as exc:
                report.errors.append(f"reply controls of {organisation_id}: {exc}; next pass")
            except Exception as exc:
                log.warning("reply controls of %s not written: %s", organisation_id, exc)
                report.errors.append(f"reply controls of {organisation_id}: {exc}")

    def run_member(
        self,
        organisation: Organisation,
        report: TriageReport | None = None,
        *,
        scorer: Scorer | None = None,
    ) -> TriageReport:
        """Read, score and queue the replies to one member's recent posts."""
        report = report or TriageReport()
        sessions = self.sessions(organisation)
        account = sessions.account()
        if account is None or not account.connected:
            raise BadInput(
                _("connect your Bluesky account first"),
                _("Give an app password under “Welcome post on Bluesky”"),
            )
        report.members += 1
        scorer = scorer or self.scorer(organisation.campaign_id)
        threshold = self.threshold(organisation.campaign_id)
        engine, now = self.store.engine, self.store.clock()
        pds = Pds(
            open_client(account.did, store=sessions, request=self.guard.sdk_request()),
            account.did,
            account.handle,
        )
        try:
            reactions = self._read(FeedReader(pds), organisation, report)
        finally:
            pds.close()
        known = rows.known_subjects(engine, organisation.id)
        fresh: dict[str, Reaction] = {}
        for reaction in reactions:
            if reaction.uri not in known:
                fresh.setdefault(reaction.uri, reaction)
        pending = list(fresh.values())
        for start in range(0, len(pending), SCORE_BATCH):
            batch = pending[start : start + SCORE_BATCH]
            scores = scorer.score([reaction.text for reaction in batch])
            for reaction, score in zip(batch, scores, strict=True):
                stored = rows.record_scored(
                    engine,
                    organisation.id,
                    rows.Scored(
                        reaction.uri,
                        reaction.kind,
                        reaction.post_uri,
                        reaction.root_uri,
                        reaction.author_did,
                        reaction.author_handle,
                        reaction.text,
                        score.score,
                        score.model_score,
                        score.reasons,
                    ),
                    threshold=threshold,
                    now=now,
                )
                if stored:
                    report.scored += 1
                    report.queued += score.score >= threshold
        rows.touch_pass(engine, organisation.id, now)
        return report

    def _read(
        self, reader: FeedReader, organisation: Organisation, report: TriageReport
    ) -> list[Reaction]:
        engine, now = self.store.engine, self.store.clock()
        found: list[Reaction] = []
        try:
            posts = reader.recent_posts(RECENT_POSTS)
        except Uncertain as exc:
            rows.add_note(engine, organisation.id, "", f"feed unreadable: {exc}", now)
            report.skipped += 1
            return found
        welcome = departure_rows.stored_welcome(engine, organisation.id)
        uris = [post.uri for post in posts]
        if welcome is not None and welcome.post_uri and welcome.post_uri not in uris:
            uris.append(welcome.post_uri)  # the welcome post, however old
        for uri in uris:
            try:
                replies = reader.replies(uri)
                if isinstance(replies, Unreadable):
                    rows.add_note(engine, organisation.id, uri, replies.reason, now)
                    report.skipped += 1
                    continue
                found.extend(replies)
                found.extend(reader.quotes(uri))
            except Uncertain as exc:
                rows.add_note(engine, organisation.id, uri, f"unreadable: {exc}", now)
                report.skipped += 1
        try:
            found.extend(reader.mentions())
        except Uncertain as exc:
            rows.add_note(engine, organisation.id, "", f"mentions unreadable: {exc}", now)
            report.skipped += 1
        report.read += len(found)
        return found

    # --- a person's decisions ------------------------------------------------------------------

    def queue(self, organisation: Organisation) -> list[rows.TriageItem]:
        """What waits for a person (and hides being written), highest score first."""
        return rows.queue(self.store.engine, organisation.id)

    def decided(self, organisation: Organisation) -> list[rows.TriageItem]:
        """What a person decided already."""
        return rows.queue(
            self.store.engine, organisation.id, states=("hidden", "proposed", "dismissed")
        )

    def _open_item(self, organisation: Organisation, item_id: int) -> rows.TriageItem:
        found = rows.item(self.store.engine, organisation.id, item_id)
        if found is None or found.state not in rows.OPEN_STATES:
            raise BadInput(
                _("this reply is no longer in the queue"),
                _("Reload the page: someone may have decided already"),
            )
        return found

    def hide(self, organisation: Organisation, item_id: int, *, by: str, note: str = "") -> int:
        """Hide the reply under the member's thread (its thread gate); writes made.

        The decision is stored first (``hiding``); the write follows at once, or — when the
        budget would make it wait, or Bluesky fails — on the next pass.
        """
        item = self._open_item(organisation, item_id)
        account = self.sessions(organisation).account()
        own_prefix = f"at://{account.did}/{POST}/" if account is not None else "\x00"
        if item.kind == "quote" or not item.root_uri.startswith(own_prefix):
            raise BadInput(
                _("only replies in your own threads can be hidden"),
                _("Propose the author to the moderation list, or dismiss it"),
            )
        rows.decide(
            self.store.engine,
            organisation.id,
            item.id,
            state="hiding",
            by=by,
            note=note,
            now=self.store.clock(),
            from_states=("queued",),
        )
        report = TriageReport()
        try:
            self._write_hides(organisation, item.root_uri, report)
        except (BudgetLater, DeparturesError, Uncertain) as exc:
            log.info("hide of %s left for the next pass: %s", item.subject_uri, exc)
        return report.written

    def _write_hides(self, organisation: Organisation, root_uri: str, report: TriageReport) -> None:
        engine = self.store.engine
        hidden = rows.hidden_uris(engine, organisation.id, root_uri)
        writer = self._writer(organisation)
        if writer is None:
            raise BadInput(_("connect your Bluesky account first"))
        try:
            post = GatedPost(root_uri, _iso(self.store.clock()))
            writes = gate_writes(
                [post], None, _gates_of(writer.pds, post.rkey), hide={root_uri: hidden}
            )
            sent = writer.send_isolating(writes)
        finally:
            writer.pds.close()
        if sent.refused:
            raise CoalitionError(
                _("Bluesky refused to hide the reply: %(reason)s")
                % {"reason": sent.refused[0].reason}
            )
        report.written += len(sent.results)
        rows.mark_hidden(engine, organisation.id, root_uri, hidden)

    def write_pending_hides(self, report: TriageReport, organisation_id: int | None = None) -> None:
        """Write the hides decided but not written yet (a budget wait, a failure, a kill);
        of one member only when ``organisation_id`` is given."""
        for owner, root_uri in rows.hiding(self.store.engine):
            if organisation_id is not None and owner != organisation_id:
                continue
            try:
                self._write_hides(self.store.organisation(owner), root_uri, report)
            except BudgetLater as exc:
                report.errors.append(f"hide in {root_uri}: {exc}; next pass")
            except Exception as exc:
                log.warning("hide in %s failed: %s", root_uri, exc)
                report.errors.append(f"hide in {root_uri}: {exc}")

    def propose(self, organisation: Organisation, item_id: int, *, by: str, note: str) -> None:
        """Propose the reply's author to the coalition's moderation list (see the seam)."""
        item = self._open_item(organisation, item_id)
        if not note.strip():
            raise BadInput(
                _("say why the author should be on the moderation list"),
                _("The reason is shown to whoever reviews the proposal"),
            )
        propose_author_to_moderation_list(
            self.store,
            XrpcHandleResolver(self.service, guard=self.guard),
            organisation,
            item.author_did,
            note,
            [item.subject_uri],
        )
        rows.decide(
            self.store.engine,
            organisation.id,
            item.id,
            state="proposed",
            by=by,
            note=note,
            now=self.store.clock(),
            from_states=("queued",),
        )

    def dismiss(self, organisation: Organisation, item_id: int, *, by: str, note: str = "") -> None:
        """Nothing to do about this reply (its text is dropped; score and reasons stay)."""
        item = self._open_item(organisation, item_id)
        rows.decide(
            self.store.engine,
            organisation.id,
            item.id,
            state="dismissed",
            by=by,
            note=note,
            now=self.store.clock(),
            from_states=("queued",),
        )

    def notes(self, organisation: Organisation) -> list[tuple[datetime, str, str]]:
        """The posts the pass skipped lately, and why."""
        return rows.notes(self.store.engine, organisation.id)


def page_values(departure: DepartureDay | None, organisation: Organisation) -> dict[str, Any]:
    """What the member page's partial (``_partials/triage_member.html``) shows."""
    if departure is None:
        return {"triage": None}
    triage = Triage.from_departure(departure)
    opted_in, choice = triage.settings(organisation)
    return {
        "triage": {
            "opted_in": opted_in,
            "choice": choice,
            "waiting": len(triage.queue(organisation)) if opted_in else 0,
            "connected": triage.connected(organisation),
            "rules": tuple(REPLY_RULES),
        }
    }


def _gates_of(pds: Pds, rkey: str) -> dict[tuple[str, str], StoredRecord]:
    """The post's gates as the PDS holds them now."""
    found: dict[tuple[str, str], StoredRecord] = {}
    for collection in (THREADGATE, POSTGATE):
        record = pds.get_record(collection, rkey)
        if record is not None:
            found[(collection, rkey)] = record
    return found


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
