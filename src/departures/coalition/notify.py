"""Telling everyone: the scheduler pass that announces state changes, reminds and follows up.

One pass (:meth:`Notifier.tick`, run every minute by ``coalition serve`` and once by
``departures coalition tick``) does, for every campaign:

1. compare the state with the last one announced (:func:`rules.events_since`) and queue a
   message for *every organisation that pledged* (not only the coordinator) and the optional
   webhook, for each event;
2. queue deadline reminders (7 days and 1 day before) to members without a pledge in force;
3. a day after the departure, check that members who went have landed (marked themselves, or
   their Bluesky account has posts) and queue a follow-up to those who have not;
4. call the Bluesky hooks (departure-day posts, list sync; see departure.py, listsync.py);
5. tell the members who may decide a waiting moderation-list proposal or appeal, once
   (:mod:`.modlist_notices`);

and, across campaigns, the reconnect pass (:mod:`.reconnect`): directory entries new for a
member that uploaded its X following list are proposed to it by e-mail, and followed for it
when it asked;

then it delivers the unsent messages of the outbox by SMTP or webhook. Each (campaign,
message, recipient) is queued once (a unique key), so a pass can run any number of times,
from several processes, without notifying anyone twice.

Several server processes on one store: the pass runs in one process at a time
(:func:`~departures.coalition.store.processes.scheduler_turn`: PostgreSQL's advisory lock, a
lease row on SQLite); a process that finds it taken skips its pass (``TickReport.skipped``).
Delivery claims its messages in one statement (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so
two senders never take the same one; a sender killed with claimed messages leaves them to be
claimed again once their lease (``outbox_lease``) lapses. Only a kill in the instant between
the SMTP server accepting a message and the store recording it can repeat that one message
(at-least-once, never silent loss); its ``Message-ID`` is derived from the outbox row, so the
repeat carries the same id and a receiving system can recognise it.
"""

from __future__ import annotations

import json
import logging
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage

import httpx

from departures.coalition import modlist_notices, rules
from departures.coalition.bounces import verp_address
from departures.coalition.handles import LandingChecker
from departures.coalition.hooks import DepartureHook, ListSync, NoBlueskyWrites, TriagePass
from departures.coalition.i18n import _, lazy_gettext, use_language
from departures.coalition.invitations import expand_link
from departures.coalition.reconnect import Reconnect
from departures.coalition.rules import Event, State
from departures.coalition.store import (
    Campaign,
    CoalitionStore,
    Organisation,
    OutboxMessage,
    processes,
    utc_now,
)
from departures.coalition.store import access as access_rows
from departures.coalition.store import invitations as invitation_rows
from departures.coalition.store.campaigns import OUTBOX_LEASE
from departures.i18n import format_moment, format_number
from departures.netguard import NetGuard

__all__ = ["REMINDERS", "Notifier", "SMTPSettings", "TickReport"]

log = logging.getLogger(__name__)

REMINDERS = (timedelta(days=7), timedelta(days=1))
FOLLOW_THROUGH_AFTER = timedelta(days=1)
# Landings are checked on the network (one profile read per member not yet landed and not
# yet followed up, every pass) only in the week after; later, members mark themselves.
FOLLOW_THROUGH_UNTIL = timedelta(days=8)
# How long a pass may hold the SQLite scheduler lease before another process may take it
# (PostgreSQL's advisory lock needs none: it goes with its holder's connection).
PASS_LEASE = timedelta(minutes=10)
# Stored rate counts are kept a day: longer than any limit's window.
RATE_COUNTS_KEPT = timedelta(days=1)


@dataclass(frozen=True)
class SMTPSettings:
    """Where e-mail goes out. The password is never logged or shown."""

    host: str = "localhost"
    port: int = 25
    sender: str = "departures@localhost"
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 20.0
    # Where later bounces go: each message is sent from bounces+<outbox id>@… (VERP), so a
    # delivery report names it (departures.coalition.bounces). None: the sender address.
    bounce_address: str | None = None


