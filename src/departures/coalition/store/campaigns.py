"""The campaigns' repository: coordinators, campaigns, invites, organisations, pledges, the
announcements and the outbox.

Library first: the web app, the CLI and the scheduler all call :class:`CoalitionStore`. Like
the rest of the store layer (:mod:`departures.coalition.store`), it is where SQL against the
coalition database is written; nothing outside that package runs any. Every change is
checked by the pure rules in :mod:`departures.coalition.rules` before it is written, inside
one transaction, so a refused change never leaves half of itself behind. The clock is
injected (``clock``) so that tests and the demo can move time forward.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Row, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from departures.coalition import rules
from departures.coalition.errors import BadInput, NotAllowed, NotFound
from departures.coalition.rules import CampaignStatus, CampaignTerms, CoalitionError, State
from departures.coalition.security import hash_token, new_token
from departures.coalition.store.board_version import BoardVersion, board_version, bump_board
from departures.coalition.store.schema import (
    announcements,
    campaigns,
    coordinators,
    invites,
    organisations,
    outbox,
    pledges,
)
from departures.coalition.store.values import check_text, check_texts
from departures.i18n import _, split_languages

__all__ = [
    "INVITE_TTL",
    "OUTBOX_LEASE",
    "Campaign",
    "CoalitionStore",
    "Invite",
    "Organisation",
    "OutboxMessage",
    "utc_now",
]

INVITE_TTL = timedelta(days=14)
# How long a claimed outbox message stays its sender's before another may send it.
OUTBOX_LEASE = timedelta(minutes=10)
MAX_MIN_OTHERS = 100_000


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Campaign:
    """A campaign as stored."""

    id: int
    slug: str
    coordinator_id: int
    title: str
    description: str
    threshold: int
    deadline: datetime
    departure_at: datetime
    timezone: str
    coordinator_handle: str
    starter_pack_url: str
    opened_at: datetime | None
    closed_at: datetime | None
    announced_state: State
    created_at: datetime
    languages: tuple[str, ...] = ("en",)
    """The languages its board publishes in, the first one for readers of any other."""

    @property
    def terms(self) -> CampaignTerms:
        """The terms and life facts the pure rules work on."""
        return CampaignTerms(
            title=self.title,
            threshold=self.threshold,
            deadline=self.deadline,
            departure_at=self.departure_at,
            description=self.description,
            opened_at=self.opened_at,
            closed_at=self.closed_at,
        )

    @property
    def zone(self) -> ZoneInfo:
        """The coalition's own timezone, for showing times."""
        return ZoneInfo(self.timezone)

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the campaign's timezone."""
        return moment.astimezone(self.zone)


@dataclass(frozen=True)
class Organisation:
    """A member organisation of one campaign."""

    id: int
    campaign_id: int
    name: str
    email: str
    website: str
    x_handle: str
    bluesky_handle: str
    bluesky_did: str
    verified_domain: bool
    public_name: bool
    landed_at: datetime | None
    created_at: datetime
    language: str = "en"
    """The language of its e-mails and of its default welcome post."""

    @property
    def key(self) -> str:
        """The organisation's identity in the pure rules' :class:`~rules.Pledge`."""
        return str(self.id)


@dataclass(frozen=True)
class Invite:
    """An invitation link (its token is never stored, only its hash)."""

    id: int
    campaign_id: int
    note: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    organisation_id: int | None


@dataclass(frozen=True)
class OutboxMessage:
    """One queued notification to one recipient."""

    id: int
    campaign_id: int
    message: str
    recipient: str
    channel: str
    subject: str
    body: str
    attempts: int


def _campaign(row: Row[Any]) -> Campaign:
    values = dict(row._mapping)
    values["announced_state"] = State(values["announced_state"])
    if "languages" in values:
        values["languages"] = split_languages(values["languages"])
    return Campaign(**values)


def _organisation(row: Row[Any]) -> Organisation:
    values = dict(row._mapping)
    values.pop("key_hash", None)
    return Organisation(**values)


