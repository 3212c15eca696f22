"""The member organisations' pages: joining by invitation, sign-in with the member key, and
the member page (details, pledge, withdrawal, landing, welcome post, moderation list, and
reconnect: the X ids it followed, uploaded from its archive)."""

from __future__ import annotations

import logging
from typing import Any, cast

import orjson
from starlette.responses import Response
from starlette.routing import Route

from departures.coalition.departure import MAX_WELCOME_GRAPHEMES, welcome_suggestion
from departures.coalition.domains import domain_help
from departures.coalition.errors import BadInput, NotAllowed
from departures.coalition.i18n import _, current_language, lazy_gettext
from departures.coalition.moderation import member_view as moderation_view
from departures.coalition.oauth import app_passwords_allowed
from departures.coalition.store import Organisation, access, languages
from departures.coalition.store import claims as claim_rows
from departures.coalition.triage import page_values as triage_page_values
from departures.coalition.web import middleware
from departures.coalition.web.archive_upload import MAX_UPLOAD, is_zip, read_upload
from departures.coalition.web.guards import member_signed_in
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site, redirect
from departures.coalition.web.uploads import Files, Uploaded, UploadLimits
from departures.errors import DeparturesError

__all__ = ["RECONNECT_UPLOAD", "member_signed_in", "routes"]

log = logging.getLogger(__name__)

RECONNECT_UPLOAD = UploadLimits(
    max_body=MAX_UPLOAD,
    max_files=1,
    max_fields=3,  # csrf; the file input, when a client sends it empty as a text field
    max_field_size=1024,
    # Translated when shown, in the language of that request.
    too_large_hint=cast(str, lazy_gettext("Upload data/following.js from your archive on its own")),
)
"""The reconnect form: the CSRF token and one file (the archive's zip or its following.js)."""


def _organisation(site: Site, ctx: Ctx) -> Organisation:
    return site.store.organisation(member_signed_in(ctx))


def invite_page(site: Site, ctx: Ctx) -> Response:
    """The form an invited organisation fills in to join."""
    _invite, campaign = site.store.check_invite(ctx.param("token"))
    return site.render(ctx, "accept.html", campaign=campaign, token=ctx.param("token"), values={})


def _organisation_fields(site: Site, ctx: Ctx) -> dict[str, Any]:
    form = ctx.form
    website = form.url("website", _("Website"))
    handle = form.bluesky_handle("bluesky_handle", _("Bluesky handle"))
    did = site.resolver.resolve(handle) if handle else ""
    return {
        "name": form.text("name", _("Organisation name"), max_length=200, required=True),
        "email": form.email("email", _("Contact e-mail")),
        "website": website,
        "x_handle": form.x_handle("x_handle", _("X handle")),
        "bluesky_handle": handle,
        "bluesky_did": did,
        # The verified-domain mark is earned by connecting the account through OAuth
        # (store.claims.record_member_connection), never by typing a handle.
        "public_name": form.flag("public_name"),
    }


def accept_invite(site: Site, ctx: Ctx) -> Response:
    """Join the campaign: creates the organisation and signs it in."""
    organisation, key = site.store.accept_invite(
        ctx.param("token"), **_organisation_fields(site, ctx)
    )
    # The language of its e-mails and welcome post: as chosen, else the page's (web/languages.py).
    languages.set_organisation_language(
        site.store.engine, organisation.id, ctx.form.fields.get("language") or current_language()
    )
    organisation = site.store.organisation(organisation.id)
    ctx.set("organisation", organisation.id)
    ctx.renew_csrf()
    return _member_page(site, ctx, organisation, new_key=key)


def sign_in_page(site: Site, ctx: Ctx) -> Response:
    """The member sign-in form (with the key shown when the organisation joined)."""
    return site.render(ctx, "member_sign_in.html", oauth=site.oauth is not None)


def sign_in(site: Site, ctx: Ctx) -> Response:
    """Sign a member organisation in with its key."""
    key = ctx.form.text("key", _("Member key"), max_length=200, required=True)
    site.sign_in_throttle.check(ctx.client)
    organisation = site.store.organisation_by_key(key)
    if organisation is None:
        site.sign_in_throttle.failed(ctx.client)
        raise NotAllowed(
            _("this member key is not valid"),
            _("Copy it again from the page you saw when you joined"),
        )
    ctx.set("organisation", organisation.id)
    ctx.renew_csrf()
    return redirect("/member")


def member_page(site: Site, ctx: Ctx) -> Response:
    """The member's own page: details, pledge, withdrawal, landing, farewell text."""
    return _member_page(site, ctx, _organisation(site, ctx))


