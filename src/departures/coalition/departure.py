"""The departure day: members' welcome posts on Bluesky, published exactly once.

A member opts in on its page: it prepares its welcome post (at most 300 graphemes) and
connects its Bluesky account with an app password, which logs in once and is then
forgotten — only the session is kept, encrypted (:mod:`departures.coalition.vault`).

On every scheduler pass while the campaign is departed, :meth:`DepartureDay.on_departure`
publishes each opted-in member's post through the one journaled, budgeted writer
(:class:`~departures.bluesky.writer.Writer`), with a record key derived from the campaign's
departure time and the member's id: a pass that runs twice, or that was killed after
sending, settles with the server and never posts twice.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from departures.bluesky.budget import BudgetConfig, WriteKind
from departures.bluesky.identity import normalise_handle, plc_url
from departures.bluesky.pds import Pds
from departures.bluesky.records import LISTBLOCK, POST, encode_tid
from departures.bluesky.session import open_client
from departures.bluesky.writer import Write, Writer, open_writer
from departures.coalition import handles
from departures.coalition.errors import BadInput
from departures.coalition.i18n import _, use_language
from departures.coalition.oauth import account_pds, revoke_account
from departures.coalition.reply_gates import new_post_gate_writes
from departures.coalition.rules import CoalitionError
from departures.coalition.store import Campaign, CoalitionStore, Organisation
from departures.coalition.store import claims as claim_rows
from departures.coalition.store import departure as departure_rows
from departures.coalition.store import graph as graph_rows
from departures.coalition.store.accounts import clear_account_secret
from departures.coalition.store.oauth import forget_connection as forget_oauth_connection
from departures.coalition.store.write_journal import CoalitionJournal
from departures.coalition.vault import AccountSessions, Vault, organisation_owner
from departures.errors import DeparturesError
from departures.migrate.richtext import RichText, SourceText, build_post_text, post_record
from departures.netguard import NetGuard

__all__ = [
    "MAX_WELCOME_GRAPHEMES",
    "POST",
    "DepartureDay",
    "WelcomePost",
    "WelcomeText",
    "check_welcome_text",
    "welcome_rkey",
    "welcome_suggestion",
    "welcome_text",
]

log = logging.getLogger(__name__)

MAX_WELCOME_GRAPHEMES = 300
#: Bytes the lexicon allows a post's text (3000); graphemes are what people hit first.
MAX_WELCOME_BYTES = 3000


@dataclass(frozen=True)
class WelcomePost:
    """A member's prepared welcome post and what became of it."""

    organisation_id: int
    text: str
    opted_in: bool
    post_uri: str
    published_at: datetime | None
    account_handle: str  # the connected Bluesky account ("" when none)

    @property
    def post_url(self) -> str:
        """A link to the post: bsky.app for a handle on the network, else the at:// URI."""
        return post_link(self.post_uri, self.account_handle)


def post_link(uri: str, handle: str) -> str:
    """``https://bsky.app/profile/<handle>/post/<rkey>``, or the at:// URI in a sandbox."""
    if not uri:
        return ""
    if handle.endswith(".test") or not handle:
        return uri
    return f"https://bsky.app/profile/{handle}/post/{uri.rsplit('/', 1)[-1]}"


@dataclass(frozen=True)
class WelcomeText:
    """A welcome post as Bluesky will show it: text, facets, and the handles not found."""

    rich: RichText
    unresolved: tuple[str, ...]

    @property
    def graphemes(self) -> int:
        """Its length as Bluesky counts it."""
        return self.rich.grapheme_length

    @property
    def fits(self) -> bool:
        """Within Bluesky's limits (graphemes and bytes)."""
        return (
            self.graphemes <= MAX_WELCOME_GRAPHEMES and self.rich.byte_length <= MAX_WELCOME_BYTES
        )


def welcome_text(text: str, resolve: Callable[[str], str] | None = None) -> WelcomeText:
    """The post the departure day publishes for ``text``: links (shown shortened, as
    Bluesky's apps do), ``#tags`` and the ``@handle`` mentions ``resolve`` finds a DID for
    become facets (the migration's rich-text code, :mod:`departures.migrate.richtext`)."""
    text = text.replace("\r\n", "\n").strip()
    source = SourceText.from_plain(text)
    dids: dict[str, str] = {}
    unresolved: list[str] = []
    for mention in source.mentions:
        handle = mention.screen_name.lower()
        if handle in dids or resolve is None:
            continue
        try:
            dids[handle] = resolve(handle)
        except DeparturesError:
            unresolved.append(handle)
    source = dataclasses.replace(
        source, mentions=tuple(m for m in source.mentions if m.screen_name.lower() in dids)
    )
    return WelcomeText(build_post_text(source, mention_dids=dids), tuple(unresolved))


