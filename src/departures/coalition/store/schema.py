"""Every table of the coalition store, in one SQLAlchemy Core :data:`metadata` (the same on
SQLite and PostgreSQL).

This module is the only declaration of the coalition's tables: the store layer
(:mod:`departures.coalition.store`) queries them, and Alembic's environment
(:mod:`departures.coalition.migrations`) compares against them. The schema itself is created
and changed only by the Alembic migrations; ``tests/integration/test_coalition_schema.py``
migrates an empty SQLite and an empty PostgreSQL and checks that autogenerate finds no
difference with these definitions.

Times are stored as UTC without a zone (:class:`UTCDateTime`): SQLite has no timezone type,
and one convention on both engines keeps comparisons right. A campaign keeps its IANA timezone
name separately, to show the departure in the coalition's own time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

__all__ = [
    "UTCDateTime",
    "announcements",
    "bluesky_accounts",
    "bluesky_batches",
    "bluesky_records",
    "board_versions",
    "campaign_graph",
    "campaigns",
    "checklist_ticks",
    "coordinators",
    "departure_posts",
    "directory_claim_audit",
    "directory_entries",
    "directory_follow_batches",
    "directory_sessions",
    "invitations",
    "invites",
    "member_connections",
    "metadata",
    "modlist_appeals",
    "modlist_choices",
    "modlist_events",
    "modlist_proposals",
    "oauth_client_keys",
    "oauth_connections",
    "oauth_pending",
    "organisations",
    "outbox",
    "pledges",
    "rate_counts",
    "reconnect_followings",
    "reconnect_members",
    "reconnect_proposals",
    "scheduler_leases",
    "triage_items",
    "triage_members",
    "triage_notes",
    "triage_settings",
    "triage_words",
    "web_sessions",
]


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as naive UTC; read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetimes are not stored in the coalition store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


metadata = MetaData()

coordinators = Table(
    "coordinators",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    # SHA-256 of a 256-bit random token: the token itself is shown once and never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(80), nullable=False, unique=True),
    Column("coordinator_id", Integer, ForeignKey("coordinators.id"), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("threshold", Integer, nullable=False),
    Column("deadline", UTCDateTime, nullable=False),
    Column("departure_at", UTCDateTime, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("coordinator_handle", String(253), nullable=False, default=""),
    Column("starter_pack_url", String(500), nullable=False, default=""),
    Column("opened_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    # The last state the notifier announced (rules.events_since compares against it).
    Column("announced_state", String(16), nullable=False, default="draft"),
    Column("created_at", UTCDateTime, nullable=False),
    # The languages the board publishes in, comma-separated codes, the first the fallback
    # (store/languages.py); "en" until the coordinator chooses.
    Column("languages", String(32), nullable=False, default="en", server_default="en"),
)

organisations = Table(
    "organisations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("email", String(254), nullable=False, default=""),
    Column("website", String(500), nullable=False, default=""),
    Column("x_handle", String(50), nullable=False, default=""),
    Column("bluesky_handle", String(253), nullable=False, default=""),
    Column("bluesky_did", String(200), nullable=False, default=""),
    Column("verified_domain", Boolean, nullable=False, default=False),
    Column("public_name", Boolean, nullable=False, default=False),
    # SHA-256 of the member's personal sign-in key (shown once, like the coordinator token).
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("landed_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    # The member's chosen language for its e-mails and its default welcome post.
    Column("language", String(8), nullable=False, default="en", server_default="en"),
)

invites = Table(
    "invites",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("note", String(200), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    Column("organisation_id", Integer, ForeignKey("organisations.id")),
)

# Append-only: a pledge row is inserted once; only its withdrawn_at is ever set, once.
pledges = Table(
    "pledges",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False, index=True),
    Column("organisation_id", Integer, ForeignKey("organisations.id"), nullable=False),
    Column("min_others", Integer, nullable=False),
    Column("pledged_at", UTCDateTime, nullable=False),
    Column("withdrawn_at", UTCDateTime),
)

# Each announced state change, numbered per campaign: a campaign can go on, back to open and
# on again, and each time is a separate message.
announcements = Table(
    "announcements",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("event", String(32), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    UniqueConstraint("campaign_id", "seq", name="uq_announcements_campaign_seq"),
)

# The board's version: bumped in the same transaction as every change the public board shows
# (campaign edits, pledges, withdrawals, landings, announcements), so that every server process
# sharing the store knows from one cheap read whether its rendered board is still current.
board_versions = Table(
    "board_versions",
    metadata,
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
)

# One row per (campaign, message, recipient): inserting twice is a no-op, so a message is
# queued once however many times the scheduler runs; claimed_at stops two senders racing.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("message", String(64), nullable=False),
    Column("recipient", String(600), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("claimed_at", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(500), nullable=False, default=""),
    # Set when the receiving server refused the message for good (a 5xx reply at send time):
    # never tried again, shown as bounced (revision 0013).
    Column("bounced_at", UTCDateTime),
    UniqueConstraint("campaign_id", "message", "recipient", name="uq_outbox_message_recipient"),
)

# --- Departure day and the coordinator's list (revision 0002) ------------------------------

# A Bluesky account the coalition writes with: the coordinator's (organisation_id NULL) or a
# member's. ``owner`` is "campaign:<id>" or "organisation:<id>" (one account each). ``secret``
# is the session (refresh token), encrypted (:mod:`departures.coalition.secrets`): the app
# password itself is never stored. ``budget`` is the writer's budget state (JSON).
bluesky_accounts = Table(
    "bluesky_accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner", String(64), nullable=False, unique=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("organisation_id", Integer, ForeignKey("organisations.id")),
    Column("did", String(200), nullable=False),
    Column("handle", String(253), nullable=False),
    Column("service", String(500), nullable=False),
    Column("secret", Text, nullable=False),
    Column("budget", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The writer's journal (the Journal protocol): a batch is inserted as "sent" before it goes,
# then settled as "done" (with its records) or "abandoned". ``writes`` is JSON without values.
bluesky_batches = Table(
    "bluesky_batches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("bluesky_accounts.id"), nullable=False),
    Column("writes", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", String(500), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("settled_at", UTCDateTime),
    # open_batches() asks for an account's batches still "sent" on every writer start.
    Index("ix_bluesky_batches_account_state", "account_id", "state"),
)

# What each journaled write became on the server (creates and deletes alike).
bluesky_records = Table(
    "bluesky_records",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("bluesky_accounts.id"), nullable=False),
    Column("batch_id", Integer, ForeignKey("bluesky_batches.id"), nullable=False),
    Column("key", String(200), nullable=False),
    Column("action", String(16), nullable=False),
    Column("collection", String(100), nullable=False),
    Column("rkey", String(64), nullable=False),
    Column("uri", String(600), nullable=False),
    Column("cid", String(100), nullable=False, default=""),
    Column("existed", Boolean, nullable=False, default=False),
    Column("at", UTCDateTime, nullable=False),
    # last() reads an account's records by key prefix.
    Index("ix_bluesky_records_account_key", "account_id", "key"),
)

# A member's prepared welcome post for the departure day (published once, then post_uri set).
departure_posts = Table(
    "departure_posts",
    metadata,
    Column("organisation_id", Integer, ForeignKey("organisations.id"), primary_key=True),
    Column("text", Text, nullable=False, default=""),
    Column("opted_in", Boolean, nullable=False, default=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("post_uri", String(600), nullable=False, default=""),
    Column("published_at", UTCDateTime),
)

# The coordinator's list, starter pack and moderation list for a campaign, once created.
campaign_graph = Table(
    "campaign_graph",
    metadata,
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), primary_key=True),
    Column("list_uri", String(600), nullable=False, default=""),
    Column("starter_pack_uri", String(600), nullable=False, default=""),
    Column("modlist_uri", String(600), nullable=False, default=""),
    Column("synced_at", UTCDateTime),
)

# --- Reconnect: late directory registrants, proposed or followed (revision 0004) -------------

# A member's reconnect settings: whether the scheduler follows for it ("follow them for us",
# off by default) and when its X following list was uploaded.
reconnect_members = Table(
    "reconnect_members",
    metadata,
    Column("organisation_id", Integer, ForeignKey("organisations.id"), primary_key=True),
    Column("auto_follow", Boolean, nullable=False, default=False),
    Column("uploaded_at", UTCDateTime),
)

# The X ids a member followed (from its archive's following.js): ids only, nothing else.
reconnect_followings = Table(
    "reconnect_followings",
    metadata,
    Column("organisation_id", Integer, ForeignKey("organisations.id"), primary_key=True),
    Column("x_id", String(20), primary_key=True),
    Index("ix_reconnect_followings_x_id", "x_id"),
)

# Each directory entry proposed to a member, once (the primary key), with the e-mail round
# that listed it (``round``) and, when the scheduler follows for the member, what became of
# the follow: "proposed", "followed" (by us), "existing" (followed already), "failed".
reconnect_proposals = Table(
    "reconnect_proposals",
    metadata,
    Column("organisation_id", Integer, ForeignKey("organisations.id"), primary_key=True),
    Column("x_id", String(20), primary_key=True),
    Column("did", String(200), nullable=False, index=True),
    Column("handle", String(253), nullable=False),
    Column("round", Integer, nullable=False),
    Column("proposed_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False, default="proposed"),
    Column("done_at", UTCDateTime),
    Column("uri", String(600), nullable=False, default=""),
    Column("reason", String(500), nullable=False, default=""),
)

# --- The directory (revision 0003) -----------------------------------------------------------

# A consented X id -> Bluesky DID pair (:mod:`departures.coalition.directory`): only pairs their
# owner registered, or a coordinator added for a member organisation, are ever stored.
directory_entries = Table(
    "directory_entries",
    metadata,
    # Several claims on one X id are kept (revision 0011): one row per (X id, DID).
    Column("x_id", String(20), primary_key=True),
    Column("did", String(200), primary_key=True, index=True),
    Column("x_username", String(15), nullable=False),
    Column("handle", String(253), nullable=False),
    Column("source", String(16), nullable=False),
    Column("consented_at", UTCDateTime, nullable=False),
    # How the X side is known: "verified", "vouched", "archive" or "declared"
    # (:mod:`departures.coalition.claims`).
    Column("level", String(10), nullable=False),
    # "active", or "rejected" when a coordinator decided a same-level dispute against it.
    Column("status", String(10), nullable=False),
    Column("level_at", UTCDateTime, nullable=False),
)

# --- X claims' audit, members' Bluesky connections (revision 0011) ---------------------------

# Every vouch, proof and dispute decision on a claim: who, when, why (shown to coordinators).
directory_claim_audit = Table(
    "directory_claim_audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("x_id", String(20), nullable=False, index=True),
    Column("did", String(200), nullable=False, index=True),
    Column("action", String(16), nullable=False),
    Column("level", String(10), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

# The Bluesky account a member organisation connected, and how ("oauth" or "app_password"):
# the board's verified-domain mark rests on it.
member_connections = Table(
    "member_connections",
    metadata,
    Column("organisation_id", Integer, ForeignKey("organisations.id"), primary_key=True),
    Column("did", String(200), nullable=False, index=True),
    Column("handle", String(253), nullable=False),
    Column("method", String(16), nullable=False),
    Column("connected_at", UTCDateTime, nullable=False),
)

# --- Follow all from the directory (revision 0005) -------------------------------------------

# A signed-in visitor's Bluesky session, encrypted, under the SHA-256 of the cookie's token;
# it lives 30 minutes (:mod:`departures.coalition.directory_follow`).
directory_sessions = Table(
    "directory_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("did", String(200), nullable=False),
    Column("secret", Text, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# The writer's journal of one visitor's follows (the Journal protocol), with the budget state
# saved on each settled batch.
directory_follow_batches = Table(
    "directory_follow_batches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("did", String(200), nullable=False, index=True),
    Column("writes", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("budget", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("settled_at", UTCDateTime),
)

# --- Server-side web sessions (revision 0006) ------------------------------------------------

# A browser's session: the cookie holds only a random id, the store its SHA-256 and the data
# (JSON: who is signed in, the CSRF token). Who it belongs to is also in columns of its own, so
# that "sign out everywhere", a key reset or a token revocation ends every session at once; no
# foreign keys, so that erasing an organisation or a coordinator can go in any order.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("data", Text, nullable=False),
    Column("coordinator_id", Integer, index=True),
    Column("organisation_id", Integer, index=True),
    Column("did", String(200), index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

# --- Several server processes on one store (revision 0007) ----------------------------------

# Rate limits that must hold across processes: one row per (limit, key, fixed window), its
# count incremented atomically. ``key_hash`` is the SHA-256 of the client address or account
# handle, so the table names nobody; rows of past windows are purged by the scheduler pass.
rate_counts = Table(
    "rate_counts",
    metadata,
    Column("bucket", String(32), primary_key=True),
    Column("key_hash", String(64), primary_key=True),
    Column("window_start", UTCDateTime, primary_key=True),
    Column("count", Integer, nullable=False),
    Index("ix_rate_counts_window_start", "window_start"),
)

# SQLite's stand-in for PostgreSQL's advisory lock: the process holding the named lease runs
# the scheduler pass until ``expires_at`` (a killed holder's lease lapses by itself).
scheduler_leases = Table(
    "scheduler_leases",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# --- The moderation list with due process (revision 0009) ------------------------------------

# An account proposed for the campaign's moderation list, and what became of it: "proposed",
# then "rejected" or "listed" (approved: written to the list; ``listed_uri`` once the list item
# exists), then "removed" after an upheld appeal (``unlisted_at`` once the item is deleted).
# ``active_did`` is the subject's DID while the proposal is open or the account is (still) on
# the list, NULL otherwise: the unique constraint keeps one live proposal per account.
# Who acted is a member (an organisation id) or the coordinator (a coordinator id); no foreign
# keys on them, so erasing an organisation can clear them in any order.
modlist_proposals = Table(
    "modlist_proposals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False, index=True),
    Column("subject_did", String(200), nullable=False, index=True),
    Column("subject_handle", String(253), nullable=False, default=""),
    Column("reasons", Text, nullable=False),
    # A JSON list of links (to posts) given as evidence.
    Column("evidence", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("active_did", String(200)),
    Column("proposer_organisation_id", Integer, index=True),
    Column("proposer_coordinator_id", Integer),
    Column("proposed_at", UTCDateTime, nullable=False),
    Column("decider_organisation_id", Integer, index=True),
    Column("decider_coordinator_id", Integer),
    Column("decided_at", UTCDateTime),
    Column("decision_reason", Text, nullable=False, default=""),
    Column("listed_uri", String(600), nullable=False, default=""),
    Column("listed_at", UTCDateTime),
    Column("unlisted_at", UTCDateTime),
    UniqueConstraint("campaign_id", "active_did", name="uq_modlist_proposals_active"),
)

# A listed account's appeal (signed in with Bluesky as the listed DID): "open", then "upheld"
# (the entry is removed) or "dismissed"; ``open_proposal`` keeps one open appeal per entry.
modlist_appeals = Table(
    "modlist_appeals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("proposal_id", Integer, ForeignKey("modlist_proposals.id"), nullable=False, index=True),
    Column("statement", Text, nullable=False),
    Column("filed_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("open_proposal", Integer, unique=True),
    Column("decider_organisation_id", Integer, index=True),
    Column("decider_coordinator_id", Integer),
    Column("decided_at", UTCDateTime),
    Column("decision_reason", Text, nullable=False, default=""),
)

# The audit log: every step of every proposal (who, when, what, why), appended in the same
# transaction as the change it records. ``actor_kind``: "member", "coordinator", "account"
# (the listed account itself) or "service" (the list written on Bluesky).
modlist_events = Table(
    "modlist_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False, index=True),
    Column("proposal_id", Integer, ForeignKey("modlist_proposals.id"), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("action", String(24), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_organisation_id", Integer, index=True),
    Column("actor_coordinator_id", Integer),
    Column("reason", Text, nullable=False, default=""),
)

# How a member uses the list: "block" (a listblock record), "mute" (the list muted at the
# AppView) or "none"; the member's own choice, as last made on its page.
modlist_choices = Table(
    "modlist_choices",
    metadata,
    Column("organisation_id", Integer, primary_key=True),
    Column("choice", String(8), nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
)

# --- AT Protocol OAuth (revision 0012) -------------------------------------------------------

# The service's OAuth client keys (ES256 private JWKs, encrypted with the vault), newest
# first by created_at; a retired key stays published in the JWKS until it is deleted.
oauth_client_keys = Table(
    "oauth_client_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("secret", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("retired_at", UTCDateTime),
)

# A sign-in between the redirect to the authorisation server and its callback: the PKCE
# verifier and DPoP key (encrypted) under the SHA-256 of the OAuth ``state``; taken once.
oauth_pending = Table(
    "oauth_pending",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("secret", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
)

# Which owner's account (organisation:N, campaign:N) was connected through OAuth, and as
# which DID: what the verified-domain mark relies on (a password proves less).
oauth_connections = Table(
    "oauth_connections",
    metadata,
    Column("owner", String(64), primary_key=True),
    Column("did", String(200), nullable=False, index=True),
    Column("connected_at", UTCDateTime, nullable=False),
)

# --- Invitations sent by e-mail and the members' checklists (revision 0013) -----------------

# An invitation the service e-mails (one by one or from a CSV): who it is for and the random
# ``nonce`` from which the link's token is derived with the service's secret key
# (:mod:`departures.coalition.invitations`), so the token itself is never stored and the same
# link can be sent again. ``invite_id`` is the single-use invite it admits with (no foreign
# key: revoking deletes that invite, the invitation row stays, revoked). ``sends`` counts the
# e-mails queued for it: each is the outbox message ``invitation:<id>#<n>``.
invitations = Table(
    "invitations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False, index=True),
    Column("invite_id", Integer, index=True),
    Column("name", String(200), nullable=False),
    Column("email", String(254), nullable=False),
    Column("website", String(500), nullable=False, default=""),
    Column("nonce", String(64), nullable=False, unique=True),
    Column("sends", Integer, nullable=False, default=1),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    # The e-mail's language, chosen by the coordinator (revision 0015); NULL for invitations
    # made before: sent again in the coordinator's language of the moment.
    Column("language", String(8)),
)

# A member's departure checklist: one row per item ticked (unticking deletes it).
checklist_ticks = Table(
    "checklist_ticks",
    metadata,
    Column("organisation_id", Integer, ForeignKey("organisations.id"), primary_key=True),
    Column("item", String(32), primary_key=True),
    Column("ticked_at", UTCDateTime, nullable=False),
)

# --- Reply controls and the triage queue for hostile replies (revision 0014) -----------------

# A member's reply and quote controls for its welcome post (JSON of migrate.gates.GateChoice)
# and whether the triage pass reads the replies to its recent posts (off by default).
triage_members = Table(
    "triage_members",
    metadata,
    Column("organisation_id", Integer, ForeignKey("organisations.id"), primary_key=True),
    Column("opted_in", Boolean, nullable=False, default=False),
    Column("gate_choice", Text, nullable=False, default=""),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("last_pass_at", UTCDateTime),
)

# The coalition's threshold (0-1) for queuing a reply, per campaign; edited by the coordinator.
triage_settings = Table(
    "triage_settings",
    metadata,
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), primary_key=True),
    Column("threshold", Integer, nullable=False),  # percent
    Column("updated_at", UTCDateTime, nullable=False),
)

# The coalition's word lists, one per campaign and language (one term or phrase a line).
triage_words = Table(
    "triage_words",
    metadata,
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), primary_key=True),
    Column("lang", String(8), primary_key=True),
    Column("words", Text, nullable=False, default=""),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Every reply, mention or quote the pass scored, once per member (the unique key): its score
# and reasons, kept to tune the threshold; the text only while it waits for a person.
# ``state``: below (under the threshold), queued, hiding (a hide being written), hidden,
# proposed (author proposed to the moderation list), dismissed.
triage_items = Table(
    "triage_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", Integer, ForeignKey("organisations.id"), nullable=False),
    Column("subject_uri", String(600), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("post_uri", String(600), nullable=False),
    Column("root_uri", String(600), nullable=False, default=""),
    Column("author_did", String(200), nullable=False, index=True),
    Column("author_handle", String(253), nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    Column("score", Integer, nullable=False),  # percent, the larger of the two below
    Column("model_score", Integer, nullable=False),
    Column("reasons", Text, nullable=False, default="[]"),
    Column("threshold", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("scored_at", UTCDateTime, nullable=False),
    Column("decided_by", String(200), nullable=False, default=""),
    Column("decided_at", UTCDateTime),
    Column("decision_note", String(500), nullable=False, default=""),
    UniqueConstraint("organisation_id", "subject_uri", name="uq_triage_items_subject"),
    Index("ix_triage_items_queue", "organisation_id", "state"),
)

# Posts the pass could not read (deleted, taken down, unreadable), with why: skipped, noted.
triage_notes = Table(
    "triage_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", Integer, ForeignKey("organisations.id"), nullable=False, index=True),
    Column("post_uri", String(600), nullable=False),
    Column("note", String(500), nullable=False),
    Column("noted_at", UTCDateTime, nullable=False),
)
