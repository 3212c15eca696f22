"""The member page's "disconnect our Bluesky account": the connected account's grant is revoked
at its server (OAuth) or its app-password session ended, the session forgotten here, and with
it the departure day's opt-in and the board's verified-domain mark
(:meth:`departures.coalition.departure.DepartureDay.disconnect`, the one way to disconnect).
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from departures.coalition.errors import NotAllowed
from departures.coalition.i18n import _
from departures.coalition.web import middleware
from departures.coalition.web.guards import member_signed_in
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site, redirect

__all__ = ["routes"]


def disconnect(site: Site, ctx: Ctx) -> Response:
    """Disconnect the signed-in member's Bluesky account (CSRF-checked form)."""
    organisation = site.store.organisation(member_signed_in(ctx))
    if site.departure is None:
        raise NotAllowed(_("this coalition makes no Bluesky writes"))
    site.departure.disconnect(organisation)
    return redirect("/member#welcome")


def routes(site: Site) -> list[Route]:
    """``POST /member/bluesky/disconnect``."""
    return [
        Route(
            "/member/bluesky/disconnect",
            middleware.page(site, disconnect, guard=member_signed_in),
            methods=["POST"],
        )
    ]
