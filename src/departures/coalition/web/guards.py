"""Who is signed in: the guards several view modules share, and the campaign a signed-in
coordinator manages.

A guard reads the session only (no database, no body) and raises when the visitor may not
go on; :mod:`.middleware` runs it before a byte of a POST's body is read. The views import
their guards from here, so that no view module imports another.

:func:`bluesky_signed_in` is the one place that says which Bluesky account is signed in (the
directory's and the moderation list's appeals): the directory's sign-in (OAuth, or an app
password where allowed) writes :data:`BLUESKY_DID` and :data:`BLUESKY_HANDLE`.
"""

from __future__ import annotations

from departures.coalition.errors import NotAllowed
from departures.coalition.i18n import _
from departures.coalition.store import Campaign
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site

__all__ = [
    "BLUESKY_DID",
    "BLUESKY_HANDLE",
    "bluesky_signed_in",
    "coordinator_id",
    "member_signed_in",
    "own_campaign",
    "sign_in_return",
]

BLUESKY_DID = "directory_did"
BLUESKY_HANDLE = "directory_handle"


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


def bluesky_signed_in(ctx: Ctx) -> tuple[str, str]:
    """The (DID, handle) of the Bluesky account signed in; refused otherwise (a guard)."""
    did, handle = ctx.session.get(BLUESKY_DID), ctx.session.get(BLUESKY_HANDLE)
    if not isinstance(did, str) or not isinstance(handle, str):
        raise NotAllowed(
            _("sign in with your Bluesky account first"),
            _("Use the form at /directory"),
        )
    return did, handle


def own_campaign(site: Site, ctx: Ctx) -> Campaign:
    """The campaign of the URL's ``slug``, if the signed-in coordinator manages it."""
    own = coordinator_id(ctx)
    campaign = site.store.campaign(ctx.param("slug"))
    if campaign.coordinator_id != own:
        raise NotAllowed(_("only the campaign's coordinator can manage it"))
    return campaign


def sign_in_return(path: str) -> str:
    """Where a Bluesky sign-in returns: a campaign page of this service that asked for it (a
    moderation list's appeal form), else the directory; never another site."""
    if path.startswith("/campaigns/") and "//" not in path and "\\" not in path:
        return path
    return "/directory"
