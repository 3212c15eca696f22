"""The public departures board: who pledged, departed and landed, as data, JSON and Atom.

Organisations that did not opt in to a public name are neither named nor linked (their handle
would name them): they are shown as "an organisation" and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from departures.coalition.handles import website_host
from departures.coalition.i18n import _, current_language, lazy_gettext
from departures.coalition.rules import CampaignStatus, Event, State
from departures.coalition.store import Campaign, CoalitionStore, Organisation
from departures.coalition.store import claims as claim_rows
from departures.coalition.store.claims import MemberConnection

__all__ = ["Board", "BoardEntry", "atom_feed", "board_json", "load_board"]

ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class BoardEntry:
    """One organisation on the board."""

    organisation: Organisation
    status: str
    """``pledged``, ``conditional`` (waiting for others), ``departed`` or ``landed``."""
    min_others: int
    pledged_at: datetime | None
    connection: MemberConnection | None = None
    """The Bluesky account the organisation connected (how its domain mark was earned)."""

    @property
    def public(self) -> bool:
        """Whether the organisation agreed to be named."""
        return self.organisation.public_name

    @property
    def status_label(self) -> str:
        """The status in words, for the board."""
        if self.status == "conditional":
            return _("pledged if %(n)d others go") % {"n": self.min_others}
        return str(_STATUS_LABELS[self.status])

    @property
    def domain_mark(self) -> dict[str, str] | None:
        """How the "✓ verified domain" mark was earned, or None when it is not shown."""
        org = self.organisation
        if not (self.public and org.verified_domain and self.connection is not None):
            return None
        return {
            "earned_by": "bluesky_oauth_connection",
            "handle": self.connection.handle,
            "website_domain": website_host(org.website),
            "connected_at": self.connection.connected_at.isoformat(),
        }

    @property
    def display_name(self) -> str:
        """Its name, or "an organisation" when it did not opt in."""
        return self.organisation.name if self.public else _("an organisation")


@dataclass(frozen=True)
class Board:
    """Everything the board shows about one campaign at one moment."""

    campaign: Campaign
    status: CampaignStatus
    entries: tuple[BoardEntry, ...]
    announcements: tuple[tuple[int, Event, datetime], ...]
    now: datetime

    @property
    def state(self) -> State:
        """The campaign's state."""
        return self.status.state

    @property
    def departed(self) -> bool:
        """Whether the departure has happened (departed, or closed after departing)."""
        return any(event == Event.DEPARTED for _, event, _ in self.announcements) or (
            self.state == State.DEPARTED
        )

    @property
    def gone_count(self) -> int:
        """How many organisations have left X (departed or landed on Bluesky)."""
        return sum(1 for entry in self.entries if entry.status in ("departed", "landed"))

    @property
    def hidden_count(self) -> int:
        """How many organisations on the board are not named."""
        return sum(1 for entry in self.entries if not entry.public)


# Translated when shown, in the reader's language (not once at import).
_STATUS_LABELS = {
    "pledged": lazy_gettext("pledged"),
    "departed": lazy_gettext("departed"),
    "landed": lazy_gettext("landed"),
}