@dataclass
class TickReport:
    """What one scheduler pass did."""

    campaigns: int = 0
    queued: int = 0
    sent: int = 0
    failed: int = 0
    landed: int = 0
    proposed: int = 0  # directory entries proposed to members (reconnect)
    followed: int = 0  # follows made for members (reconnect)
    purged: int = 0  # expired web and directory sessions deleted
    triaged: int = 0  # replies scored by the triage pass (queued: see the member pages)
    skipped: bool = False  # another process was running its pass: this one did nothing
    errors: list[str] = field(default_factory=list)


# Translated for each recipient, in the organisation's own language.
_EVENT_SUBJECTS = {
    Event.CAMPAIGN_ON: lazy_gettext("{title}: the campaign is on"),
    Event.CAMPAIGN_OFF: lazy_gettext("{title}: the campaign is off"),
    Event.BACK_TO_OPEN: lazy_gettext("{title}: the campaign is open again"),
    Event.DEPARTED: lazy_gettext("{title}: departure day"),
}
_EVENT_BODIES = {
    Event.CAMPAIGN_ON: lazy_gettext(
        "Enough organisations have pledged: {going} are going, the threshold was "
        "{threshold}. The departure is on {departure}. Pledges can still change until "
        "{deadline}."
    ),
    Event.CAMPAIGN_OFF: lazy_gettext(
        "The pledge deadline passed without reaching the threshold of {threshold} "
        "organisations ({going} would have gone). Nobody is bound to leave."
    ),
    Event.BACK_TO_OPEN: lazy_gettext(
        "A pledge was withdrawn: {going} organisations are going, the threshold is "
        "{threshold}. Until {deadline}, new pledges can put it on again."
    ),
    Event.DEPARTED: lazy_gettext(
        "Today is the day: the {going} organisations leave X together and land on Bluesky. "
        "Your checklist and farewell text are on your member page."
    ),
}