def _member_page(
    site: Site,
    ctx: Ctx,
    organisation: Organisation,
    new_key: str | None = None,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    store, departure = site.store, site.departure
    campaign = store.campaign_by_id(organisation.campaign_id)
    status = store.status(campaign)
    welcome = departure.welcome(organisation) if departure else None
    return site.render(
        ctx,
        "member.html",
        code=status_code,
        organisation=organisation,
        campaign=campaign,
        status=status,
        pledge=store.pledge_in_force(organisation),
        new_key=new_key,
        now=store.clock(),
        going=organisation.key in status.resolution.members,
        welcome=welcome,
        modlist=departure.modlist_uri(campaign.id) if departure else "",
        subscribed=departure.subscribed(organisation) if departure else False,
        max_welcome=MAX_WELCOME_GRAPHEMES,
        welcome_suggestion=welcome_suggestion(campaign, organisation),
        reconnect=site.reconnect.settings(organisation),
        proposals=site.reconnect.proposals(organisation),
        can_follow_for_us=welcome is not None and bool(welcome.account_handle),
        modlist_view=moderation_view(store, organisation),
        domain=_domain_help(site, organisation),
        oauth=site.oauth is not None,
        app_passwords=site.oauth is None or app_passwords_allowed(),
        **triage_page_values(departure, organisation),
        **extra,
    )


def _domain_help(site: Site, organisation: Organisation) -> Any:
    connection = claim_rows.member_connection(site.store.engine, organisation.id)
    return domain_help(
        website=organisation.website,
        did=organisation.bluesky_did or (connection.did if connection else ""),
        handle=organisation.bluesky_handle,
        connected_method=connection.method if connection else None,
        mark=organisation.verified_domain,
    )


def details(site: Site, ctx: Ctx) -> Response:
    """Update the organisation's own details."""
    organisation = _organisation(site, ctx)
    site.store.update_organisation(organisation.id, **_organisation_fields(site, ctx))
    # A changed handle or website may end (or restore) the verified-domain mark.
    claim_rows.refresh_domain_mark(site.store.engine, organisation.id, site.store.clock())
    return redirect("/member")


def pledge(site: Site, ctx: Ctx) -> Response:
    """Pledge, unconditionally or on condition that N others go."""
    organisation = _organisation(site, ctx)
    kind = ctx.form.choice("kind", _("Kind of pledge"), ("unconditional", "conditional"))
    min_others = 0
    if kind == "conditional":
        min_others = ctx.form.integer(
            "min_others", _("Number of other organisations"), minimum=1, maximum=100_000
        )
    site.store.pledge(organisation.id, min_others)
    return redirect("/member")


def withdraw(site: Site, ctx: Ctx) -> Response:
    """Withdraw the pledge (until the deadline)."""
    site.store.withdraw(_organisation(site, ctx).id)
    return redirect("/member")


def landed(site: Site, ctx: Ctx) -> Response:
    """Mark the organisation as landed on Bluesky."""
    site.store.mark_landed(_organisation(site, ctx).id)
    return redirect("/member")


def welcome(site: Site, ctx: Ctx) -> Response:
    """Prepare the welcome post, opt in or out, connect the Bluesky account."""
    organisation = _organisation(site, ctx)
    if site.departure is None:
        raise NotAllowed(
            _("this coalition does not publish welcome posts"),
            _("Post your welcome on Bluesky yourself on the departure day"),
        )
    # Length is checked in graphemes by the departure day; this only bounds the form.
    text = ctx.form.text("welcome_text", _("Welcome post"), max_length=3000, multiline=True)
    password = ctx.form.text("app_password", _("App password"), max_length=100)
    if password and site.oauth is not None and not app_passwords_allowed():
        raise BadInput(
            _("this coalition connects Bluesky accounts through Bluesky's own sign-in"),
            _("Use the Continue with Bluesky button instead of an app password"),
        )
    site.departure.prepare(
        organisation, text, opted_in=ctx.form.flag("opted_in"), app_password=password
    )
    return redirect("/member")


def moderation(site: Site, ctx: Ctx) -> Response:
    """Subscribe the member's account to the coalition's moderation list, or stop."""
    organisation = _organisation(site, ctx)
    if site.departure is None:
        raise NotAllowed(_("this coalition makes no Bluesky writes"))
    site.departure.subscribe(organisation, on=ctx.form.flag("subscribe"))
    return redirect("/member")


# --- reconnect ------------------------------------------------------------------------------


def reconnect_upload(site: Site, ctx: Ctx, files: Files) -> Response:
    """Store the X ids the member followed (from its archive's zip or following.js).

    A file that cannot be read is explained on the page (HTTP 400); nothing is stored.
    """
    organisation = _organisation(site, ctx)
    try:
        following = following_upload(organisation, files.get("archive"))
    except DeparturesError as error:
        return _member_page(site, ctx, organisation, status_code=400, reconnect_error=error)
    count = site.reconnect.save_followings(organisation, following)
    return _member_page(site, ctx, organisation, reconnect_saved=count)


def following_upload(organisation: Organisation, item: Uploaded | None) -> frozenset[str]:
    """The X ids of an uploaded archive zip or following.js (the directory's reader)."""
    if item is None:
        raise BadInput(
            _("no file was chosen"),
            _("Choose your X archive's zip, or data/following.js from it"),
        )
    if is_zip(item.file):
        upload = read_upload(item.file, None, require_account=False)
    else:
        upload = read_upload(None, item.file)
    if upload.following is None:
        raise BadInput(
            _("this zip has no data/following.js"),
            _("Upload the zip of your X archive, or its data/following.js"),
        )
    if upload.account is not None and organisation.x_handle:
        username = upload.account[1]
        if username.lower() != organisation.x_handle.lower().removeprefix("@"):
            raise BadInput(
                _("this archive is of @%(other)s, not of your organisation's @%(ours)s")
                % {"other": username, "ours": organisation.x_handle.removeprefix("@")},
                _("Upload your own archive, or correct the X handle in your details"),
            )
    return upload.following


def reconnect_delete(site: Site, ctx: Ctx) -> Response:
    """Delete the member's stored X following ids."""
    site.reconnect.delete_followings(_organisation(site, ctx))
    return redirect("/member#reconnect")


def reconnect_auto_follow(site: Site, ctx: Ctx) -> Response:
    """Turn "follow them for us" on (needs the connected Bluesky account) or off."""
    organisation = _organisation(site, ctx)
    on = ctx.form.flag("auto_follow")
    if on:
        if site.departure is None:
            raise NotAllowed(
                _("this coalition makes no Bluesky writes"),
                _("Follow the accounts yourself with the links on your member page"),
            )
        if not site.departure.welcome(organisation).account_handle:
            raise BadInput(
                _("connect your Bluesky account first"),
                _("Give an app password under “Welcome post on Bluesky”"),
            )
    site.reconnect.set_auto_follow(organisation, on)
    return redirect("/member#reconnect")


# --- sessions, export and deletion ----------------------------------------------------------


def sign_out_everywhere(site: Site, ctx: Ctx) -> Response:
    """End every session of the organisation, on every device (this one too)."""
    access.end_sessions(site.store.engine, organisation_id=member_signed_in(ctx))
    ctx.session.clear()
    ctx.renew_csrf()
    return redirect("/member/sign-in")


def export(site: Site, ctx: Ctx) -> Response:
    """Everything the coalition keeps of the organisation, as a JSON download."""
    organisation_id = member_signed_in(ctx)
    data = access.organisation_export(site.store.engine, organisation_id)
    return Response(
        orjson.dumps(data, option=orjson.OPT_INDENT_2),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="organisation-{organisation_id}.json"',
            "Cache-Control": "no-store",
        },
    )


