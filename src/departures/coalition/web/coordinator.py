"""The coordinator's pages: sign-in with the token from ``departures coalition coordinator
create``, the campaigns, and one campaign's terms, opening, closing and invitations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from starlette.responses import Response
from starlette.routing import Route

from departures.coalition import rules
from departures.coalition.errors import BadInput, NotAllowed
from departures.coalition.i18n import _
from departures.coalition.store import Campaign, access
from departures.coalition.web import middleware
from departures.coalition.web import oauth as oauth_views
from departures.coalition.web.guards import coordinator_id
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site, redirect

__all__ = ["COMMON_ZONES", "coordinator_id", "routes"]

COMMON_ZONES = (
    "Europe/Brussels",
    "Europe/Amsterdam",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/London",
    "UTC",
)


def login_page(site: Site, ctx: Ctx) -> Response:
    """The coordinator sign-in form."""
    return site.render(ctx, "login.html")


def login(site: Site, ctx: Ctx) -> Response:
    """Sign a coordinator in with the token from ``departures coalition coordinator``."""
    token = ctx.form.text("token", _("Coordinator token"), max_length=200, required=True)
    site.sign_in_throttle.check(ctx.client)
    found = site.store.coordinator_by_token(token)
    if found is None:
        site.sign_in_throttle.failed(ctx.client)
        raise NotAllowed(
            _("this coordinator token is not valid"),
            _("Copy it again from the output of `departures coalition coordinator create`"),
        )
    ctx.set("coordinator", found)
    ctx.renew_csrf()
    return redirect("/coordinator")


def logout(site: Site, ctx: Ctx) -> Response:
    """Sign out (coordinator and member)."""
    ctx.session.clear()
    ctx.renew_csrf()
    return redirect("/")


def home(site: Site, ctx: Ctx, *, new_token: str | None = None) -> Response:
    """The coordinator's campaigns and the form to create one."""
    own = coordinator_id(ctx)
    response = site.render(
        ctx,
        "coordinator.html",
        name=site.store.coordinator_name(own),
        campaigns=site.store.campaigns(own),
        zones=COMMON_ZONES,
        new_token=new_token,
    )
    if new_token:
        response.headers["Cache-Control"] = "no-store"
    return response


def sign_out_everywhere(site: Site, ctx: Ctx) -> Response:
    """End every session of the coordinator, on every device (this one too)."""
    access.end_sessions(site.store.engine, coordinator_id=coordinator_id(ctx))
    ctx.session.clear()
    ctx.renew_csrf()
    return redirect("/login")


def replace_token(site: Site, ctx: Ctx) -> Response:
    """A new sign-in token, shown once; the old one and every other session stop working."""
    own = coordinator_id(ctx)
    token = access.replace_coordinator_token(site.store.engine, own)
    ctx.renew_csrf()  # this browser goes on, in a new session
    return home(site, ctx, new_token=token)


def _campaign_fields(ctx: Ctx) -> dict[str, Any]:
    form = ctx.form
    zone_name = form.text("timezone", _("Timezone"), max_length=64, required=True)
    if zone_name not in available_timezones():
        raise BadInput(
            _("%(zone)s is not a timezone") % {"zone": zone_name},
            _("Give an IANA name such as Europe/Brussels"),
        )
    zone = ZoneInfo(zone_name)
    return {
        "title": form.text("title", _("Title"), max_length=200, required=True),
        "description": form.text("description", _("Description"), max_length=5000, multiline=True),
        "threshold": form.integer("threshold", _("Threshold"), minimum=1, maximum=100_000),
        "deadline": form.moment("deadline", _("Pledge deadline"), zone),
        "departure_at": form.moment("departure_at", _("Departure"), zone),
        "timezone": zone_name,
        "coordinator_handle": form.bluesky_handle(
            "coordinator_handle", _("Coordinator's Bluesky handle")
        ),
    }


def create_campaign(site: Site, ctx: Ctx) -> Response:
    """Create a draft campaign."""
    fields = _campaign_fields(ctx)
    rules.check_ahead(fields["deadline"], fields["departure_at"], site.store.clock())
    campaign = site.store.create_campaign(coordinator_id(ctx), **fields)
    return redirect(f"/coordinator/campaigns/{campaign.slug}")


def _own(site: Site, ctx: Ctx) -> Campaign:
    own = coordinator_id(ctx)
    campaign = site.store.campaign(ctx.param("slug"))
    if campaign.coordinator_id != own:
        raise NotAllowed(_("only the campaign's coordinator can manage it"))
    return campaign


