"""The pages of trust in identities: Sign in with X (a directory claim becomes ``verified``),
the coordinators' claims page (vouching with an audit line, the review queue of disputes), and
the member page's live check of a domain handle.

* ``GET /directory/x/start`` and ``GET /directory/x/callback``: OAuth 2.0 with PKCE at X
  (:mod:`departures.coalition.xsignin`), offered only when the coalition configured its X app;
  the state and the code verifier live in the visitor's server-side session and are used once.
* ``/coordinator/claims``: the disputes (X ids claimed at the same level by several Bluesky
  accounts), every claim on an X id looked up, the vouch form, the latest audit lines.
* ``POST /member/domain/check``: the DNS TXT record or the well-known file, checked live.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from departures.coalition import directory as directories
from departures.coalition import domains
from departures.coalition.errors import BadInput, NotAllowed
from departures.coalition.i18n import _
from departures.coalition.web import middleware
from departures.coalition.web.guards import coordinator_id, member_signed_in
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site, redirect
from departures.coalition.xsignin import XApp, XSignIn

__all__ = ["ClaimViews", "routes", "x_app"]

_X_STATE = "x_oauth_state"
_X_VERIFIER = "x_oauth_verifier"
_MAX_CODE = 2000  # X's codes are ~90 characters; anything far longer is not one


# The guards, as the directory, coordinator and member views define them (a view module does
# not import another): they read the session only.


def visitor(ctx: Ctx) -> tuple[str, str]:
    """The directory visitor signed in with Bluesky: (DID, handle); refused otherwise."""
    did, handle = ctx.session.get("directory_did"), ctx.session.get("directory_handle")
    if not isinstance(did, str) or not isinstance(handle, str):
        raise NotAllowed(
            _("sign in with your Bluesky account first"), _("Use the form at /directory")
        )
    return did, handle


def x_app(site: Site) -> XApp | None:
    """The coalition's X app from its settings, or None when Sign in with X is off."""
    settings = site.settings
    if not settings.x_sign_in_configured:
        return None
    return XApp(
        client_id=settings.x_client_id,
        client_secret=settings.x_client_secret,
        redirect_uri=f"{site.base_url}/directory/x/callback",
        authorize_url=settings.x_authorize_url,
        api_url=settings.x_api_url,
    )