def check_welcome_text(text: str) -> str:
    """The welcome text, stripped; :class:`BadInput` when empty or over the limits."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise BadInput(_("the welcome post is empty"), _("Write the post your followers will see"))
    built = welcome_text(text)
    count = built.graphemes
    if not built.fits:
        raise BadInput(
            _("the welcome post is too long (%(n)d characters)") % {"n": count},
            _("Bluesky posts hold at most %(max)d characters; shorten it")
            % {"max": MAX_WELCOME_GRAPHEMES},
        )
    return text


def welcome_suggestion(campaign: Campaign, organisation: Organisation) -> str:
    """A welcome post to start from, in the organisation's own language (the member edits
    it before the day; nothing is published unless it opts in)."""
    with use_language(organisation.language):
        return _(
            "Hello Bluesky! Today %(name)s leaves X, together with the organisations of "
            "“%(campaign)s”. From now on, this is where you will find us."
        ) % {"name": organisation.name, "campaign": campaign.title}


def welcome_rkey(campaign: Campaign, organisation_id: int) -> str:
    """The post's record key: a TID at the departure time, clock id from the member id.

    The same on every pass and after any restart, which is what makes the post exactly once:
    the server refuses a second record under the same key, and reconciliation finds it.
    """
    micros = int(campaign.departure_at.timestamp() * 1_000_000)
    return encode_tid(micros + organisation_id // 1024, organisation_id % 1024)


def listblock_rkey(campaign: Campaign) -> str:
    """The record key of a member's subscription to the campaign's moderation list."""
    return encode_tid(int(campaign.created_at.timestamp() * 1_000_000), 5)


def welcome_key(campaign: Campaign, organisation_id: int) -> str:
    """The journal's name for a member's welcome post."""
    return f"welcome:{campaign.id}:{organisation_id}"


def account_writer(
    sessions: AccountSessions,
    *,
    config: BudgetConfig | None = None,
    sleep: Callable[[float], None] = time.sleep,
    guard: NetGuard | None = None,
) -> tuple[Writer, CoalitionJournal] | None:
    """A writer on the owner's connected account (its open batches settled), or None.

    The coalition's way into :func:`departures.bluesky.writer.open_writer`: the session
    comes from the store, the journal is the account's in the store, and every request to
    the account's PDS goes through ``guard`` (the service's outgoing-request guard).
    """
    account = sessions.account()
    if account is None or not account.connected:
        return None
    guard = guard or NetGuard.for_service()
    # Connected through OAuth: DPoP-bound requests; otherwise the app-password session.
    pds = account_pds(sessions, guard) or Pds(
        open_client(account.did, store=sessions, request=guard.sdk_request()),
        account.did,
        account.handle,
    )
    journal = CoalitionJournal(sessions.engine, account.id, clock=sessions.clock)
    writer = open_writer(pds, journal, config, sleep=sleep, max_attempts=4, reconcile=True)
    return writer, journal


class DepartureDay:
    """Members' welcome posts: preparing them, connecting accounts, publishing them once."""

    def __init__(
        self,
        store: CoalitionStore,
        secrets: Vault,
        service: str,
        *,
        budget: BudgetConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.secrets = secrets
        self.service = service.rstrip("/")
        self.budget = budget
        self.sleep = sleep
        # The member's login goes to the PDS its DID document names: a public HTTPS address
        # unless it is the configured service's own (netguard).
        self.guard = NetGuard.for_service(self.service, plc_url())

    def sessions(self, organisation: Organisation) -> AccountSessions:
        """Where the member's Bluesky session is kept."""
        return AccountSessions(
            self.store.engine,
            self.secrets,
            organisation_owner(organisation.id),
            campaign_id=organisation.campaign_id,
            organisation_id=organisation.id,
            clock=self.store.clock,
        )

    # --- the member page ------------------------------------------------------------------

    def welcome(self, organisation: Organisation) -> WelcomePost:
        """The member's welcome post as prepared (empty when never prepared)."""
        account = self.sessions(organisation).account()
        handle = account.handle if account is not None and account.connected else ""
        row = departure_rows.stored_welcome(self.store.engine, organisation.id)
        if row is None:
            return WelcomePost(organisation.id, "", False, "", None, handle)
        return WelcomePost(
            organisation.id, row.text, row.opted_in, row.post_uri, row.published_at, handle
        )

    def prepare(
        self,
        organisation: Organisation,
        text: str,
        *,
        opted_in: bool,
        app_password: str = "",
    ) -> WelcomePost:
        """Save the welcome text and the opt-in; log in with ``app_password`` when given.

        The app password logs in once (the session is stored encrypted; the password is not).
        Errors: a text too long or empty (:class:`BadInput`), a wrong password (BlueskyError),
        opting in without a connected account, changing a post already published.
        """
        current = self.welcome(organisation)
        if current.post_uri:
            raise CoalitionError(
                _("the welcome post is already published"),
                _("Edit or delete it on Bluesky itself"),
            )
        text = check_welcome_text(text) if (text.strip() or opted_in) else ""
        if app_password:
            if not organisation.bluesky_handle:
                raise BadInput(
                    _("give your Bluesky handle before connecting the account"),
                    _("Fill it in under your organisation's details"),
                )
            stored = handles.open_session(
                normalise_handle(organisation.bluesky_handle),
                app_password,
                self.service,
                self.guard,
            )
            if organisation.bluesky_did and stored.did != organisation.bluesky_did:
                handles.revoke_session(stored, self.guard)  # the connection already kept stays
                raise BadInput(
                    _("that app password belongs to another account (%(handle)s)")
                    % {"handle": stored.handle},
                    _("Create the app password in the account %(handle)s")
                    % {"handle": organisation.bluesky_handle},
                )
            self._end_replaced_session(organisation)
            self.sessions(organisation).put(stored)
            claim_rows.record_member_connection(
                self.store.engine,
                organisation.id,
                stored.did,
                stored.handle,
                "app_password",
                self.store.clock(),
            )
        elif opted_in and not current.account_handle:
            raise BadInput(
                _("connect your Bluesky account to have the post published"),
                _("Give an app password (Settings > Privacy and security > App passwords)"),
            )
        departure_rows.save_welcome(
            self.store.engine,
            organisation.id,
            text=text,
            opted_in=opted_in,
            now=self.store.clock(),
        )
        return self.welcome(organisation)

    def _end_replaced_session(self, organisation: Organisation) -> None:
        """End at its PDS the session a new connection replaces (an OAuth grant is revoked,
        an app-password session deleted), so no replaced session stays live there."""
        sessions = self.sessions(organisation)
        try:
            previous = sessions.get()  # None for an OAuth session
            if previous is None:
                revoke_account(sessions, self.guard)
            else:
                handles.revoke_session(previous, self.guard)
        except DeparturesError:  # a secret that no longer decrypts: nothing to end with it
            log.info("the replaced session of organisation %s was not ended", organisation.id)

    def disconnect(self, organisation: Organisation) -> None:
        """Forget the member's Bluesky session (revoked at its PDS too) and so its opt-in."""
        sessions = self.sessions(organisation)
        try:
            revoke_account(sessions, self.guard)  # connected through OAuth
            stored = sessions.remove()
        except DeparturesError:
            # A secret that no longer decrypts (the service's key changed) cannot be revoked
            # with; it is forgotten all the same, so the member can always disconnect.
            log.info("the session of organisation %s was forgotten unrevoked", organisation.id)
            stored = None
            clear_account_secret(self.store.engine, sessions.owner, self.store.clock())
            forget_oauth_connection(self.store.engine, sessions.owner)
        if stored is not None:
            handles.revoke_session(stored, self.guard)
        claim_rows.forget_member_connection(self.store.engine, organisation.id, self.store.clock())
        departure_rows.clear_welcome_opt_in(self.store.engine, organisation.id, self.store.clock())

    # --- the shared moderation list -------------------------------------------------------

    def modlist_uri(self, campaign_id: int) -> str:
        """The campaign's shared moderation list, once the coordinator's pass created it."""
        return graph_rows.modlist_uri(self.store.engine, campaign_id)

    def subscribed(self, organisation: Organisation) -> bool:
        """Whether the member subscribed to the moderation list (as the journal knows it)."""
        account = self.sessions(organisation).account()
        if account is None:
            return False
        key = f"listblock:{organisation.campaign_id}"
        known = CoalitionJournal(self.store.engine, account.id).last(key).get(key)
        return known is not None and known.action is WriteKind.CREATE

    def subscribe(self, organisation: Organisation, *, on: bool) -> bool:
        """Subscribe the member's account to the moderation list (a ``listblock``) or stop.

        Written at once through the writer with the member's session; whether it changed.
        """
        campaign = self.store.campaign_by_id(organisation.campaign_id)
        modlist = self.modlist_uri(campaign.id)
        if not modlist:
            raise CoalitionError(
                _("the coalition has no moderation list yet"),
                _("Ask the coordinator to connect its Bluesky account"),
            )
        opened = account_writer(
            self.sessions(organisation), config=self.budget, sleep=self.sleep, guard=self.guard
        )
        if opened is None:
            raise BadInput(
                _("connect your Bluesky account first"),
                _("Give an app password with your welcome post"),
            )
        writer, _journal = opened
        key = f"listblock:{campaign.id}"
        rkey = listblock_rkey(campaign)
        try:
            exists = writer.pds.get_record(LISTBLOCK, rkey) is not None
            if exists == on:
                return False
            if on:
                record = {
                    "$type": LISTBLOCK,
                    "subject": modlist,
                    "createdAt": _iso(self.store.clock()),
                }
                writer.send([Write.create(key, LISTBLOCK, rkey, record)])
            else:
                writer.send([Write.delete(key, LISTBLOCK, rkey)])
            return True
        finally:
            writer.pds.close()

    # --- the scheduler's hook -------------------------------------------------------------

    def on_departure(self, campaign: Campaign, members: Sequence[Organisation]) -> None:
        """Publish every opted-in member's welcome post not yet published (idempotent).

        One member's failure does not stop the others; the failures are raised together
        at the end (the scheduler reports them and the next pass tries again).
        """
        failures: list[str] = []
        for member in members:
            try:
                self.publish(campaign, member)
            except Exception as exc:
                log.warning("welcome post of %s not published: %s", member.name, exc)
                failures.append(f"{member.name}: {exc}")
        if failures:
            raise CoalitionError(
                _("some welcome posts were not published: %(list)s")
                % {"list": "; ".join(failures)},
                _("The next scheduler pass tries again"),
            )

    def publish(self, campaign: Campaign, member: Organisation) -> str | None:
        """Publish the member's post once; its URI (None when not opted in or not due)."""
        if self.store.clock() < campaign.departure_at:
            return None
        post = self.welcome(member)
        if post.post_uri:
            return post.post_uri
        if not post.opted_in or not post.text:
            return None
        opened = account_writer(
            self.sessions(member), config=self.budget, sleep=self.sleep, guard=self.guard
        )
        if opened is None:
            return None
        writer, journal = opened
        try:
            key = welcome_key(campaign, member.id)
            known = journal.last(key).get(key)
            if known is not None and known.action is WriteKind.CREATE:
                uri = known.uri  # published by a pass that stopped before recording it here
            else:
                resolver = handles.XrpcHandleResolver(self.service, guard=self.guard)
                rich = welcome_text(post.text, resolver.resolve).rich
                # Tagged with the member's language, so Bluesky's feeds and filters know it.
                record = post_record(
                    rich, created_at=_iso(campaign.departure_at), langs=[member.language]
                )
                rkey = welcome_rkey(campaign, member.id)
                write = Write.create(key, POST, rkey, record)
                # The member's reply and quote controls go in the same batch as the post.
                gates = new_post_gate_writes(
                    self.store.engine, member.id, writer.pds.uri(POST, rkey), record["createdAt"]
                )
                sent = writer.send_isolating([write, *gates], stop_at_refusal=True)
                posted = [r for r in sent.results if r.write.collection == POST]
                if not posted:
                    raise CoalitionError(
                        _("Bluesky refused the welcome post: %(reason)s")
                        % {"reason": sent.refused[0].reason if sent.refused else "?"},
                        _("Change the text on the member page"),
                    )
                for refused in sent.refused:  # a gate: the member page can write it again
                    log.warning("reply controls of %s refused: %s", member.name, refused.reason)
                uri = posted[0].uri
        finally:
            writer.pds.close()
        departure_rows.mark_welcome_published(self.store.engine, member.id, uri, self.store.clock())
        log.info("welcome post of %s published: %s", member.name, uri)
        return uri


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
