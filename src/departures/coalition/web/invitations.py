"""The coordinator's invitations page: invite organisations one by one or from a CSV, with
the e-mails sent by the service; send one again, revoke one, and see what became of each
(queued, sent, bounced, accepted, ...).

The e-mails go through the outbox (the scheduler pass sends them); a CSV is imported whole or
not at all, and a bad file is explained on the page with the row it stumbled on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from starlette.responses import Response
from starlette.routing import Route

from departures.coalition.errors import BadInput
from departures.coalition.i18n import _, lazy_gettext
from departures.coalition.invitations import MAX_CSV_BYTES, Invitations, check_invitee
from departures.coalition.store import Campaign
from departures.coalition.web import middleware
from departures.coalition.web.guards import coordinator_id
from departures.coalition.web.guards import own_campaign as _own
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site, redirect
from departures.coalition.web.uploads import Files, UploadLimits
from departures.errors import DeparturesError

__all__ = ["CSV_UPLOAD", "routes"]

CSV_UPLOAD = UploadLimits(
    max_body=MAX_CSV_BYTES + 16 * 1024,
    max_files=1,
    max_fields=3,  # csrf, days; the file input when a client sends it empty as a field
    max_field_size=1024,
    # Translated when the hint is shown, in the language of that request.
    too_large_hint=cast(str, lazy_gettext("Invite at most 500 organisations per file")),
)


def _invitations(site: Site) -> Invitations:
    return Invitations(site.store, site.secret_key, site.base_url)


def _page(site: Site, ctx: Ctx, campaign: Campaign, code: int = 200, **extra: object) -> Response:
    now = site.store.clock()
    listed = _invitations(site).of_campaign(campaign)
    states = [item.state(now) for item in listed]
    return site.render(
        ctx,
        "invitations_page.html",
        code=code,
        campaign=campaign,
        invitations=list(zip(listed, states, strict=True)),
        counts={state: states.count(state) for state in set(states)},
        **extra,
    )


def page(site: Site, ctx: Ctx) -> Response:
    """The campaign's e-mailed invitations and the forms to send more."""
    return _page(site, ctx, _own(site, ctx))


def _days(ctx: Ctx) -> timedelta:
    return timedelta(days=ctx.form.integer("days", _("Valid for (days)"), minimum=1, maximum=90))


def invite_one(site: Site, ctx: Ctx) -> Response:
    """Invite one organisation by e-mail."""
    campaign = _own(site, ctx)
    invitee = check_invitee(
        ctx.form.text("name", _("Organisation name"), max_length=200),
        ctx.form.text("email", _("E-mail address"), max_length=254),
        ctx.form.text("website", _("Website"), max_length=500),
        ctx.form.text("language", _("Language of the e-mail"), max_length=40),
    )
    _invitations(site).invite(campaign.slug, campaign.coordinator_id, [invitee], _days(ctx))
    return redirect(f"/coordinator/campaigns/{campaign.slug}/invitations")


def invite_csv(site: Site, ctx: Ctx, files: Files) -> Response:
    """Invite every organisation of an uploaded CSV, all or none; a bad file is explained."""
    campaign = _own(site, ctx)
    item = files.get("csv")
    try:
        if item is None:
            raise BadInput(
                _("no file was chosen"), _("Choose a CSV file: name, e-mail, website per row")
            )
        ids = _invitations(site).invite_csv(
            campaign.slug, campaign.coordinator_id, item.file.read(MAX_CSV_BYTES + 1), _days(ctx)
        )
    except DeparturesError as error:
        return _page(site, ctx, campaign, code=400, csv_error=error)
    return _page(site, ctx, campaign, imported=len(ids))


def resend(site: Site, ctx: Ctx) -> Response:
    """Send an invitation's e-mail again."""
    campaign = _own(site, ctx)
    _invitations(site).resend(campaign.slug, campaign.coordinator_id, int(ctx.param("id")))
    return redirect(f"/coordinator/campaigns/{campaign.slug}/invitations")


def revoke(site: Site, ctx: Ctx) -> Response:
    """Revoke an invitation not accepted yet: its link stops working."""
    campaign = _own(site, ctx)
    _invitations(site).revoke(campaign.slug, campaign.coordinator_id, int(ctx.param("id")))
    return redirect(f"/coordinator/campaigns/{campaign.slug}/invitations")


def routes(site: Site) -> list[Route]:
    """The invitations page's routes (coordinators only, refused before reading a form)."""

    def guarded(view: middleware.View) -> middleware.Endpoint:
        return middleware.page(site, view, guard=coordinator_id)

    base = "/coordinator/campaigns/{slug}/invitations"
    return [
        Route(base, guarded(page)),
        Route(base, guarded(invite_one), methods=["POST"]),
        Route(
            f"{base}/csv",
            middleware.upload(site, invite_csv, CSV_UPLOAD, guard=coordinator_id),
            methods=["POST"],
        ),
        Route(base + "/{id:int}/resend", guarded(resend), methods=["POST"]),
        Route(base + "/{id:int}/revoke", guarded(revoke), methods=["POST"]),
    ]