def delete(site: Site, ctx: Ctx) -> Response:
    """Delete the organisation and everything the coalition keeps of it (confirmed first).

    Its Bluesky session is revoked at its PDS first; a PDS that does not answer does not keep
    the data from being deleted here.
    """
    organisation = _organisation(site, ctx)
    if not ctx.form.flag("confirm"):
        raise BadInput(
            _("the confirmation box is not ticked"),
            _("Tick it to delete your organisation's data; this cannot be undone"),
        )
    if site.departure is not None:
        try:
            site.departure.disconnect(organisation)
        except DeparturesError:
            # A session that cannot be read (the secret changed) cannot be revoked either;
            # it is deleted with the rest.
            log.info("the Bluesky session of organisation %s was not revoked", organisation.id)
    access.erase_organisation(site.store.engine, organisation.id)
    ctx.session.clear()
    ctx.renew_csrf()
    return redirect("/")


def routes(site: Site) -> list[Route]:
    """The member pages' routes; those past sign-in refuse a visitor before reading a form."""

    def page(view: middleware.View) -> middleware.Endpoint:
        return middleware.page(site, view, guard=member_signed_in)

    def post(path: str, view: middleware.View) -> Route:
        return Route(path, page(view), methods=["POST"])

    return [
        Route("/invite/{token}", middleware.page(site, invite_page)),
        Route("/invite/{token}", middleware.page(site, accept_invite), methods=["POST"]),
        Route("/member", page(member_page)),
        Route("/member/sign-in", middleware.page(site, sign_in_page)),
        Route("/member/sign-in", middleware.page(site, sign_in), methods=["POST"]),
        post("/member/details", details),
        post("/member/pledge", pledge),
        post("/member/withdraw", withdraw),
        post("/member/landed", landed),
        post("/member/welcome", welcome),
        post("/member/moderation", moderation),
        Route(
            "/member/reconnect",
            middleware.upload(site, reconnect_upload, RECONNECT_UPLOAD, guard=member_signed_in),
            methods=["POST"],
        ),
        post("/member/reconnect/delete", reconnect_delete),
        post("/member/sign-out-everywhere", sign_out_everywhere),
        Route("/member/export.json", page(export)),
        post("/member/delete", delete),
        post("/member/reconnect/auto-follow", reconnect_auto_follow),
    ]
