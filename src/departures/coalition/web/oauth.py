"""Sign in with Bluesky (AT Protocol OAuth): the client's documents, the start and the callback.

* ``GET /oauth/client-metadata.json`` and ``GET /oauth/jwks.json`` — what authorisation
  servers fetch: the ``client_id`` document and the public keys of ``private_key_jwt``.
* ``POST /oauth/start`` (``handle``, ``purpose``) — resolves the account's server, pushes the
  request (PAR) and answers a page that sends the browser there (a meta refresh and a link:
  the pages' ``form-action 'self'`` would stop a form's redirect to another origin).
* ``GET /oauth/callback`` — the pending sign-in is taken once by its ``state`` and must have
  begun in this browser; then, by purpose: ``directory`` signs the visitor in (the session is
  kept 30 minutes for "Follow all"), ``member`` connects the organisation's account for the
  departure day, ``coalition`` the campaign's own account, ``sign-in`` opens the member page
  of the organisation whose account this is.

Every failure is one line for the person (:func:`_failure`), never a traceback.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from departures.bluesky.oauth import OAuthError
from departures.coalition.errors import BadInput, NotAllowed
from departures.coalition.i18n import _
from departures.coalition.oauth import PURPOSES, OAuthService
from departures.coalition.store import accounts
from departures.coalition.store import oauth as oauth_rows
from departures.coalition.vault import AccountSessions, campaign_owner, organisation_owner
from departures.coalition.web import middleware
from departures.coalition.web.guards import sign_in_return
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site, redirect

__all__ = ["coalition_account", "routes"]

log = logging.getLogger(__name__)

_BINDING = "oauth_binding"
# Where a directory sign-in returns when a page of the service asked for it (an appeal).
_NEXT = "oauth_next"
_CAMPAIGN = "oauth_campaign"
# The directory page's session keys (web/directory.py).
_DID, _HANDLE, _OAUTH_TOKEN = "directory_did", "directory_handle", "directory_oauth"
_BACK = {
    "directory": "/directory",
    "member": "/member",
    "coalition": "/coordinator",
    "sign-in": "/member",
}


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _failure(error: OAuthError) -> BadInput | NotAllowed:
    """The person's one line for a failed sign-in (what happened, what to do)."""
    reason = error.reason
    if reason == "denied":
        return NotAllowed(
            _("the sign-in was cancelled at your Bluesky server"),
            _("Start again and choose Authorize on your server's page"),
        )
    if reason == "state":
        return BadInput(
            _("this sign-in link was already used or has expired"),
            _("Start the sign-in again from the page"),
        )
    if reason in ("issuer", "account"):
        return NotAllowed(
            _("the answer did not come from your account's own Bluesky server"),
            _("Start the sign-in again; if it keeps failing, tell the coalition"),
        )
    if reason == "handle":
        return BadInput(
            _("this Bluesky handle does not exist"),
            _("Check the spelling, or create the account first and come back"),
        )
    if reason == "unsupported":
        return BadInput(
            _("your Bluesky server does not offer sign-in with OAuth"),
            _("Ask the coalition about signing in with an app password"),
        )
    if reason == "unreachable":
        return BadInput(
            _("your Bluesky server does not answer"),
            _("Try again in a few minutes"),
        )
    return NotAllowed(
        _("your Bluesky server refused the sign-in"),
        _("Start the sign-in again"),
    )