def _invite(row: Row[Any]) -> Invite:
    values = dict(row._mapping)
    values.pop("token_hash", None)
    return Invite(**values)


def slugify(title: str) -> str:
    """A URL slug from a title: ASCII letters, digits and hyphens."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:60].strip("-") or "campaign"


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA timezone (``Europe/Brussels``), else a :class:`BadInput`."""
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        raise BadInput(
            _("%(name)r is not a timezone") % {"name": name[:60]},
            _("Give an IANA timezone name such as Europe/Brussels or UTC"),
        ) from None
    return name


class CoalitionStore:
    """All reads and writes of the coalition database."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    # --- coordinators -------------------------------------------------------------------------

    def create_coordinator(self, name: str) -> tuple[int, str]:
        """A new coordinator account; returns its id and its sign-in token (shown once)."""
        token = new_token()
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(coordinators).values(
                    name=check_text("name", name.strip()[:200]) or "coordinator",
                    token_hash=hash_token(token),
                    created_at=self.clock(),
                )
            )
            (coordinator_id,) = result.inserted_primary_key or (0,)
        return int(coordinator_id), token

    def coordinator_by_token(self, token: str) -> int | None:
        """The coordinator id that ``token`` signs in, if any."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(coordinators.c.id).where(coordinators.c.token_hash == hash_token(token))
            ).scalar()
        return int(found) if found is not None else None

    def coordinator_name(self, coordinator_id: int) -> str:
        """The coordinator's display name."""
        with self.engine.connect() as conn:
            name = conn.execute(
                select(coordinators.c.name).where(coordinators.c.id == coordinator_id)
            ).scalar()
        if name is None:
            raise NotFound(_("no such coordinator"))
        return str(name)

    # --- campaigns ----------------------------------------------------------------------------

    def create_campaign(
        self,
        coordinator_id: int,
        *,
        title: str,
        threshold: int,
        deadline: datetime,
        departure_at: datetime,
        timezone: str = "UTC",
        description: str = "",
        coordinator_handle: str = "",
        slug: str | None = None,
    ) -> Campaign:
        """A new draft campaign (terms validated by the rules); its slug is made unique."""
        description = check_text("description", description)
        coordinator_handle = check_text("coordinator_handle", coordinator_handle)
        terms = CampaignTerms(
            title=check_text("title", title.strip()),
            threshold=threshold,
            deadline=deadline,
            departure_at=departure_at,
            description=description,
        )
        check_timezone(timezone)
        base = slugify(slug or title)
        with self.engine.begin() as conn:
            taken = set(
                conn.execute(
                    select(campaigns.c.slug).where(campaigns.c.slug.like(f"{base}%"))
                ).scalars()
            )
            unique, n = base, 1
            while unique in taken:
                n += 1
                unique = f"{base}-{n}"
            conn.execute(
                insert(campaigns).values(
                    slug=unique,
                    coordinator_id=coordinator_id,
                    title=terms.title,
                    description=terms.description,
                    threshold=terms.threshold,
                    deadline=terms.deadline,
                    departure_at=terms.departure_at,
                    timezone=timezone,
                    coordinator_handle=coordinator_handle,
                    starter_pack_url="",
                    announced_state=State.DRAFT.value,
                    created_at=self.clock(),
                )
            )
        return self.campaign(unique)

    def campaign(self, slug: str, conn: Connection | None = None) -> Campaign:
        """The campaign with ``slug``; :class:`NotFound` if there is none."""
        query = select(campaigns).where(campaigns.c.slug == slug)
        if conn is None:
            with self.engine.connect() as own:
                row = own.execute(query).first()
        else:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(
                _("there is no campaign %(slug)r") % {"slug": slug[:80]},
                _("Check the link you followed"),
            )
        return _campaign(row)

    def campaign_by_id(self, campaign_id: int) -> Campaign:
        """The campaign with this id."""
        with self.engine.connect() as conn:
            row = conn.execute(select(campaigns).where(campaigns.c.id == campaign_id)).first()
        if row is None:
            raise NotFound(_("there is no such campaign"))
        return _campaign(row)

    def campaigns(self, coordinator_id: int | None = None) -> list[Campaign]:
        """All campaigns (of one coordinator), newest first."""
        query = select(campaigns).order_by(campaigns.c.id.desc())
        if coordinator_id is not None:
            query = query.where(campaigns.c.coordinator_id == coordinator_id)
        with self.engine.connect() as conn:
            return [_campaign(row) for row in conn.execute(query)]

    def _own_campaign(self, conn: Connection, slug: str, coordinator_id: int) -> Campaign:
        campaign = self.campaign(slug, conn)
        if campaign.coordinator_id != coordinator_id:
            raise NotAllowed(
                _("only the campaign's coordinator can change it"),
                _("Sign in with the coordinator token of this campaign"),
            )
        return campaign

    def update_campaign(
        self,
        slug: str,
        coordinator_id: int,
        *,
        title: str | None = None,
        description: str | None = None,
        threshold: int | None = None,
        deadline: datetime | None = None,
        departure_at: datetime | None = None,
        timezone: str | None = None,
        coordinator_handle: str | None = None,
        starter_pack_url: str | None = None,
    ) -> Campaign:
        """Change the campaign's terms (locked ones only while it is a draft)."""
        title = check_text("title", title.strip()) if title is not None else None
        description = check_text("description", description) if description is not None else None
        if coordinator_handle is not None:
            coordinator_handle = check_text("coordinator_handle", coordinator_handle)
        if starter_pack_url is not None:
            starter_pack_url = check_text("starter_pack_url", starter_pack_url)
        with self.engine.begin() as conn:
            campaign = self._own_campaign(conn, slug, coordinator_id)
            terms = rules.amend_terms(
                campaign.terms,
                title=title,
                description=description,
                threshold=threshold,
                deadline=deadline,
                departure_at=departure_at,
            )
            values: dict[str, Any] = {
                "title": terms.title,
                "description": terms.description,
                "threshold": terms.threshold,
                "deadline": terms.deadline,
                "departure_at": terms.departure_at,
            }
            if timezone is not None and timezone != campaign.timezone:
                if campaign.opened_at is not None:
                    raise CoalitionError(
                        _("The campaign's timezone is locked since it opened"),
                        _("Organisations pledged to the departure time as shown"),
                    )
                values["timezone"] = check_timezone(timezone)
            if coordinator_handle is not None:
                values["coordinator_handle"] = coordinator_handle
            if starter_pack_url is not None:
                values["starter_pack_url"] = starter_pack_url
            conn.execute(update(campaigns).where(campaigns.c.id == campaign.id).values(**values))
            bump_board(conn, campaign.id, self.clock())
        return self.campaign(slug)

    def open_campaign(self, slug: str, coordinator_id: int) -> Campaign:
        """Open a draft campaign for pledges: its terms lock."""
        with self.engine.begin() as conn:
            campaign = self._own_campaign(conn, slug, coordinator_id)
            terms = rules.open_campaign(campaign.terms, self.clock())
            conn.execute(
                update(campaigns)
                .where(campaigns.c.id == campaign.id)
                .values(opened_at=terms.opened_at)
            )
            bump_board(conn, campaign.id, self.clock())
        return self.campaign(slug)

    def close_campaign(self, slug: str, coordinator_id: int) -> Campaign:
        """Archive a campaign that departed or went off."""
        with self.engine.begin() as conn:
            campaign = self._own_campaign(conn, slug, coordinator_id)
            terms = rules.close_campaign(
                campaign.terms, self._pledges(conn, campaign.id), self.clock()
            )
            conn.execute(
                update(campaigns)
                .where(campaigns.c.id == campaign.id)
                .values(closed_at=terms.closed_at)
            )
            bump_board(conn, campaign.id, self.clock())
        return self.campaign(slug)

    # --- invites ------------------------------------------------------------------------------

    def create_invite(
        self, slug: str, coordinator_id: int, note: str = "", ttl: timedelta = INVITE_TTL
    ) -> str:
        """A single-use invitation token for one organisation (shown once, stored hashed)."""
        note = check_text("note", note[:200])
        token = new_token()
        with self.engine.begin() as conn:
            campaign = self._own_campaign(conn, slug, coordinator_id)
            if campaign.closed_at is not None:
                raise CoalitionError(_("The campaign is closed"))
            now = self.clock()
            conn.execute(
                insert(invites).values(
                    campaign_id=campaign.id,
                    token_hash=hash_token(token),
                    note=note,
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
        return token

    def invites(self, campaign_id: int) -> list[Invite]:
        """The campaign's invitations, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(invites)
                .where(invites.c.campaign_id == campaign_id)
                .order_by(invites.c.id.desc())
            )
            return [_invite(row) for row in rows]

    def check_invite(self, token: str) -> tuple[Invite, Campaign]:
        """The invite for ``token`` and its campaign, if it can still be accepted."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(invites).where(invites.c.token_hash == hash_token(token))
            ).first()
        if row is None:
            raise NotFound(
                _("this invitation link is not valid"),
                _("Check that you copied the whole link, or ask the coordinator for a new one"),
            )
        invite = _invite(row)
        if invite.used_at is not None:
            raise CoalitionError(
                _("this invitation link was already used"),
                _("Each link admits one organisation; ask the coordinator for a new one"),
            )
        if invite.expires_at <= self.clock():
            raise CoalitionError(
                _("this invitation link has expired"),
                _("Ask the coordinator for a new one"),
            )
        return invite, self.campaign_by_id(invite.campaign_id)

    def accept_invite(
        self,
        token: str,
        *,
        name: str,
        email: str = "",
        website: str = "",
        x_handle: str = "",
        bluesky_handle: str = "",
        bluesky_did: str = "",
        verified_domain: bool = False,
        public_name: bool = False,
    ) -> tuple[Organisation, str]:
        """Join the campaign with an invite; returns the organisation and its sign-in key.

        The invite is claimed with a conditional update, so two people racing with the same
        link cannot both join.
        """
        if not name.strip():
            raise BadInput(_("the organisation needs a name"), _("Give its public name"))
        details = check_texts(
            {
                "name": name.strip(),
                "email": email,
                "website": website,
                "x_handle": x_handle,
                "bluesky_handle": bluesky_handle,
                "bluesky_did": bluesky_did,
            }
        )
        invite, campaign = self.check_invite(token)
        if campaign.closed_at is not None:
            raise CoalitionError(_("The campaign is closed"))
        key = new_token()
        now = self.clock()
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(invites)
                .where(invites.c.id == invite.id, invites.c.used_at.is_(None))
                .values(used_at=now)
            )
            if claimed.rowcount != 1:
                raise CoalitionError(_("this invitation link was already used"))
            result = conn.execute(
                insert(organisations).values(
                    campaign_id=campaign.id,
                    **details,
                    verified_domain=verified_domain,
                    public_name=public_name,
                    key_hash=hash_token(key),
                    created_at=now,
                )
            )
            (organisation_id,) = result.inserted_primary_key or (0,)
            conn.execute(
                update(invites)
                .where(invites.c.id == invite.id)
                .values(organisation_id=organisation_id)
            )
            bump_board(conn, campaign.id, now)
        return self.organisation(int(organisation_id)), key

    # --- organisations ------------------------------------------------------------------------

    def organisation(self, organisation_id: int) -> Organisation:
        """The organisation with this id."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(organisations).where(organisations.c.id == organisation_id)
            ).first()
        if row is None:
            raise NotFound(_("there is no such organisation"))
        return _organisation(row)

    def organisation_by_key(self, key: str) -> Organisation | None:
        """The organisation whose sign-in key is ``key``, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(organisations).where(organisations.c.key_hash == hash_token(key))
            ).first()
        return _organisation(row) if row is not None else None

    def organisations(self, campaign_id: int) -> list[Organisation]:
        """The campaign's member organisations, in the order they joined."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(organisations)
                .where(organisations.c.campaign_id == campaign_id)
                .order_by(organisations.c.id)
            )
            return [_organisation(row) for row in rows]

    def update_organisation(self, organisation_id: int, **values: Any) -> Organisation:
        """Change an organisation's own details (name, website, handles, public name)."""
        allowed = {
            "name",
            "email",
            "website",
            "x_handle",
            "bluesky_handle",
            "bluesky_did",
            "verified_domain",
            "public_name",
        }
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"not an organisation detail: {sorted(unknown)}")
        if "name" in values and not str(values["name"]).strip():
            raise BadInput(_("the organisation needs a name"), _("Give its public name"))
        values = check_texts(values)
        organisation = self.organisation(organisation_id)
        with self.engine.begin() as conn:
            conn.execute(
                update(organisations).where(organisations.c.id == organisation_id).values(**values)
            )
            bump_board(conn, organisation.campaign_id, self.clock())
        return self.organisation(organisation_id)

    def mark_landed(self, organisation_id: int, at: datetime | None = None) -> Organisation:
        """Record that the organisation has landed on Bluesky (once; the first time counts)."""
        organisation = self.organisation(organisation_id)
        campaign = self.campaign_by_id(organisation.campaign_id)
        moment = at or self.clock()
        if moment < campaign.departure_at:
            raise CoalitionError(
                _("an organisation lands after the departure time"),
                _("Come back on the departure day, once your welcome post is out"),
            )
        if not organisation.bluesky_handle:
            raise CoalitionError(
                _("give your Bluesky handle before marking yourself landed"),
                _("Fill it in under your organisation's details"),
            )
        with self.engine.begin() as conn:
            conn.execute(
                update(organisations)
                .where(organisations.c.id == organisation_id, organisations.c.landed_at.is_(None))
                .values(landed_at=moment)
            )
            bump_board(conn, campaign.id, self.clock())
        return self.organisation(organisation_id)

    def unmark_landed(self, organisation_id: int) -> Organisation:
        """Take back a landing (marked by mistake, or the member left Bluesky again).

        The coalition's list drops the member on the next scheduler pass.
        """
        organisation = self.organisation(organisation_id)
        with self.engine.begin() as conn:
            conn.execute(
                update(organisations)
                .where(organisations.c.id == organisation_id)
                .values(landed_at=None)
            )
            bump_board(conn, organisation.campaign_id, self.clock())
        return self.organisation(organisation_id)

    # --- pledges ------------------------------------------------------------------------------

    def _pledges(self, conn: Connection, campaign_id: int) -> list[rules.Pledge]:
        rows = conn.execute(
            select(
                pledges.c.organisation_id,
                pledges.c.min_others,
                pledges.c.pledged_at,
                pledges.c.withdrawn_at,
            )
            .where(pledges.c.campaign_id == campaign_id)
            .order_by(pledges.c.id)
        )
        return [
            rules.Pledge(str(row.organisation_id), row.min_others, row.pledged_at, row.withdrawn_at)
            for row in rows
        ]

    def pledges(self, campaign_id: int) -> list[rules.Pledge]:
        """Every pledge ever made in the campaign, in the order recorded."""
        with self.engine.connect() as conn:
            return self._pledges(conn, campaign_id)

    def pledge(self, organisation_id: int, min_others: int) -> rules.Pledge:
        """Pledge (again) for the organisation: 0 = unconditional, N = if N others go."""
        if not 0 <= min_others <= MAX_MIN_OTHERS:
            raise BadInput(
                _("%(n)d is not a number of other organisations") % {"n": min_others},
                _("Give 0 for an unconditional pledge, or how many others must go too"),
            )
        organisation = self.organisation(organisation_id)
        campaign = self.campaign_by_id(organisation.campaign_id)
        made = rules.make_pledge(campaign.terms, organisation.key, min_others, self.clock())
        with self.engine.begin() as conn:
            conn.execute(
                insert(pledges).values(
                    campaign_id=campaign.id,
                    organisation_id=organisation.id,
                    min_others=made.min_others,
                    pledged_at=made.pledged_at,
                )
            )
            bump_board(conn, campaign.id, made.pledged_at)
        return made

    def withdraw(self, organisation_id: int) -> rules.Pledge:
        """Withdraw the organisation's pledge in force (until the deadline)."""
        organisation = self.organisation(organisation_id)
        campaign = self.campaign_by_id(organisation.campaign_id)
        with self.engine.begin() as conn:
            row = conn.execute(
                select(pledges)
                .where(pledges.c.organisation_id == organisation_id)
                .order_by(pledges.c.id.desc())
                .limit(1)
            ).first()
            if row is None or row.withdrawn_at is not None:
                raise CoalitionError(_("there is no pledge to withdraw"))
            current = rules.Pledge(organisation.key, row.min_others, row.pledged_at, None)
            withdrawn = rules.withdraw_pledge(campaign.terms, current, self.clock())
            conn.execute(
                update(pledges)
                .where(pledges.c.id == row.id, pledges.c.withdrawn_at.is_(None))
                .values(withdrawn_at=withdrawn.withdrawn_at)
            )
            bump_board(conn, campaign.id, self.clock())
        return withdrawn

    def pledge_in_force(self, organisation: Organisation) -> rules.Pledge | None:
        """The organisation's pledge that counts now, if any."""
        in_force = rules.pledges_in_force(self.pledges(organisation.campaign_id), self.clock())
        return in_force.get(organisation.key)

    def board_version(self, slug: str) -> BoardVersion | None:
        """The version of campaign ``slug``'s public board (None when there is no campaign)."""
        return board_version(self.engine, slug)

    def status(self, campaign: Campaign, now: datetime | None = None) -> CampaignStatus:
        """The campaign's state, resolution and tipping point at ``now`` (default: the clock)."""
        return rules.campaign_status(campaign.terms, self.pledges(campaign.id), now or self.clock())

    # --- announcements and the outbox ---------------------------------------------------------

    def record_announcement(
        self, campaign: Campaign, state: State, events: Sequence[rules.Event], at: datetime
    ) -> list[tuple[int, rules.Event]]:
        """Record the events announced and the new announced state; returns (seq, event)s.

        Guarded by the announced state read earlier: when two schedulers race, only the one
        that still sees the old state records the events.
        """
        recorded: list[tuple[int, rules.Event]] = []
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(campaigns)
                .where(
                    campaigns.c.id == campaign.id,
                    campaigns.c.announced_state == campaign.announced_state.value,
                )
                .values(announced_state=state.value)
            )
            if moved.rowcount != 1:
                return []
            last = conn.execute(
                select(func.max(announcements.c.seq)).where(
                    announcements.c.campaign_id == campaign.id
                )
            ).scalar()
            seq = int(last or 0)
            for event in events:
                seq += 1
                conn.execute(
                    insert(announcements).values(
                        campaign_id=campaign.id, seq=seq, event=event.value, at=at
                    )
                )
                recorded.append((seq, event))
            bump_board(conn, campaign.id, self.clock())
        return recorded

    def announcements(self, campaign_id: int) -> list[tuple[int, rules.Event, datetime]]:
        """Every announced event of the campaign: (seq, event, when)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(announcements.c.seq, announcements.c.event, announcements.c.at)
                .where(announcements.c.campaign_id == campaign_id)
                .order_by(announcements.c.seq)
            )
            return [(row.seq, rules.Event(row.event), row.at) for row in rows]

    def queue(
        self,
        campaign_id: int,
        message: str,
        entries: Iterable[tuple[str, str, str, str]],
    ) -> int:
        """Queue ``(recipient, channel, subject, body)`` entries for ``message``, once each.

        A (campaign, message, recipient) already queued is skipped, whoever queued it: this
        is what keeps the scheduler from notifying anyone twice. Returns how many were new.
        """
        rows = [
            {
                "campaign_id": campaign_id,
                "message": message,
                "recipient": recipient,
                "channel": channel,
                "subject": subject,
                "body": body,
                "created_at": self.clock(),
                "attempts": 0,
                "last_error": "",
            }
            for recipient, channel, subject, body in entries
        ]
        if not rows:
            return 0
        dialect_insert = (
            postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        )
        # RETURNING tells inserted from skipped rows on both engines (rowcount does not when
        # PostgreSQL returns the new primary key).
        statement = (
            dialect_insert(outbox)
            .on_conflict_do_nothing(index_elements=["campaign_id", "message", "recipient"])
            .returning(outbox.c.id)
        )
        added = 0
        with self.engine.begin() as conn:
            for row in rows:
                added += len(conn.execute(statement, row).all())
        return added

    def claim_unsent(
        self, limit: int = 100, max_attempts: int = 5, lease: timedelta = OUTBOX_LEASE
    ) -> list[OutboxMessage]:
        """Claim up to ``limit`` unsent messages for this sender, for ``lease``.

        One statement claims them: ``WITH picked AS MATERIALIZED (SELECT … FOR UPDATE SKIP
        LOCKED) UPDATE … RETURNING`` on PostgreSQL, so two processes delivering at once each
        get different rows, never the same one (on SQLite the write lock serialises it). A claim
        whose sender was killed before :meth:`mark_sent` lapses after ``lease`` and the
        message is claimed again: a kill never loses a message.
        """
        now = self.clock()
        stale = now - lease
        claimable = (
            outbox.c.sent_at.is_(None),
            outbox.c.bounced_at.is_(None),
            outbox.c.attempts < max_attempts,
            (outbox.c.claimed_at.is_(None)) | (outbox.c.claimed_at < stale),
        )
        chosen = select(outbox.c.id).where(*claimable).order_by(outbox.c.id).limit(limit)
        claim = update(outbox).values(claimed_at=now, attempts=outbox.c.attempts + 1)
        if self.engine.dialect.name == "postgresql":
            # A materialised CTE runs the locking SELECT exactly once; inside ``IN (…)`` the
            # planner may run it again per row and claim more than ``limit``. SKIP LOCKED: a
            # row another sender is claiming right now is left to it, not waited for.
            picked = (
                chosen.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
            )
            claim = claim.where(outbox.c.id == picked.c.id, *claimable)
        else:
            # SQLite's write lock serialises the whole statement. Not correlated with the
            # UPDATE's own table: the subquery chooses ``limit`` rows of the whole outbox.
            claim = claim.where(outbox.c.id.in_(chosen.correlate(None).scalar_subquery()))
        statement = claim.returning(outbox)
        with self.engine.begin() as conn:
            rows = list(conn.execute(statement))
        return [
            OutboxMessage(
                row.id,
                row.campaign_id,
                row.message,
                row.recipient,
                row.channel,
                row.subject,
                row.body,
                row.attempts,
            )
            for row in sorted(rows, key=lambda row: row.id)
        ]

    def mark_sent(self, message_id: int) -> None:
        """Record that a message was delivered."""
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox).where(outbox.c.id == message_id).values(sent_at=self.clock())
            )

    def mark_failed(self, message_id: int, error: str) -> None:
        """Release a message for a later attempt, noting why delivery failed."""
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == message_id)
                .values(claimed_at=None, last_error=error[:500])
            )

    def outbox(self, campaign_id: int | None = None) -> list[dict[str, Any]]:
        """Every queued message (for the coordinator's page and tests)."""
        query = select(outbox).order_by(outbox.c.id)
        if campaign_id is not None:
            query = query.where(outbox.c.campaign_id == campaign_id)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]
