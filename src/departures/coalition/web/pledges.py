"""The coordinator's picture of the pledges: who is in unconditionally, who on condition,
what the resolver decides and why ("these 12 go because these 9 go"), and how far each
member is with its departure checklist.

The reasons come from the pure rules (:func:`departures.coalition.rules.explain`); this
module only names the organisations.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from departures.coalition import checklist, rules
from departures.coalition.web import middleware
from departures.coalition.web.guards import coordinator_id
from departures.coalition.web.guards import own_campaign as _own
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site

__all__ = ["routes"]


def page(site: Site, ctx: Ctx) -> Response:
    """The pledge picture of one campaign."""
    campaign = _own(site, ctx)
    status = site.store.status(campaign)
    explanation = rules.explain(status.resolution)
    organisations = site.store.organisations(campaign.id)
    by_key = {org.key: org for org in organisations}
    pledged = {pledge.organisation for pledge in status.resolution.pledges}
    return site.render(
        ctx,
        "pledges_page.html",
        campaign=campaign,
        status=status,
        explanation=explanation,
        org=by_key,
        not_pledged=[org for org in organisations if org.key not in pledged],
        organisations=organisations,
        progress=checklist.progress(site.store.engine, campaign.id),
        checklist_size=len(checklist.ITEMS),
    )


def routes(site: Site) -> list[Route]:
    """The pledge picture's route (coordinators only)."""
    return [
        Route(
            "/coordinator/campaigns/{slug}/pledges",
            middleware.page(site, page, guard=coordinator_id),
        )
    ]
