"""The moderation list's pages: the public list with its audit log (HTML and JSON) and the
appeal form, the member page's part (propose, decide, decide appeals, block or mute), and
the coordinator's page of its campaign's list (decide proposals and appeals).

The rules are the store's (:mod:`departures.coalition.store.moderation`), the writes the list
sync's (:mod:`departures.coalition.moderation`); these views read forms and render.

Who appeals is proved by signing in with Bluesky: :func:`appellant`, the appeal's guard, asks
:func:`.guards.bluesky_signed_in`, the one place that says which Bluesky account is signed in
(the directory's sign-in: through OAuth, :mod:`.oauth`, when the service has it, else with an
app password, :mod:`.signin`).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response
from starlette.routing import Route

from departures.coalition import moderation
from departures.coalition.errors import NotAllowed
from departures.coalition.i18n import _
from departures.coalition.listsync import CoalitionLists
from departures.coalition.store import Campaign, Organisation
from departures.coalition.store import graph as graph_rows
from departures.coalition.store import moderation as rows
from departures.coalition.store.moderation import Actor, Event, Proposal
from departures.coalition.web import middleware
from departures.coalition.web.guards import bluesky_signed_in, coordinator_id, member_signed_in
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site, redirect

__all__ = ["appellant", "routes"]

MAX_EVIDENCE_FIELD = 6000


def appellant(ctx: Ctx) -> tuple[str, str]:
    """The (DID, handle) of the Bluesky account signed in to appeal; refused otherwise (a
    guard: session only)."""
    return bluesky_signed_in(ctx)


def _signed_in_did(ctx: Ctx) -> tuple[str, str] | None:
    try:
        return appellant(ctx)
    except NotAllowed:
        return None


def _lists(site: Site) -> CoalitionLists | None:
    """The list writer, when the service makes Bluesky writes."""
    day = site.departure
    if day is None:
        return None
    return CoalitionLists(site.store, day.secrets, day.service, budget=day.budget)


def _who(event: Event) -> dict[str, str]:
    actor = event.actor
    gone = actor is None or (actor.kind == "member" and not event.actor_name)
    kind = "former_member" if gone or actor is None else actor.kind
    return {"kind": kind, "name": event.actor_name if kind == "member" else ""}


def _entry_json(entry: Proposal) -> dict[str, Any]:
    return {
        "did": entry.subject_did,
        "handle": entry.subject_handle,
        "listed_at": entry.decided_at.isoformat() if entry.decided_at else None,
        "reasons": entry.reasons,
        "evidence": list(entry.evidence),
        "list_item": entry.listed_uri,
    }


def _event_json(event: Event) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(),
        "action": event.action,
        "who": _who(event),
        "reason": event.reason,
        "evidence": list(event.evidence),
        "did": event.subject_did,
        "handle": event.subject_handle,
    }


# --- public ----------------------------------------------------------------------------------


def _public(site: Site, campaign: Campaign) -> tuple[list[Proposal], list[Event]]:
    engine = site.store.engine
    return rows.to_list(engine, campaign.id), rows.events(engine, campaign.id, listed_only=True)


def public_page(site: Site, ctx: Ctx, **extra: Any) -> Response:
    """The list's entries, the audit log of every listing, and the appeal form."""
    campaign = site.store.campaign(ctx.param("slug"))
    entries, events = _public(site, campaign)
    signed_in = _signed_in_did(ctx)
    own = rows.listed_for(site.store.engine, campaign.id, signed_in[0]) if signed_in else None
    return site.render(
        ctx,
        "modlist_public.html",
        campaign=campaign,
        entries=entries,
        events=events,
        modlist=graph_rows.modlist_uri(site.store.engine, campaign.id),
        signed_in=signed_in,
        oauth=site.oauth is not None,
        own=own,
        open_appeal=rows.open_appeal_of(site.store.engine, own.id) if own else None,
        **extra,
    )


def public_json(site: Site, ctx: Ctx) -> Response:
    """The same as JSON: the list's URI, its entries and the audit log (newest first)."""
    campaign = site.store.campaign(ctx.param("slug"))
    entries, events = _public(site, campaign)
    body = {
        "campaign": campaign.slug,
        "list": graph_rows.modlist_uri(site.store.engine, campaign.id),
        "entries": [_entry_json(entry) for entry in entries],
        "audit": [_event_json(event) for event in events],
    }
    return Response(orjson.dumps(body), media_type="application/json")


def file_appeal(site: Site, ctx: Ctx) -> Response:
    """The signed-in listed account appeals its entry."""
    did, _handle = appellant(ctx)
    campaign = site.store.campaign(ctx.param("slug"))
    statement = ctx.form.text(
        "statement", _("Your statement"), max_length=rows.MAX_REASONS, multiline=True
    )
    moderation.appeal(site.store, campaign, did, statement)
    return public_page(site, ctx, appealed=True)


# --- the member page ------------------------------------------------------------------------


def _member(site: Site, ctx: Ctx) -> tuple[Organisation, Campaign, Actor]:
    organisation = site.store.organisation(member_signed_in(ctx))
    campaign = site.store.campaign_by_id(organisation.campaign_id)
    return organisation, campaign, Actor.member(organisation.id)


def propose(site: Site, ctx: Ctx) -> Response:
    """A member proposes an account, with its reasons and links to posts."""
    _organisation, campaign, actor = _member(site, ctx)
    account = ctx.form.text("account", _("Account"), max_length=253, required=True)
    reasons = ctx.form.text(
        "reasons", _("Reasons"), max_length=rows.MAX_REASONS, required=True, multiline=True
    )
    links = ctx.form.text(
        "evidence", _("Links to posts"), max_length=MAX_EVIDENCE_FIELD, multiline=True
    )
    moderation.propose(
        site.store,
        site.resolver,
        campaign,
        actor,
        account,
        reasons,
        moderation.split_evidence(links),
    )
    return redirect("/member#modlist")