def manage(
    site: Site,
    ctx: Ctx,
    *,
    new_invite: str | None = None,
    new_member_key: tuple[str, str] | None = None,
) -> Response:
    """The coordinator's page of one campaign."""
    campaign = _own(site, ctx)
    response = site.render(
        ctx,
        "manage.html",
        campaign=campaign,
        status=site.store.status(campaign),
        organisations=site.store.organisations(campaign.id),
        invites=site.store.invites(campaign.id),
        outbox=site.store.outbox(campaign.id),
        zones=COMMON_ZONES,
        now=site.store.clock(),
        new_invite=new_invite,
        new_member_key=new_member_key,
        coalition_account=oauth_views.coalition_account(site, campaign.id),
    )
    if new_invite or new_member_key:
        response.headers["Cache-Control"] = "no-store"
    return response


def edit_campaign(site: Site, ctx: Ctx) -> Response:
    """Change a campaign: every term while a draft, the description and links after."""
    campaign = _own(site, ctx)
    starter_pack = ctx.form.url("starter_pack_url", _("Starter pack link"))
    if starter_pack and not starter_pack.startswith("https://"):
        raise BadInput(_("the starter pack link must start with https://"))
    if campaign.opened_at is None:
        fields = _campaign_fields(ctx)
        rules.check_ahead(fields["deadline"], fields["departure_at"], site.store.clock())
    else:
        fields = {
            "description": ctx.form.text(
                "description", _("Description"), max_length=5000, multiline=True
            )
        }
    site.store.update_campaign(
        campaign.slug, campaign.coordinator_id, starter_pack_url=starter_pack, **fields
    )
    return redirect(f"/coordinator/campaigns/{campaign.slug}")


def open_campaign(site: Site, ctx: Ctx) -> Response:
    """Open the campaign for pledges (its terms lock)."""
    campaign = _own(site, ctx)
    site.store.open_campaign(campaign.slug, campaign.coordinator_id)
    return redirect(f"/coordinator/campaigns/{campaign.slug}")


def close_campaign(site: Site, ctx: Ctx) -> Response:
    """Archive the campaign after its departure or once it is off."""
    campaign = _own(site, ctx)
    site.store.close_campaign(campaign.slug, campaign.coordinator_id)
    return redirect(f"/coordinator/campaigns/{campaign.slug}")


def create_invite(site: Site, ctx: Ctx) -> Response:
    """Create a single-use invitation link, shown once on the page."""
    campaign = _own(site, ctx)
    note = ctx.form.text("note", _("Who it is for"), max_length=200)
    days = ctx.form.integer("days", _("Valid for (days)"), minimum=1, maximum=90)
    token = site.store.create_invite(
        campaign.slug, campaign.coordinator_id, note, timedelta(days=days)
    )
    return manage(site, ctx, new_invite=f"{site.base_url}/invite/{token}")


def revoke_invite(site: Site, ctx: Ctx) -> Response:
    """Revoke an unused invitation: its link stops working."""
    campaign = _own(site, ctx)
    invite_id = int(ctx.param("invite"))
    if not access.revoke_invite(site.store.engine, campaign.id, invite_id):
        raise BadInput(_("this invitation was used already or does not exist"))
    return redirect(f"/coordinator/campaigns/{campaign.slug}")


def reset_member_key(site: Site, ctx: Ctx) -> Response:
    """A new key for a member organisation, shown once; its old key and sessions end."""
    campaign = _own(site, ctx)
    organisation_id = int(ctx.param("organisation"))
    organisation = site.store.organisation(organisation_id)
    if organisation.campaign_id != campaign.id:
        raise NotAllowed(_("only the campaign's coordinator can manage it"))
    key = access.reset_member_key(site.store.engine, organisation_id)
    assert key is not None
    return manage(site, ctx, new_member_key=(organisation.name, key))


def routes(site: Site) -> list[Route]:
    """The coordinator's routes; those past sign-in refuse a visitor before reading a form."""

    def page(view: middleware.View) -> middleware.Endpoint:
        return middleware.page(site, view, guard=coordinator_id)

    campaign = "/coordinator/campaigns/{slug}"
    return [
        Route("/login", middleware.page(site, login_page)),
        Route("/login", middleware.page(site, login), methods=["POST"]),
        Route("/logout", middleware.page(site, logout), methods=["POST"]),
        Route("/coordinator", page(home)),
        Route("/coordinator/sign-out-everywhere", page(sign_out_everywhere), methods=["POST"]),
        Route("/coordinator/token", page(replace_token), methods=["POST"]),
        Route("/coordinator/campaigns", page(create_campaign), methods=["POST"]),
        Route(campaign, page(manage)),
        Route(f"{campaign}/edit", page(edit_campaign), methods=["POST"]),
        Route(f"{campaign}/open", page(open_campaign), methods=["POST"]),
        Route(f"{campaign}/close", page(close_campaign), methods=["POST"]),
        Route(f"{campaign}/invites", page(create_invite), methods=["POST"]),
        Route(campaign + "/invites/{invite:int}/revoke", page(revoke_invite), methods=["POST"]),
        Route(
            campaign + "/members/{organisation:int}/reset-key",
            page(reset_member_key),
            methods=["POST"],
        ),
    ]
