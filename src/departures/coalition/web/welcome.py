"""The member's departure preparation: the welcome post with a live preview, and the
departure checklist.

The preview is the post the departure day will publish — the same rich-text code
(:func:`departures.coalition.departure.welcome_text`): links shown shortened, ``#tags``,
``@handle`` mentions of handles that exist, and the length in graphemes against Bluesky's
limit. Without JavaScript the "Preview" button shows it (nothing saved); with it,
``static/welcome.js`` asks ``preview.json`` as the member types. A text over the limit is
refused with the text kept in the form, so nothing typed is lost.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response
from starlette.routing import Route

from departures.coalition import checklist
from departures.coalition.departure import MAX_WELCOME_GRAPHEMES, WelcomeText, welcome_text
from departures.coalition.errors import NotAllowed
from departures.coalition.i18n import _
from departures.coalition.store import Organisation
from departures.coalition.web import middleware
from departures.coalition.web.connection import app_passwords_offered, refuse_app_password
from departures.coalition.web.guards import member_signed_in
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site, redirect
from departures.errors import DeparturesError

__all__ = ["SCRIPT_CSP", "preview_data", "routes"]

SCRIPT_CSP = (
    "default-src 'self'; script-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
"""The service's policy with the service's own scripts allowed (this page's preview)."""


def _organisation(site: Site, ctx: Ctx) -> Organisation:
    return site.store.organisation(member_signed_in(ctx))


def segments(built: WelcomeText) -> list[dict[str, str]]:
    """The post's text cut at its facets: ``{"text", "kind", "value"}`` pieces in order."""
    data = built.rich.text.encode("utf-8")
    pieces: list[dict[str, str]] = []
    at = 0
    for facet in built.rich.facets:
        if facet.byte_start > at:
            pieces.append({"text": data[at : facet.byte_start].decode(), "kind": "", "value": ""})
        pieces.append(
            {
                "text": data[facet.byte_start : facet.byte_end].decode(),
                "kind": facet.kind,
                "value": facet.value,
            }
        )
        at = facet.byte_end
    if at < len(data):
        pieces.append({"text": data[at:].decode(), "kind": "", "value": ""})
    return pieces


def preview_data(site: Site, text: str) -> dict[str, Any]:
    """What the preview shows for ``text``."""
    built = welcome_text(text, site.resolver.resolve)
    return {
        "graphemes": built.graphemes,
        "limit": MAX_WELCOME_GRAPHEMES,
        "fits": built.fits,
        "segments": segments(built),
        "unresolved": list(built.unresolved),
    }


def _page(
    site: Site,
    ctx: Ctx,
    organisation: Organisation,
    *,
    code: int = 200,
    text: str | None = None,
    **extra: Any,
) -> Response:
    campaign = site.store.campaign_by_id(organisation.campaign_id)
    welcome = site.departure.welcome(organisation) if site.departure else None
    shown = text if text is not None else (welcome.text if welcome else "")
    response = site.render(
        ctx,
        "welcome_page.html",
        code=code,
        organisation=organisation,
        campaign=campaign,
        welcome=welcome,
        text=shown,
        preview=preview_data(site, shown) if shown.strip() else None,
        items=checklist.items(site.store.engine, organisation.id),
        max_welcome=MAX_WELCOME_GRAPHEMES,
        now=site.store.clock(),
        oauth=site.oauth is not None,
        app_passwords=app_passwords_offered(site),
        **extra,
    )
    response.headers["Content-Security-Policy"] = SCRIPT_CSP
    return response


def page(site: Site, ctx: Ctx) -> Response:
    """The welcome post editor and the checklist."""
    return _page(site, ctx, _organisation(site, ctx))


def save_welcome(site: Site, ctx: Ctx) -> Response:
    """Preview (nothing saved) or save the welcome post; a refused text stays in the form."""
    organisation = _organisation(site, ctx)
    text = ctx.form.text("welcome_text", _("Welcome post"), max_length=3000, multiline=True)
    if ctx.form.fields.get("action") == "preview":
        return _page(site, ctx, organisation, text=text, previewed=True)
    if site.departure is None:
        raise NotAllowed(
            _("this coalition does not publish welcome posts"),
            _("Post your welcome on Bluesky yourself on the departure day"),
        )
    password = ctx.form.text("app_password", _("App password"), max_length=100)
    try:
        refuse_app_password(site, password)
        site.departure.prepare(
            organisation, text, opted_in=ctx.form.flag("opted_in"), app_password=password
        )
    except DeparturesError as error:
        return _page(site, ctx, organisation, code=400, text=text, welcome_error=error)
    return _page(site, ctx, organisation, saved=True)


def preview_json(site: Site, ctx: Ctx) -> Response:
    """The preview of the text being typed (for ``welcome.js``)."""
    member_signed_in(ctx)
    text = ctx.form.text("welcome_text", _("Welcome post"), max_length=3000, multiline=True)
    return Response(orjson.dumps(preview_data(site, text)), media_type="application/json")


def save_checklist(site: Site, ctx: Ctx) -> Response:
    """Remember the items ticked (the coordinator sees the progress)."""
    organisation = _organisation(site, ctx)
    keys = [key for key in checklist.ITEMS if ctx.form.flag(f"item-{key}")]
    checklist.save(site.store.engine, organisation.id, keys, site.store.clock())
    return redirect("/member/departure#checklist")


def routes(site: Site) -> list[Route]:
    """The departure preparation's routes (members only, refused before reading a form)."""

    def guarded(view: middleware.View) -> middleware.Endpoint:
        return middleware.page(site, view, guard=member_signed_in)

    return [
        Route("/member/departure", guarded(page)),
        Route("/member/departure/welcome", guarded(save_welcome), methods=["POST"]),
        Route("/member/departure/preview.json", guarded(preview_json), methods=["POST"]),
        Route("/member/departure/checklist", guarded(save_checklist), methods=["POST"]),
    ]
