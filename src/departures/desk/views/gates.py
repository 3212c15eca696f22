"""Who may reply to and quote the migrated posts (thread gates and post gates), from step 5.

The page shows the organisation's stored choice (:func:`departures.migrate.gates.
stored_choice`, the one ``departures migrate gates`` and ``migrate run`` use) and changes it:
saving stores it (:func:`~departures.migrate.gates.store_choice`) and, when posts are already
published and an account is connected, starts the ``gates`` background job, which runs
:func:`~departures.migrate.gates.apply_to_workspace` through the workspace's journal (exactly
once, with progress, pause and resume). Posts published later get the stored choice from the
publishing job itself, as from ``migrate run``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from departures.bluesky.session import SessionStore
from departures.desk import background, job_pages
from departures.errors import DeparturesError
from departures.migrate import publish as publishing
from departures.migrate.gates import (
    EVERYBODY,
    REPLY_RULES,
    GateChoice,
    parse_choice,
    store_choice,
    stored_choice,
)

if TYPE_CHECKING:
    from departures.desk.app import Desk

KIND = "gates"
PAGE = "/publish/gates"


def N_(message: str) -> str:
    """Mark ``message`` for extraction (translated where it is shown)."""
    return message


#: What the progress line says.
DOING = N_("Writing who may reply and quote")


def routes(desk: Desk) -> list[BaseRoute]:
    """The reply and quote controls' page, its form and its job."""

    def page(request: Request, status: int = 200, **values: Any) -> Response:
        if not desk.has_workspace():
            return RedirectResponse("/archive", status_code=303)
        with desk.workspace() as workspace:
            stored = stored_choice(workspace)
            published = publishing.status(workspace).published
        job = background.read(desk.workspace_path, KIND)
        publishing_job = background.read(desk.workspace_path, "publish")
        return desk.render(
            request,
            "gates.html",
            status,
            choice=values.pop("choice", None) or stored or EVERYBODY,
            chosen=stored is not None,
            published=published,
            account=SessionStore().get(),
            job=job,
            publishing=publishing_job.active,
            label=job_pages.label(job, DOING, desk.language(request)),
            typed=values.pop("typed", None),
            saved=bool(request.query_params.get("saved")),
            **values,
        )

    def show(request: Request) -> Response:
        return page(request)

    def parse(request: Request, form: Any) -> GateChoice:
        _ = desk.gettext(request)
        replies = str(form.get("replies", ""))
        rules = [str(rule) for rule in form.getlist("rule")]
        list_uri = str(form.get("list_uri", "")).strip()
        quotes = str(form.get("quotes", ""))
        # The page's own words for what parse_choice refuses (its messages are the CLI's).
        if replies not in ("everybody", "nobody", "some"):
            raise DeparturesError(
                _("Choose who may reply: everybody, nobody or only some people"),
                _("Pick one of the three options and save again"),
            )
        if any(rule not in REPLY_RULES for rule in rules):
            raise DeparturesError(
                _("This page does not know one of the kinds of people who may reply"),
                _("Tick only the boxes shown on this page and save again"),
            )
        if quotes not in ("allowed", "refused"):
            raise DeparturesError(
                _("Choose whether people may quote the posts"),
                _("Pick one of the two options and save again"),
            )
        if replies == "some" and not rules and not list_uri:
            raise DeparturesError(
                _("no reply rule was chosen"),
                _("Tick at least one kind of people who may reply, or give a list"),
            )
        if list_uri and not (list_uri.startswith("at://") and "/app.bsky.graph.list/" in list_uri):
            raise DeparturesError(
                _("this is not the address of a Bluesky list"),
                _("Give it as at://did:.../app.bsky.graph.list/..."),
            )
        return parse_choice(replies, rules, list_uri, quotes=quotes == "allowed")

    async def save(request: Request) -> Response:
        _ = desk.gettext(request)
        if not desk.has_workspace():
            return RedirectResponse("/archive", status_code=303)
        form = await request.form()
        if background.read(desk.workspace_path, KIND).active:
            return page(
                request,
                409,
                error=DeparturesError(
                    _("Nothing was changed: the controls are being written now"),
                    _("Wait until it is done (or pause it), then save your new choice"),
                ),
            )
        try:
            choice = parse(request, form)
        except DeparturesError as exc:
            # Nothing is stored; the form comes back as it was filled in.
            typed = {
                "replies": str(form.get("replies", "")),
                "rules": [str(rule) for rule in form.getlist("rule")],
                "list_uri": str(form.get("list_uri", "")),
                "quotes": str(form.get("quotes", "")),
            }
            return page(request, 400, error=exc, typed=typed)
        with desk.workspace() as workspace:
            store_choice(workspace, choice)
            published = publishing.status(workspace).published
        if published and SessionStore().get() is not None:
            return _apply(request)
        return RedirectResponse(PAGE + "?saved=1", status_code=303)

    def _apply(request: Request) -> Response:
        if background.read(desk.workspace_path, "publish").active:
            # Publishing gives every published post the stored choice when it ends.
            return RedirectResponse(PAGE + "?saved=1", status_code=303)
        answer = job_pages.start(desk, KIND, {}, PAGE)
        return page(request, 409, error=answer) if isinstance(answer, DeparturesError) else answer

    def apply(request: Request) -> Response:
        _ = desk.gettext(request)
        if SessionStore().get() is None:
            return page(
                request,
                400,
                error=DeparturesError(
                    _("Connect the account first"), _("Connect it on the publishing page")
                ),
            )
        return _apply(request)

    def pause(request: Request) -> Response:
        return job_pages.pause(desk, KIND, PAGE)

    def resume(request: Request) -> Response:
        answer = job_pages.resume(desk, KIND, PAGE)
        return page(request, 409, error=answer) if isinstance(answer, DeparturesError) else answer

    def status_json(request: Request) -> Response:
        return job_pages.job_json(desk, request, KIND, DOING, PAGE)

    return [
        Route(PAGE, show),
        Route(PAGE, save, methods=["POST"]),
        Route(PAGE + "/apply", apply, methods=["POST"]),
        Route(PAGE + "/pause", pause, methods=["POST"]),
        Route(PAGE + "/resume", resume, methods=["POST"]),
        Route(PAGE + "/job.json", status_json),
    ]