def decide(site: Site, ctx: Ctx) -> Response:
    """A second member approves or rejects a proposal."""
    _organisation, campaign, actor = _member(site, ctx)
    choice = ctx.form.choice("decision", _("Decision"), ("approve", "reject"))
    reason = ctx.form.text("reason", _("Reason"), max_length=rows.MAX_REASONS, multiline=True)
    moderation.decide(
        site.store,
        _lists(site),
        campaign,
        int(ctx.param("proposal")),
        actor,
        approve=choice == "approve",
        reason=reason,
    )
    return redirect("/member#modlist")


def decide_appeal(site: Site, ctx: Ctx) -> Response:
    """A member who took no part in the listing upholds or dismisses an appeal."""
    _organisation, campaign, actor = _member(site, ctx)
    choice = ctx.form.choice("decision", _("Decision"), ("uphold", "dismiss"))
    reason = ctx.form.text("reason", _("Reason"), max_length=rows.MAX_REASONS, multiline=True)
    moderation.decide_appeal(
        site.store,
        _lists(site),
        campaign,
        int(ctx.param("appeal")),
        actor,
        uphold=choice == "uphold",
        reason=reason,
    )
    return redirect("/member#modlist")


def choose(site: Site, ctx: Ctx) -> Response:
    """The member blocks the list's accounts, mutes them, or neither."""
    organisation, _campaign, _actor = _member(site, ctx)
    if site.departure is None:
        raise NotAllowed(_("this coalition makes no Bluesky writes"))
    choice = ctx.form.choice("choice", _("Block or mute"), rows.CHOICES)
    moderation.choose(site.store, site.departure, organisation, choice)
    return redirect("/member#modlist")


# --- the coordinator's page -------------------------------------------------------------------


def _coordinated(site: Site, ctx: Ctx) -> tuple[Campaign, Actor]:
    own = coordinator_id(ctx)
    campaign = site.store.campaign(ctx.param("slug"))
    if campaign.coordinator_id != own:
        raise NotAllowed(_("only the campaign's coordinator can manage it"))
    return campaign, Actor.coordinator(own)


def coordinator_page(site: Site, ctx: Ctx) -> Response:
    """Proposals waiting for the coordinator's decision, open appeals, the audit log."""
    campaign, _actor = _coordinated(site, ctx)
    return site.render(
        ctx,
        "modlist_coordinator.html",
        campaign=campaign,
        modlist_view=moderation.coordinator_view(site.store, campaign),
    )


def _coordinator_page_url(campaign: Campaign) -> str:
    return f"/coordinator/campaigns/{campaign.slug}/modlist"


def coordinator_decide(site: Site, ctx: Ctx) -> Response:
    """The coordinator approves or rejects a proposal (not its own)."""
    campaign, actor = _coordinated(site, ctx)
    choice = ctx.form.choice("decision", _("Decision"), ("approve", "reject"))
    reason = ctx.form.text("reason", _("Reason"), max_length=rows.MAX_REASONS, multiline=True)
    moderation.decide(
        site.store,
        _lists(site),
        campaign,
        int(ctx.param("proposal")),
        actor,
        approve=choice == "approve",
        reason=reason,
    )
    return redirect(_coordinator_page_url(campaign))


def coordinator_decide_appeal(site: Site, ctx: Ctx) -> Response:
    """The coordinator upholds or dismisses an appeal (refused when it took part)."""
    campaign, actor = _coordinated(site, ctx)
    choice = ctx.form.choice("decision", _("Decision"), ("uphold", "dismiss"))
    reason = ctx.form.text("reason", _("Reason"), max_length=rows.MAX_REASONS, multiline=True)
    moderation.decide_appeal(
        site.store,
        _lists(site),
        campaign,
        int(ctx.param("appeal")),
        actor,
        uphold=choice == "uphold",
        reason=reason,
    )
    return redirect(_coordinator_page_url(campaign))


def routes(site: Site) -> list[Route]:
    """The public list and appeal pages, and the member page's moderation forms."""

    def member_post(path: str, view: middleware.View) -> Route:
        return Route(path, middleware.page(site, view, guard=member_signed_in), methods=["POST"])

    base = "/campaigns/{slug}/moderation"
    coordinated = "/coordinator/campaigns/{slug}/modlist"
    return [
        Route(base, middleware.page(site, public_page)),
        Route(base + ".json", middleware.page(site, public_json)),
        Route(
            base + "/appeal",
            middleware.page(site, file_appeal, guard=appellant),
            methods=["POST"],
        ),
        member_post("/member/modlist/propose", propose),
        member_post("/member/modlist/{proposal:int}/decide", decide),
        member_post("/member/modlist/appeals/{appeal:int}/decide", decide_appeal),
        member_post("/member/modlist/choice", choose),
        Route(coordinated, middleware.page(site, coordinator_page, guard=coordinator_id)),
        Route(
            coordinated + "/{proposal:int}/decide",
            middleware.page(site, coordinator_decide, guard=coordinator_id),
            methods=["POST"],
        ),
        Route(
            coordinated + "/appeals/{appeal:int}/decide",
            middleware.page(site, coordinator_decide_appeal, guard=coordinator_id),
            methods=["POST"],
        ),
    ]