@dataclass
class ClaimViews:
    """The views, with what they share: the directory and Sign in with X (when offered)."""

    site: Site
    directory: directories.Directory
    x: XSignIn | None

    # --- Sign in with X -------------------------------------------------------------------------

    def x_start(self, site: Site, ctx: Ctx) -> Response:
        """Send the signed-in visitor to X, with a fresh state and PKCE challenge."""
        visitor(ctx)
        if self.x is None:
            raise BadInput(
                _("this coalition does not offer Sign in with X"),
                _("Ask a coordinator to vouch for your X account instead"),
            )
        started = self.x.start()
        ctx.set(_X_STATE, started.state)
        ctx.set(_X_VERIFIER, started.verifier)
        return RedirectResponse(started.url, status_code=303)

    def x_callback(self, site: Site, ctx: Ctx) -> Response:
        """X sent the visitor back: prove the account, and make the claim ``verified``."""
        did, handle = visitor(ctx)
        expected, verifier = ctx.session.get(_X_STATE), ctx.session.get(_X_VERIFIER)
        # One use: a replayed or second callback finds nothing to compare with.
        ctx.drop(_X_STATE)
        ctx.drop(_X_VERIFIER)
        if self.x is None:
            raise BadInput(_("this coalition does not offer Sign in with X"))
        query = ctx.request.query_params
        if query.get("error"):
            raise BadInput(
                _("Sign in with X was cancelled, so nothing was proven"),
                _("Press Sign in with X again and allow the access X asks for"),
            )
        state = query.get("state", "")
        if (
            not isinstance(expected, str)
            or not isinstance(verifier, str)
            or not secrets.compare_digest(expected.encode(), state.encode())
        ):
            raise NotAllowed(
                _("this Sign in with X answer does not belong to the sign-in started here"),
                _("Press Sign in with X again on the directory page"),
            )
        code = query.get("code", "")
        if not code or len(code) > _MAX_CODE:
            raise BadInput(_("X sent no sign-in code back"), _("Press Sign in with X again"))
        x_id, username = self.x.finish(code, verifier)
        self.directory.register(
            x_id,
            username,
            did,
            handle,
            source="x",
            actor=f"@{handle}",
            reason=f"signed in with X as @{username}",
        )
        return redirect("/directory#entries")

    # --- the coordinators' claims page ------------------------------------------------------------

    def claims_page(self, site: Site, ctx: Ctx) -> Response:
        """The review queue, a looked-up X id's claims, the vouch form and the audit."""
        coordinator_id(ctx)
        x_id = ctx.request.query_params.get("x_id", "").strip()
        looked = self.directory.claims_on(x_id) if x_id else None
        return site.render(
            ctx,
            "claims_coordinator.html",
            disputes=self.directory.disputes(),
            looked=looked,
            x_id=x_id,
            audit=self.directory.audit(),
        )

    def vouch(self, site: Site, ctx: Ctx) -> Response:
        """A coordinator vouches for one claim: it becomes ``vouched``, with an audit line."""
        who = site.store.coordinator_name(coordinator_id(ctx))
        x_id = ctx.form.text("x_id", _("X id"), max_length=20, required=True).strip()
        did = ctx.form.text("did", _("Bluesky DID"), max_length=200, required=True).strip()
        reason = ctx.form.text("reason", _("Why"), max_length=500, required=True)
        self.directory.vouch(x_id, did, who, reason)
        return redirect(f"/coordinator/claims?x_id={quote(x_id)}")

    def decide(self, site: Site, ctx: Ctx) -> Response:
        """A coordinator decides a dispute for one claim; the tied others are rejected."""
        who = site.store.coordinator_name(coordinator_id(ctx))
        x_id = ctx.form.text("x_id", _("X id"), max_length=20, required=True).strip()
        did = ctx.form.text("did", _("Bluesky DID"), max_length=200, required=True).strip()
        reason = ctx.form.text("reason", _("Why"), max_length=500, required=True)
        if not x_id.isdigit():
            raise directories.DirectoryError(
                _("the X id %(x_id)s is not a number") % {"x_id": repr(x_id[:30])},
                _("X ids are digits only"),
            )
        self.directory.decide(x_id, did, who, reason)
        return redirect("/coordinator/claims")

    # --- the member's domain handle -------------------------------------------------------------

    def domain_check(self, site: Site, ctx: Ctx) -> Response:
        """Check the member's DNS record or well-known file live, and show the result."""
        organisation = site.store.organisation(member_signed_in(ctx))
        way = ctx.form.choice("way", _("Kind of check"), ("dns", "well-known"))
        domain_help = domains.domain_help(
            website=organisation.website,
            did=organisation.bluesky_did,
            handle=organisation.bluesky_handle,
            connected_method=None,
            mark=organisation.verified_domain,
        )
        if domain_help is None:
            raise BadInput(
                _("give your website and Bluesky handle first"),
                _("Fill them in under your organisation's details"),
            )
        if way == "dns":
            result = domains.check_dns(domain_help.domain, domain_help.did)
        else:
            result = domains.check_well_known(domain_help.domain, domain_help.did)
        return site.render(ctx, "claims_domain_check.html", domain=domain_help, result=result)


def routes(site: Site) -> list[Route]:
    """The routes of Sign in with X, the coordinators' claims page and the domain check."""
    app = x_app(site)
    views = ClaimViews(
        site,
        directories.Directory(
            site.store.engine, max_unverified=site.settings.max_unverified_claims
        ),
        XSignIn(app) if app is not None else None,
    )

    def coordinator_page(view: middleware.View) -> middleware.Endpoint:
        return middleware.page(site, view, guard=coordinator_id)

    return [
        Route("/directory/x/start", middleware.page(site, views.x_start, guard=visitor)),
        Route("/directory/x/callback", middleware.page(site, views.x_callback, guard=visitor)),
        Route("/coordinator/claims", coordinator_page(views.claims_page)),
        Route("/coordinator/claims/vouch", coordinator_page(views.vouch), methods=["POST"]),
        Route("/coordinator/claims/decide", coordinator_page(views.decide), methods=["POST"]),
        Route(
            "/member/domain/check",
            middleware.page(site, views.domain_check, guard=member_signed_in),
            methods=["POST"],
        ),
    ]