class OAuthViews:
    """The OAuth routes, with the coalition's OAuth service."""

    def __init__(self, site: Site, service: OAuthService) -> None:
        self.site = site
        self.service = service

    def metadata(self, request: Any) -> Response:
        """The client metadata document (``client_id``)."""
        return JSONResponse(self.service.config().metadata())

    def jwks(self, request: Any) -> Response:
        """The client's public keys."""
        return JSONResponse(self.service.config().jwks())

    def start(self, site: Site, ctx: Ctx) -> Response:
        """Push the authorisation request; a page that sends the browser to the server."""
        purpose = ctx.form.text("purpose", _("Purpose"), max_length=20, required=True)
        if purpose not in PURPOSES:
            raise BadInput(_("this sign-in is not offered"), _("Use the form on the page"))
        if purpose == "member" and ctx.organisation_id is None:
            raise NotAllowed(_("sign in as a member first"), _("Use your member key"))
        if purpose == "coalition":
            # The campaign whose own account is connected: one of this coordinator's.
            slug = ctx.form.text("campaign", _("Campaign"), max_length=100, required=True)
            campaign = site.store.campaign(slug)
            if ctx.coordinator_id is None or campaign.coordinator_id != ctx.coordinator_id:
                raise NotAllowed(
                    _("sign in as this campaign's coordinator first"),
                    _("Use your coordinator key"),
                )
            ctx.set(_CAMPAIGN, campaign.id)
        if purpose == "directory":
            ctx.drop(_NEXT)
            back = sign_in_return(ctx.form.text("next", "next", max_length=300))
            if back != "/directory":
                ctx.set(_NEXT, back)
        ctx.form.text("handle", _("Bluesky handle"), max_length=253, required=True)
        handle = ctx.form.bluesky_handle("handle", _("Bluesky handle"))
        site.sign_in_throttle.check(ctx.client, handle)
        binding = secrets.token_urlsafe(24)
        ctx.set(_BINDING, binding)
        try:
            url = self.service.start(handle, purpose, _hash(binding))
        except OAuthError as error:
            site.sign_in_throttle.failed(ctx.client, handle)
            raise _failure(error) from None
        page = site.render(ctx, "oauth_redirect.html", target=url)
        page.headers["Refresh"] = f"0; url={url}"
        return page

    def callback(self, site: Site, ctx: Ctx) -> Response:
        """The authorisation server's answer: checks, then the purpose's effect."""
        params = {k: v for k, v in ctx.request.query_params.items()}
        binding = ctx.session.get(_BINDING)
        try:
            finished = self.service.finish(params)
        except OAuthError as error:
            log.info("an OAuth sign-in failed: %s", error.reason)
            raise _failure(error) from None
        if not isinstance(binding, str) or _hash(binding) != finished.binding:
            # Begun in another browser: do not sign this one in; revoke what was granted.
            client = self.service.client()
            try:
                client.revoke(finished.session)
            finally:
                client.http.close()
            raise NotAllowed(
                _("this sign-in was started in another browser"),
                _("Start the sign-in again from this browser"),
            )
        ctx.drop(_BINDING)
        session = finished.session
        purpose = finished.purpose
        if purpose == "directory":
            old = ctx.session.get(_OAUTH_TOKEN)
            if isinstance(old, str):
                self.service.revoke_visitor(old)
            ctx.set(_OAUTH_TOKEN, self.service.keep_visitor(session))
            ctx.set(_DID, session.did)
            ctx.set(_HANDLE, session.handle)
        elif purpose == "member":
            organisation = site.store.organisation(_signed_in(ctx.organisation_id))
            if organisation.bluesky_did and session.did != organisation.bluesky_did:
                # Another account than the one the organisation names (as an app password
                # of another account is refused): nothing connected, the grant given back.
                self._give_back(session)
                named = {"named": organisation.bluesky_handle, "signed": session.handle}
                raise NotAllowed(
                    _("you signed in as @%(signed)s, not as your organisation's @%(named)s")
                    % named,
                    _(
                        "Sign in as @%(named)s at your Bluesky server, or change the Bluesky "
                        "handle in your organisation's details"
                    )
                    % named,
                )
            self.service.connect(
                AccountSessions(
                    site.store.engine,
                    self.service.vault,
                    organisation_owner(organisation.id),
                    campaign_id=organisation.campaign_id,
                    organisation_id=organisation.id,
                    clock=site.store.clock,
                ),
                session,
            )
        elif purpose == "coalition":
            campaign_id = self._connect_coalition(site, ctx, session)
            ctx.renew_csrf()
            slug = site.store.campaign_by_id(campaign_id).slug
            return redirect(f"/coordinator/campaigns/{slug}")
        elif purpose == "sign-in":
            # Only who it is was needed: the grant is given back at once.
            client = self.service.client()
            try:
                client.revoke(session)
            finally:
                client.http.close()
            self._member_sign_in(site, ctx, session.did)
        ctx.renew_csrf()
        back = ctx.session.get(_NEXT) if purpose == "directory" else None
        ctx.drop(_NEXT)
        return redirect(sign_in_return(back) if isinstance(back, str) else _BACK[purpose])

    def _give_back(self, session: Any) -> None:
        """Revoke a grant the service will not keep."""
        client = self.service.client()
        try:
            client.revoke(session)
        finally:
            client.http.close()

    def _connect_coalition(self, site: Site, ctx: Ctx, session: Any) -> int:
        coordinator = _signed_in(ctx.coordinator_id)
        chosen = ctx.session.get(_CAMPAIGN)
        campaign = site.store.campaign_by_id(
            _signed_in(chosen if isinstance(chosen, int) else None)
        )
        if campaign.coordinator_id != coordinator:
            raise NotAllowed(_("sign in as this campaign's coordinator first"), _("Sign in again"))
        ctx.drop(_CAMPAIGN)
        self.service.connect(
            AccountSessions(
                site.store.engine,
                self.service.vault,
                campaign_owner(campaign.id),
                campaign_id=campaign.id,
                clock=site.store.clock,
            ),
            session,
        )
        return campaign.id

    def _member_sign_in(self, site: Site, ctx: Ctx, did: str) -> None:
        for owner in oauth_rows.owners_of(site.store.engine, did):
            if owner.startswith("organisation:"):
                ctx.set("organisation", int(owner.split(":", 1)[1]))
                return
        raise NotAllowed(
            _("no member organisation has connected this Bluesky account yet"),
            _("Sign in with your member key, then connect your account"),
        )


def _signed_in(value: int | None) -> int:
    if value is None:
        raise NotAllowed(_("your session ended while you signed in"), _("Sign in again"))
    return value


def coalition_account(site: Site, campaign_id: int) -> dict[str, Any] | None:
    """What the coordinator page shows of the campaign's own account (None: no OAuth)."""
    if site.oauth is None:
        return None
    owner = campaign_owner(campaign_id)
    account = accounts.account_row(site.store.engine, owner)
    return {
        "handle": account.handle if account is not None and account.connected else "",
        "through_oauth": oauth_rows.connected_through_oauth(site.store.engine, owner) is not None,
    }


def routes(site: Site, service: OAuthService | None) -> list[Route]:
    """The ``/oauth`` routes (none when the service has no OAuth client)."""
    if service is None:
        return []
    views = OAuthViews(site, service)
    return [
        Route("/oauth/client-metadata.json", views.metadata),
        Route("/oauth/jwks.json", views.jwks),
        Route("/oauth/start", middleware.page(site, views.start), methods=["POST"]),
        Route("/oauth/callback", middleware.page(site, views.callback)),
    ]