def load_board(store: CoalitionStore, slug: str, now: datetime | None = None) -> Board:
    """Build the board of campaign ``slug`` from the store."""
    campaign = store.campaign(slug)
    moment = now or store.clock()
    status = store.status(campaign, moment)
    history = tuple(store.announcements(campaign.id))
    departed = status.state == State.DEPARTED or any(e == Event.DEPARTED for _, e, _ in history)
    by_key = {pledge.organisation: pledge for pledge in status.resolution.pledges}
    entries: list[BoardEntry] = []
    members = store.organisations(campaign.id)
    connections = claim_rows.member_connections_of(store.engine, [o.id for o in members])
    for organisation in members:
        pledge = by_key.get(organisation.key)
        going = organisation.key in status.resolution.members
        if organisation.landed_at is not None and (pledge is not None or departed):
            state = "landed"
        elif pledge is None:
            continue
        elif departed and going:
            state = "departed"
        elif going:
            state = "pledged"
        else:
            state = "conditional"
        entries.append(
            BoardEntry(
                organisation,
                state,
                pledge.min_others if pledge else 0,
                pledge.pledged_at if pledge else None,
                connections.get(organisation.id),
            )
        )
    return Board(campaign, status, tuple(entries), history, moment)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def board_json(board: Board) -> dict[str, Any]:
    """The board as the JSON document served at ``/campaigns/<slug>/board.json``."""
    campaign = board.campaign
    organisations = []
    for entry in board.entries:
        org = entry.organisation
        organisations.append(
            {
                "name": org.name if entry.public else None,
                "public": entry.public,
                "status": entry.status,
                "status_label": entry.status_label,
                "min_others": entry.min_others,
                "bluesky_handle": (org.bluesky_handle or None) if entry.public else None,
                "bluesky_did": (org.bluesky_did or None) if entry.public else None,
                "verified_domain": entry.domain_mark is not None,
                # How the mark was earned: the account connected through Bluesky's OAuth
                # sign-in, and its handle is the website's domain (None: no mark).
                "verified_domain_how": entry.domain_mark,
                "pledged_at": _iso(entry.pledged_at),
                "landed_at": _iso(org.landed_at),
            }
        )
    return {
        "slug": campaign.slug,
        "title": campaign.title,
        # The language of the texts in words (status labels), as the reader negotiated it.
        "language": current_language(),
        "state": board.state.value,
        "threshold": campaign.threshold,
        "going": board.status.tipping.going,
        "more_needed": board.status.tipping.more_needed,
        "deadline": _iso(campaign.deadline),
        "departure_at": _iso(campaign.departure_at),
        "timezone": campaign.timezone,
        "starter_pack_url": campaign.starter_pack_url or None,
        "generated_at": _iso(board.now),
        "organisations": organisations,
    }


_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_EVENT_TITLES = {
    Event.CAMPAIGN_ON: lazy_gettext("The campaign is on: the threshold is reached"),
    Event.CAMPAIGN_OFF: lazy_gettext("The campaign is off: the threshold was not reached"),
    Event.BACK_TO_OPEN: lazy_gettext("The campaign is open again: a pledge was withdrawn"),
    Event.DEPARTED: lazy_gettext("Departure: the organisations have left X"),
}


def atom_feed(board: Board, base_url: str) -> bytes:
    """An Atom 1.0 feed of the campaign's announcements and the organisations' landings."""
    campaign = board.campaign
    page = f"{base_url.rstrip('/')}/campaigns/{campaign.slug}"
    tag = f"tag:departures,2025:campaign/{campaign.slug}"
    items: list[tuple[datetime, str, str, str]] = []
    for seq, event, at in board.announcements:
        items.append((at, f"{tag}/event/{seq}", str(_EVENT_TITLES[event]), campaign.title))
    for entry in board.entries:
        org = entry.organisation
        if org.landed_at is None:
            continue
        handle = f" (@{org.bluesky_handle})" if entry.public and org.bluesky_handle else ""
        items.append(
            (
                org.landed_at,
                f"{tag}/landed/{org.id}",
                _("%(name)s landed on Bluesky") % {"name": entry.display_name} + handle,
                campaign.title,
            )
        )
    items.sort(key=lambda item: item[0], reverse=True)
    ET.register_namespace("", ATOM)
    # The entries' titles are in the current language (the board's, negotiated per reader).
    feed = ET.Element(f"{{{ATOM}}}feed", {_XML_LANG: current_language()})
    ET.SubElement(feed, f"{{{ATOM}}}id").text = tag
    ET.SubElement(feed, f"{{{ATOM}}}title").text = campaign.title
    updated = items[0][0] if items else campaign.created_at
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = updated.isoformat()
    ET.SubElement(feed, f"{{{ATOM}}}link", href=page)
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=f"{page}/feed.atom")
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = campaign.coordinator_handle or campaign.title
    for at, entry_id, title, summary in items:
        item = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(item, f"{{{ATOM}}}id").text = entry_id
        ET.SubElement(item, f"{{{ATOM}}}title").text = title
        ET.SubElement(item, f"{{{ATOM}}}updated").text = at.isoformat()
        ET.SubElement(item, f"{{{ATOM}}}link", href=page)
        ET.SubElement(item, f"{{{ATOM}}}summary").text = summary
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body
