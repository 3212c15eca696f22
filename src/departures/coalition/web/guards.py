"""Who may see a page: the guards the views of several modules share (they read the session
only, so the middleware runs them before any body byte is read), and the campaign a signed-in
coordinator manages. Below the view modules, so that views never import each other
(``coordinator.py`` and ``member.py`` still define their own first two; they can import them
from here instead)."""

from __future__ import annotations

from departures.coalition.errors import NotAllowed
from departures.coalition.i18n import _
from departures.coalition.store import Campaign
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site

__all__ = ["coordinator_id", "member_signed_in", "own_campaign"]


def coordinator_id(ctx: Ctx) -> int:
    """The signed-in coordinator; refused otherwise (a guard: reads the session only)."""
    if ctx.coordinator_id is None:
        raise NotAllowed(_("this page is for coordinators"), _("Sign in at /login first"))
    return ctx.coordinator_id


def member_signed_in(ctx: Ctx) -> int:
    """The signed-in organisation's id; refused otherwise (a guard: reads the session only)."""
    if ctx.organisation_id is None:
        raise NotAllowed(
            _("this page is for member organisations"),
            _("Sign in at /member/sign-in with your member key"),
        )
    return ctx.organisation_id


def own_campaign(site: Site, ctx: Ctx) -> Campaign:
    """The campaign of the URL's ``slug``, if the signed-in coordinator manages it."""
    own = coordinator_id(ctx)
    campaign = site.store.campaign(ctx.param("slug"))
    if campaign.coordinator_id != own:
        raise NotAllowed(_("only the campaign's coordinator can manage it"))
    return campaign
