"""The pages of reply controls and the triage queue.

For a member: the reply and quote controls of its welcome post and the triage opt-in (a
partial on the member page, its values from :func:`departures.coalition.triage.page_values`),
and its queue (``/member/triage``) where
a person hides a reply, proposes its author to the moderation list or dismisses it. For the
coordinator: the coalition's word lists and threshold (``/coordinator/campaigns/<slug>/triage``).
Everything is :class:`~departures.coalition.triage.Triage`'s; these are thin views over it.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from departures.coalition.errors import BadInput, NotAllowed
from departures.coalition.i18n import _
from departures.coalition.store import Campaign, Organisation
from departures.coalition.triage import Triage
from departures.coalition.triage_score import DEFAULT_WORDS
from departures.coalition.web import middleware
from departures.coalition.web.guards import coordinator_id, member_signed_in
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site, redirect
from departures.errors import DeparturesError
from departures.migrate.gates import REPLY_RULES, parse_choice

__all__ = ["routes"]


def _triage(site: Site) -> Triage:
    if site.departure is None:
        raise NotAllowed(
            _("this coalition makes no Bluesky writes"),
            _("Set reply controls in the Bluesky app itself"),
        )
    return Triage.from_departure(site.departure)


def _organisation(site: Site, ctx: Ctx) -> Organisation:
    return site.store.organisation(member_signed_in(ctx))


def save_controls(site: Site, ctx: Ctx) -> Response:
    """Save the reply and quote controls and the triage opt-in (gates written at once)."""
    organisation = _organisation(site, ctx)
    form = ctx.form
    replies = form.choice("replies", _("Who may reply"), ("everybody", "nobody", "some"))
    rules = [rule for rule in REPLY_RULES if form.flag(f"rule_{rule}")]
    list_uri = form.text("list_uri", _("List address"), max_length=600)
    # The page's own words for what parse_choice refuses (its messages are the CLI's).
    if replies == "some" and not rules and not list_uri:
        raise BadInput(
            _("no reply rule was chosen"),
            _("Tick at least one kind of people who may reply, or give a list"),
        )
    if list_uri and not (list_uri.startswith("at://") and "/app.bsky.graph.list/" in list_uri):
        raise BadInput(
            _("this is not the address of a Bluesky list"),
            _("Give it as at://did:.../app.bsky.graph.list/..."),
        )
    try:
        choice = parse_choice(replies, rules, list_uri, quotes=not form.flag("no_quotes"))
    except DeparturesError as error:
        raise BadInput(error.message, error.hint) from error
    _triage(site).save_settings(organisation, opted_in=form.flag("triage"), choice=choice)
    return redirect("/member#reply-controls")


def queue_page(site: Site, ctx: Ctx) -> Response:
    """The member's triage queue, its decisions and the posts the pass skipped."""
    organisation = _organisation(site, ctx)
    triage = _triage(site)
    campaign = site.store.campaign_by_id(organisation.campaign_id)
    return site.render(
        ctx,
        "triage_queue.html",
        organisation=organisation,
        campaign=campaign,
        items=triage.queue(organisation),
        decided=triage.decided(organisation),
        notes=triage.notes(organisation),
        threshold=triage.threshold(campaign.id),
        opted_in=triage.settings(organisation)[0],
    )


def decide(site: Site, ctx: Ctx) -> Response:
    """Hide, propose or dismiss one queued reply."""
    organisation = _organisation(site, ctx)
    triage = _triage(site)
    item_id = int(ctx.param("item"))
    action = ctx.form.choice("action", _("Decision"), ("hide", "propose", "dismiss"))
    note = ctx.form.text("note", _("Reason"), max_length=500)
    by = organisation.name
    if action == "hide":
        triage.hide(organisation, item_id, by=by, note=note)
    elif action == "propose":
        triage.propose(organisation, item_id, by=by, note=note)
    else:
        triage.dismiss(organisation, item_id, by=by, note=note)
    return redirect("/member/triage")


def run_now(site: Site, ctx: Ctx) -> Response:
    """Read and score the member's replies now (the pass the scheduler runs)."""
    organisation = _organisation(site, ctx)
    _triage(site).run_member(organisation)
    return redirect("/member/triage")


def _campaign(site: Site, ctx: Ctx) -> Campaign:
    own = coordinator_id(ctx)
    campaign = site.store.campaign(ctx.param("slug"))
    if campaign.coordinator_id != own:
        raise NotAllowed(_("only the campaign's coordinator can manage it"))
    return campaign


def words_page(site: Site, ctx: Ctx) -> Response:
    """The coalition's word lists and threshold."""
    campaign = _campaign(site, ctx)
    triage = _triage(site)
    lists = triage.word_lists(campaign.id)
    langs = [*DEFAULT_WORDS, *sorted(set(lists) - set(DEFAULT_WORDS))]
    return site.render(
        ctx,
        "triage_words.html",
        campaign=campaign,
        lists=[(lang, lists.get(lang, "")) for lang in langs],
        threshold=triage.threshold(campaign.id),
    )


def save_words(site: Site, ctx: Ctx) -> Response:
    """Save one word list, or the threshold."""
    campaign = _campaign(site, ctx)
    triage = _triage(site)
    if ctx.form.has("threshold"):
        triage.save_threshold(
            campaign.id, ctx.form.integer("threshold", _("Threshold"), minimum=1, maximum=100)
        )
    else:
        lang = ctx.form.text("lang", _("Language"), max_length=8, required=True)
        words = ctx.form.text("words", _("Word list"), max_length=20000, multiline=True)
        triage.save_word_list(campaign.id, lang, words)
    return redirect(f"/coordinator/campaigns/{campaign.slug}/triage")


def routes(site: Site) -> list[Route]:
    """The routes of reply controls and the triage queue (guards before any form is read)."""

    def member(view: middleware.View) -> middleware.Endpoint:
        return middleware.page(site, view, guard=member_signed_in)

    def coordinator(view: middleware.View) -> middleware.Endpoint:
        return middleware.page(site, view, guard=coordinator_id)

    words = "/coordinator/campaigns/{slug}/triage"
    return [
        Route("/member/reply-controls", member(save_controls), methods=["POST"]),
        Route("/member/triage", member(queue_page)),
        Route("/member/triage/run", member(run_now), methods=["POST"]),
        Route("/member/triage/{item:int}", member(decide), methods=["POST"]),
        Route(words, coordinator(words_page)),
        Route(words, coordinator(save_words), methods=["POST"]),
    ]