class Notifier:
    """Runs scheduler passes over a store and delivers its outbox."""

    def __init__(
        self,
        store: CoalitionStore,
        *,
        base_url: str,
        smtp: SMTPSettings | None = None,
        webhook_url: str | None = None,
        landing: LandingChecker | None = None,
        departure_hook: DepartureHook | None = None,
        list_sync: ListSync | None = None,
        reconnect: Reconnect | None = None,
        triage: TriagePass | None = None,
        outbox_lease: timedelta = OUTBOX_LEASE,
        pass_lease: timedelta = PASS_LEASE,
        outbox_batch: int = 100,
        secret_key: bytes | None = None,
    ) -> None:
        self.store = store
        # Writes the links into invitation e-mails at send time (they are never stored).
        self.secret_key = secret_key
        self.outbox_batch = outbox_batch
        self.outbox_lease = outbox_lease
        self.pass_lease = pass_lease
        self.base_url = base_url.rstrip("/")
        self.smtp = smtp
        self.webhook_url = webhook_url
        self.guard = NetGuard.for_service(webhook_url)
        self.landing = landing
        self.departure_hook: DepartureHook = departure_hook or NoBlueskyWrites()
        self.list_sync: ListSync = list_sync or NoBlueskyWrites()
        # Without a configured one, the pass still proposes (by e-mail); it never follows.
        self.reconnect = reconnect or Reconnect(store)
        # The triage queue's pass (coalition/triage.py) when Bluesky is configured.
        self.triage = triage

    # --- one pass ----------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> TickReport:
        """One pass over every campaign, then deliver the outbox.

        Skipped (``report.skipped``) when another process is running its pass right now.
        """
        report = TickReport()
        # Leases run in real time, whatever clock the campaign rules run on.
        with processes.scheduler_turn(self.store.engine, utc_now(), self.pass_lease) as mine:
            if not mine:
                report.skipped = True
                return report
            self._pass(now or self.store.clock(), report)
        return report

    def _pass(self, moment: datetime, report: TickReport) -> None:
        real_now = utc_now()
        # Sessions and rate counts expire in real time too.
        report.purged = access_rows.purge_expired(self.store.engine, real_now)
        processes.purge_counts(self.store.engine, real_now - RATE_COUNTS_KEPT)
        for campaign in self.store.campaigns():
            if campaign.opened_at is None:
                continue
            report.campaigns += 1
            self._campaign_pass(campaign, moment, report)
            # Proposals and appeals of the moderation list waiting for someone to decide.
            report.queued += modlist_notices.queue(
                self.store, campaign, self.base_url, self.webhook_url
            )
        self._reconnect_pass(moment, report)
        self._triage_pass(report)
        self.deliver(report)

    def _reconnect_pass(self, now: datetime, report: TickReport) -> None:
        # Like a Bluesky hook: a failure is reported, the e-mails still go out.
        try:
            done = self.reconnect.run(self.base_url, now)
        except Exception as exc:
            log.exception("reconnect pass failed")
            report.errors.append(f"reconnect: {exc}")
            return
        report.queued += done.queued
        report.proposed += done.proposed
        report.followed += done.followed
        report.errors.extend(done.errors)

    def _triage_pass(self, report: TickReport) -> None:
        # Like a Bluesky hook: a failure is reported, the e-mails still go out.
        if self.triage is None:
            return
        try:
            done = self.triage.run()
        except Exception as exc:
            log.exception("triage pass failed")
            report.errors.append(f"triage: {exc}")
            return
        report.triaged += done.scored
        report.errors.extend(done.errors)

    def _campaign_pass(self, campaign: Campaign, now: datetime, report: TickReport) -> None:
        pledges = self.store.pledges(campaign.id)
        announcement = rules.events_since(campaign.terms, pledges, campaign.announced_state, now)
        status = rules.campaign_status(campaign.terms, pledges, now)
        organisations = self.store.organisations(campaign.id)
        if announcement.state != campaign.announced_state:
            recorded = self.store.record_announcement(
                campaign, announcement.state, announcement.events, now
            )
            pledgers = {pledge.organisation for pledge in pledges}
            recipients = [org for org in organisations if org.key in pledgers]
            for seq, event in recorded:
                report.queued += self._queue_event(campaign, seq, event, status, recipients)
        if announcement.state in (State.OPEN, State.ON):
            report.queued += self._queue_reminders(campaign, status, organisations, now)
        fate_departed = announcement.state == State.DEPARTED or (
            announcement.state == State.CLOSED
            and any(e == Event.DEPARTED for _, e, _ in self.store.announcements(campaign.id))
        )
        members = [org for org in organisations if org.key in status.resolution.members]
        if fate_departed:
            self._hook(report, "departure", self.departure_hook.on_departure, campaign, members)
            since = now - campaign.departure_at
            if FOLLOW_THROUGH_AFTER <= since < FOLLOW_THROUGH_UNTIL:
                report.queued += self._follow_through(campaign, members, report)
        if announcement.state in (State.OPEN, State.ON, State.DEPARTED):
            landed = [org for org in self.store.organisations(campaign.id) if org.landed_at]
            self._hook(report, "list sync", self.list_sync.sync, campaign, landed)

    def _hook(
        self,
        report: TickReport,
        what: str,
        hook: Callable[[Campaign, Sequence[Organisation]], None],
        campaign: Campaign,
        organisations: Sequence[Organisation],
    ) -> None:
        # A failing Bluesky hook must not stop the e-mails: it is reported and retried next pass.
        try:
            hook(campaign, organisations)
        except Exception as exc:
            log.exception("coalition %s hook failed for %s", what, campaign.slug)
            report.errors.append(f"{what} for {campaign.slug}: {exc}")

    def _page(self, campaign: Campaign) -> str:
        return f"{self.base_url}/campaigns/{campaign.slug}"

    def _queue_event(
        self,
        campaign: Campaign,
        seq: int,
        event: Event,
        status: rules.CampaignStatus,
        recipients: Sequence[Organisation],
    ) -> int:

        def texts() -> tuple[str, str]:
            facts = {
                "title": campaign.title,
                "going": format_number(status.tipping.going),
                "threshold": format_number(campaign.threshold),
                "deadline": format_moment(campaign.deadline, campaign.zone),
                "departure": format_moment(campaign.departure_at, campaign.zone),
            }
            subject = str(_EVENT_SUBJECTS[event]).format(**facts)
            body = str(_EVENT_BODIES[event]).format(**facts)
            return subject, body + "\n\n" + self._page(campaign) + "\n"

        entries = []
        for org in recipients:
            if org.email:
                with use_language(org.language):
                    entries.append((org.email, "email", *texts()))
        if self.webhook_url:
            # The webhook's subject is for the operator's logs: in English (the source).
            with use_language("en"):
                subject, _body = texts()
            payload = {
                "campaign": campaign.slug,
                "event": event.value,
                "seq": seq,
                "state": status.state.value,
                "going": status.tipping.going,
                "threshold": campaign.threshold,
                "board": self._page(campaign),
            }
            entries.append((f"webhook:{self.webhook_url}", "webhook", subject, json.dumps(payload)))
        return self.store.queue(campaign.id, f"{event.value}#{seq}", entries)

    def _queue_reminders(
        self,
        campaign: Campaign,
        status: rules.CampaignStatus,
        organisations: Sequence[Organisation],
        now: datetime,
    ) -> int:
        if now >= campaign.deadline:
            return 0
        left = campaign.deadline - now
        due = [before for before in REMINDERS if left <= before]
        if not due:
            return 0
        # Only the nearest reminder: a campaign opened 3 days before its deadline sends the
        # 1-day reminder later, not the 7-day one late.
        before = min(due)
        pledged = {pledge.organisation for pledge in status.resolution.pledges}

        def texts() -> tuple[str, str]:
            deadline = format_moment(campaign.deadline, campaign.zone)
            subject = _("{title}: pledge before {deadline}").format(
                title=campaign.title, deadline=deadline
            )
            body = _(
                "Your organisation has not pledged yet. {going} organisations are going; the "
                "campaign needs {threshold}. Pledge (or pledge on condition that others go) "
                "before {deadline} on your member page."
            ).format(
                going=format_number(status.tipping.going),
                threshold=format_number(campaign.threshold),
                deadline=deadline,
            )
            return subject, body + "\n\n" + self._page(campaign) + "\n"

        entries = []
        for org in organisations:
            if org.email and org.key not in pledged:
                with use_language(org.language):
                    entries.append((org.email, "email", *texts()))
        return self.store.queue(campaign.id, f"reminder-{before.days}d", entries)

    def _follow_through(
        self, campaign: Campaign, members: Sequence[Organisation], report: TickReport
    ) -> int:
        followed_up = {
            row["recipient"]
            for row in self.store.outbox(campaign.id)
            if row["message"] == "follow-through"
        }
        missing: list[Organisation] = []
        for org in members:
            if org.landed_at is not None or (org.email and org.email in followed_up):
                continue
            if (
                self.landing is not None
                and org.bluesky_did
                and self.landing.has_posted(org.bluesky_did)
            ):
                self.store.mark_landed(org.id)
                report.landed += 1
                continue
            missing.append(org)
        entries = []
        for org in missing:
            if not org.email:
                continue
            with use_language(org.language):
                subject = _("{title}: have you landed on Bluesky?").format(title=campaign.title)
                body = _(
                    "Your organisation pledged to leave X on the departure day, but the board "
                    "does not show it as landed yet: your Bluesky account has no posts and you "
                    "have not marked yourself landed. Post your welcome message, then mark "
                    "yourself landed on your member page."
                )
            entries.append(
                (org.email, "email", subject, body + "\n\n" + self._page(campaign) + "\n")
            )
        return self.store.queue(campaign.id, "follow-through", entries)

    # --- delivery ----------------------------------------------------------------------------

    def deliver(self, report: TickReport | None = None) -> TickReport:
        """Send every unsent message this process may claim."""
        report = report or TickReport()
        messages = self.store.claim_unsent(self.outbox_batch, lease=self.outbox_lease)
        emails = [message for message in messages if message.channel == "email"]
        hooks = [message for message in messages if message.channel == "webhook"]
        if emails:
            self._send_emails(emails, report)
        for message in hooks:
            self._send_webhook(message, report)
        return report

    def _send_emails(self, messages: Sequence[OutboxMessage], report: TickReport) -> None:
        if self.smtp is None:
            for message in messages:
                self._failed(message, "no SMTP server configured", report)
            return
        try:
            with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout) as smtp:
                if self.smtp.starttls:
                    smtp.starttls()
                if self.smtp.username and self.smtp.password:
                    smtp.login(self.smtp.username, self.smtp.password)
                for message in messages:
                    email = self._email(message)
                    if email is None:
                        self._failed(
                            message,
                            "no invitation link to write (revoked, or no secret key)",
                            report,
                        )
                        continue
                    envelope = (
                        verp_address(self.smtp.bounce_address, message.id)
                        if self.smtp.bounce_address
                        else None
                    )
                    try:
                        smtp.send_message(email, from_addr=envelope)
                    except smtplib.SMTPRecipientsRefused as exc:
                        self._refused(message, exc, report)
                    except smtplib.SMTPException as exc:
                        self._failed(message, f"SMTP: {exc}", report)
                    else:
                        self.store.mark_sent(message.id)
                        report.sent += 1
        except (OSError, smtplib.SMTPException) as exc:
            for message in messages:
                self._failed(message, f"SMTP {self.smtp.host}:{self.smtp.port}: {exc}", report)

    def _refused(
        self, message: OutboxMessage, refusal: smtplib.SMTPRecipientsRefused, report: TickReport
    ) -> None:
        # A 5xx reply to RCPT is the server's final word (no such mailbox): a bounce, shown
        # as such and never tried again; a 4xx is a "later", retried like any failure.
        replies = list(refusal.recipients.values())
        reason = "; ".join(
            f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
            for code, text in replies
        )
        if replies and all(code >= 500 for code, _text in replies):
            log.warning("notification %s bounced: %s", message.message, reason)
            invitation_rows.mark_bounced(self.store.engine, message.id, reason, utc_now())
            report.failed += 1
        else:
            self._failed(message, f"SMTP: {reason}", report)

    def _email(self, message: OutboxMessage) -> EmailMessage | None:
        assert self.smtp is not None
        body = expand_link(
            self.store.engine,
            message.message,
            message.body,
            base_url=self.base_url,
            secret_key=self.secret_key,
        )
        if body is None:
            return None
        email = EmailMessage()
        email["From"] = self.smtp.sender
        email["To"] = message.recipient
        email["Subject"] = message.subject
        # From the row, not random: a message repeated after a kill keeps its id.
        email["Message-ID"] = f"<outbox.{message.campaign_id}.{message.id}@departures.local>"
        email["X-Departures-Message"] = f"{message.campaign_id}/{message.message}"
        email.set_content(body)
        return email

    def _send_webhook(self, message: OutboxMessage, report: TickReport) -> None:
        url = message.recipient.removeprefix("webhook:")
        try:
            # Through the guard: https and a public address, unless the operator configured
            # this very origin (a hook on the coalition's own network).
            with self.guard.client() as client:
                response = client.post(
                    url, content=message.body.encode(), headers={"content-type": "application/json"}
                )
        except httpx.HTTPError as exc:
            self._failed(message, f"webhook: {exc}", report)
            return
        if response.is_success:
            self.store.mark_sent(message.id)
            report.sent += 1
        else:
            self._failed(message, f"webhook answered {response.status_code}", report)

    def _failed(self, message: OutboxMessage, error: str, report: TickReport) -> None:
        log.warning(
            "notification %s to recipient #%s not sent: %s", message.message, message.id, error
        )
        self.store.mark_failed(message.id, error)
        report.failed += 1
