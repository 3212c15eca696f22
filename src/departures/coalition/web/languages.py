"""Choosing languages: a member's own (its e-mails and its suggested welcome post), chosen
when joining and changed on the member page, and a campaign's (the languages its public board
is published in), chosen by its coordinator. A reader's language for the pages is not stored
here: web/language.py negotiates it per request."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from departures.coalition.errors import NotAllowed
from departures.coalition.i18n import _
from departures.coalition.store import languages as stored
from departures.coalition.web import middleware
from departures.coalition.web.guards import coordinator_id, member_signed_in
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site, redirect
from departures.i18n import LANGUAGES

__all__ = ["routes"]


def member_language(site: Site, ctx: Ctx) -> Response:
    """The member changes the language of its e-mails and suggested welcome post."""
    organisation_id = member_signed_in(ctx)
    code = ctx.form.choice("language", _("Language"), LANGUAGES)
    stored.set_organisation_language(site.store.engine, organisation_id, code)
    return redirect("/member#language")


def campaign_languages(site: Site, ctx: Ctx) -> Response:
    """The coordinator chooses the languages of the campaign's public board: the ticked
    ones, the fallback (for readers of any other language) first."""
    own = coordinator_id(ctx)
    campaign = site.store.campaign(ctx.param("slug"))
    if campaign.coordinator_id != own:
        raise NotAllowed(_("only the campaign's coordinator can manage it"))
    ticked = [code for code in LANGUAGES if ctx.form.flag(f"language_{code}")]
    fallback = ctx.form.fields.get("fallback", "")
    ordered = [fallback, *ticked] if fallback in ticked else ticked
    stored.set_campaign_languages(site.store.engine, campaign.id, ordered, site.store.clock())
    return redirect(f"/coordinator/campaigns/{campaign.slug}#languages")


def routes(site: Site) -> list[Route]:
    """The two forms' routes (each refuses the wrong visitor before reading the form)."""
    return [
        Route(
            "/member/language",
            middleware.page(site, member_language, guard=member_signed_in),
            methods=["POST"],
        ),
        Route(
            "/coordinator/campaigns/{slug}/languages",
            middleware.page(site, campaign_languages, guard=coordinator_id),
            methods=["POST"],
        ),
    ]
