"""The coordinator's departure-day view: each member's welcome post and landing as they
happen, newest first. The page reloads itself every :data:`REFRESH_SECONDS` (a ``<meta
http-equiv="refresh">``: no script needed), so it can stay open on a screen all day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.responses import Response
from starlette.routing import Route

from departures.coalition.web import middleware
from departures.coalition.web.guards import coordinator_id
from departures.coalition.web.guards import own_campaign as _own
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site

__all__ = ["REFRESH_SECONDS", "routes"]

REFRESH_SECONDS = 15


@dataclass(frozen=True)
class Happening:
    """One thing that happened on the day: a welcome post published or a member landed."""

    at: datetime
    organisation: str
    kind: str  # "welcome" or "landed"
    link: str


def page(site: Site, ctx: Ctx) -> Response:
    """What the members going have done on the departure day so far."""
    campaign = _own(site, ctx)
    status = site.store.status(campaign)
    going = [
        org for org in site.store.organisations(campaign.id) if org.key in status.resolution.members
    ]
    rows = []
    happenings: list[Happening] = []
    for org in going:
        welcome = site.departure.welcome(org) if site.departure is not None else None
        rows.append((org, welcome))
        if welcome is not None and welcome.published_at is not None:
            happenings.append(
                Happening(welcome.published_at, org.name, "welcome", welcome.post_url)
            )
        if org.landed_at is not None:
            link = f"https://bsky.app/profile/{org.bluesky_handle}" if org.bluesky_handle else ""
            happenings.append(Happening(org.landed_at, org.name, "landed", link))
    # Newest first; at the same minute a landing follows its welcome post.
    happenings.sort(key=lambda h: (h.at, h.kind == "landed"), reverse=True)
    now = site.store.clock()
    return site.render(
        ctx,
        "day_page.html",
        campaign=campaign,
        status=status,
        rows=rows,
        happenings=happenings,
        landed=sum(1 for org in going if org.landed_at is not None),
        published=sum(1 for _org, w in rows if w is not None and w.post_uri),
        now=now,
        started=now >= campaign.departure_at,
        refresh=REFRESH_SECONDS,
    )


def routes(site: Site) -> list[Route]:
    """The day view's route (coordinators only)."""
    return [
        Route(
            "/coordinator/campaigns/{slug}/day",
            middleware.page(site, page, guard=coordinator_id),
        )
    ]
