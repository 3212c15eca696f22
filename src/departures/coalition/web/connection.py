"""Disconnecting a Bluesky account from the pages.

* The member page's "Disconnect @handle": the grant revoked at its server (OAuth) or its
  app-password session ended, the session forgotten here, and with it the departure day's
  opt-in and the board's verified-domain mark
  (:meth:`departures.coalition.departure.DepartureDay.disconnect`, the one way to disconnect).
* The coordinator's, for the coalition's own account
  (:meth:`departures.coalition.oauth.OAuthService.disconnect`).
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from departures.coalition.errors import BadInput, NotAllowed
from departures.coalition.i18n import _
from departures.coalition.oauth import app_passwords_allowed
from departures.coalition.vault import AccountSessions, campaign_owner
from departures.coalition.web import middleware
from departures.coalition.web.guards import coordinator_id, member_signed_in, own_campaign
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site, redirect

__all__ = ["app_passwords_offered", "refuse_app_password", "routes"]


def app_passwords_offered(site: Site) -> bool:
    """Whether the pages offer connecting with an app password: without OAuth, or when the
    operator kept it as a fallback."""
    return site.oauth is None or app_passwords_allowed()


def refuse_app_password(site: Site, password: str) -> None:
    """Refuse an app password typed where the coalition connects accounts through OAuth only
    (the same line as the member page's form)."""
    if password and not app_passwords_offered(site):
        raise BadInput(
            _("this coalition connects Bluesky accounts through Bluesky's own sign-in"),
            _("Use the Continue with Bluesky button instead of an app password"),
        )


def disconnect(site: Site, ctx: Ctx) -> Response:
    """Disconnect the signed-in member's Bluesky account (CSRF-checked form)."""
    organisation = site.store.organisation(member_signed_in(ctx))
    if site.departure is None:
        raise NotAllowed(_("this coalition makes no Bluesky writes"))
    site.departure.disconnect(organisation)
    return redirect("/member#welcome")


def disconnect_coalition(site: Site, ctx: Ctx) -> Response:
    """The campaign's coordinator disconnects the coalition's own account (CSRF-checked)."""
    campaign = own_campaign(site, ctx)
    if site.oauth is None:
        raise NotAllowed(_("this coalition makes no Bluesky writes"))
    site.oauth.disconnect(
        AccountSessions(
            site.store.engine,
            site.oauth.vault,
            campaign_owner(campaign.id),
            campaign_id=campaign.id,
            clock=site.store.clock,
        )
    )
    return redirect(f"/coordinator/campaigns/{campaign.slug}#coalition-account")


def routes(site: Site) -> list[Route]:
    """``POST /member/bluesky/disconnect`` and the coordinator's
    ``POST /coordinator/campaigns/{slug}/bluesky/disconnect``."""
    return [
        Route(
            "/member/bluesky/disconnect",
            middleware.page(site, disconnect, guard=member_signed_in),
            methods=["POST"],
        ),
        Route(
            "/coordinator/campaigns/{slug}/bluesky/disconnect",
            middleware.page(site, disconnect_coalition, guard=coordinator_id),
            methods=["POST"],
        ),
    ]
