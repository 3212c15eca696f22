"""Step 5, connect and publish: the Bluesky account, publishing with progress and pause,
then verify and, on request, undo.

* Connecting is :func:`departures.bluesky.session.login`, as ``departures login`` does: the
  app password is used once, the session's tokens go to the 0600 session store, never to the
  workspace. Disconnecting is ``SessionStore.remove`` (``departures logout``).
* Publishing, verifying and undoing are background jobs (:mod:`departures.desk.background`)
  running what ``migrate run``, ``migrate verify`` and ``migrate undo`` run, with the same
  journal: closing the browser or the desk does not stop them, and a job killed midway is
  started again when the desk starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from departures.bluesky.identity import DEFAULT_SERVICE
from departures.bluesky.session import SessionStore, StoredSession, login, revoke
from departures.commands.options import normalise_server
from departures.desk import background, job_pages
from departures.errors import BlueskyError, DeparturesError
from departures.migrate import publish as publishing
from departures.migrate.undo import undo_preview
from departures.workspace.journal import PUBLISH_DID_META

if TYPE_CHECKING:
    from departures.desk.app import Desk


def N_(message: str) -> str:
    """Mark ``message`` for extraction (translated where it is shown)."""
    return message


DOING = {
    "publish": N_("Publishing"),
    "verify": N_("Checking what people can see"),
    "undo": N_("Deleting the published posts"),
}
#: Posts of the undo confirmation shown by their text (the rest are counted).
UNDO_SHOWN = 20


def routes(desk: Desk) -> list[BaseRoute]:
    """Step 5's pages."""
    # The desk starts: publishing (or following) that was under way when it (or the
    # computer) stopped goes on where the journal says it stopped.
    if desk.has_workspace():
        background.resume_interrupted(desk.workspace_path)

    def account() -> StoredSession | None:
        return SessionStore().get()

    def page(request: Request, status: int = 200, **values: Any) -> Response:
        return render_page(desk, request, status, **values)

    def show(request: Request) -> Response:
        return page(request)

    async def connect(request: Request) -> Response:
        _ = desk.gettext(request)
        form = await request.form()
        handle = str(form.get("handle", "")).strip().removeprefix("@")
        typed_service = str(form.get("service", "")).strip() or DEFAULT_SERVICE
        password = str(form.get("password", ""))
        try:
            if not handle or not password:
                raise BlueskyError(
                    _("Give the account's handle and an app password"),
                    _(
                        "Create an app password in Bluesky: Settings, Privacy and security, "
                        "App passwords"
                    ),
                )
            try:
                service = normalise_server(typed_service)
            except click.BadParameter:
                raise BlueskyError(
                    _("%(typed)s is not a server address") % {"typed": typed_service},
                    _("Write it like https://bsky.social"),
                ) from None
            await _in_thread(login, handle, password, service)
        except DeparturesError as exc:
            # The form comes back as typed, except the password (never sent back to a page).
            return page(request, 400, error=exc, handle=handle, service=typed_service)
        return RedirectResponse("/publish", status_code=303)

    async def disconnect(request: Request) -> Response:
        removed = SessionStore().remove()
        if removed is not None and removed.oauth is not None:
            # Forgotten here whatever the server says; revoked there when it answers.
            await _in_thread(revoke, removed)
        return RedirectResponse("/publish", status_code=303)

    async def start(request: Request) -> Response:
        _ = desk.gettext(request)
        form = await request.form()
        pace = str(form.get("pace", "full"))
        params: dict[str, Any] = {
            "pace": pace if pace in ("full", "gentle") else "full",
            "no_budget": form.get("no_budget") == "on",
            "retry_failed": form.get("retry_failed") == "on",
        }
        if account() is None:
            return page(
                request,
                400,
                error=BlueskyError(_("Connect the account first"), _("Fill in the form above")),
            )
        answer = job_pages.start(desk, "publish", params, "/publish")
        return page(request, 409, error=answer) if isinstance(answer, DeparturesError) else answer

    def pause(request: Request) -> Response:
        return job_pages.pause(desk, "publish", "/publish")

    def resume(request: Request) -> Response:
        answer = job_pages.resume(desk, "publish", "/publish")
        return page(request, 409, error=answer) if isinstance(answer, DeparturesError) else answer

    async def verify(request: Request) -> Response:
        form = await request.form()
        wait = 30 if form.get("wait") == "on" else 0
        answer = job_pages.start(desk, "verify", {"wait": wait}, "/publish")
        return page(request, 409, error=answer) if isinstance(answer, DeparturesError) else answer

    def undo_targets() -> tuple[int, list[dict[str, str]]]:
        with desk.workspace() as workspace:
            return undo_preview(workspace, UNDO_SHOWN)

    def undo_page(request: Request, status: int = 200, **values: Any) -> Response:
        if not desk.has_workspace():
            return RedirectResponse("/archive", status_code=303)
        count, shown = undo_targets()
        job = background.read(desk.workspace_path, "undo")
        return desk.render(
            request,
            "publish_undo.html",
            status,
            account=account(),
            count=count,
            shown=shown,
            more=max(0, count - len(shown)),
            job=job,
            label=job_pages.label(job, DOING["undo"], desk.language(request)),
            **values,
        )

    def undo_show(request: Request) -> Response:
        return undo_page(request)

    async def undo_confirm(request: Request) -> Response:
        _ = desk.gettext(request)
        form = await request.form()
        count, _shown = undo_targets()
        # The confirmation said how many: if that changed since (a run went on), ask again.
        if str(form.get("count", "")) != str(count) or form.get("confirm") != "on":
            return undo_page(
                request,
                400,
                error=DeparturesError(
                    _("Nothing was deleted: the confirmation is missing or out of date"),
                    _("Read the list again and tick the box to confirm"),
                ),
            )
        if account() is None:
            return undo_page(
                request,
                400,
                error=BlueskyError(_("Connect the account first"), _("Fill in the form above")),
            )
        answer = job_pages.start(desk, "undo", {}, "/publish/undo")
        return (
            undo_page(request, 409, error=answer) if isinstance(answer, DeparturesError) else answer
        )

    def status_json(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in DOING:
            return desk.render(request, "not_found.html", 404)
        return job_pages.job_json(
            desk, request, kind, DOING[kind], "/publish/undo" if kind == "undo" else "/publish"
        )

    return [
        Route("/publish", show),
        Route("/publish/connect", connect, methods=["POST"]),
        Route("/publish/disconnect", disconnect, methods=["POST"]),
        Route("/publish/start", start, methods=["POST"]),
        Route("/publish/pause", pause, methods=["POST"]),
        Route("/publish/resume", resume, methods=["POST"]),
        Route("/publish/verify", verify, methods=["POST"]),
        Route("/publish/undo", undo_show),
        Route("/publish/undo", undo_confirm, methods=["POST"]),
        Route("/publish/jobs/{kind}.json", status_json),
    ]


def render_page(desk: Desk, request: Request, status: int = 200, **values: Any) -> Response:
    """Step 5's page (the account, publishing, verifying) with ``values`` (an error, the form
    as typed)."""
    if not desk.has_workspace():
        return RedirectResponse("/archive", status_code=303)
    with desk.workspace() as workspace:
        state = publishing.status(workspace)
        bound = workspace.get_meta(PUBLISH_DID_META)
    jobs = {kind: background.read(desk.workspace_path, kind) for kind in DOING}
    language = desk.language(request)
    current = SessionStore().get()
    return desk.render(
        request,
        "publish.html",
        status,
        account=current,
        other_account=bound if current is not None and bound not in (None, current.did) else None,
        state=state,
        eta=job_pages.duration(state.eta_seconds, language),
        jobs=jobs,
        labels={k: job_pages.label(j, DOING[k], language) for k, j in jobs.items()},
        service=values.pop("service", DEFAULT_SERVICE),
        **values,
    )


async def _in_thread(function: Any, *args: Any) -> Any:
    """Run a blocking library call (a login: network) off the event loop."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args)
