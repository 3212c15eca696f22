"""Step 6, find the audience: match (the coalition's directory first, then search), review
the candidates side by side, follow the accepted ones paced; import a directory export or
join a coalition by its address.

Matching and following are background jobs running what ``audience match`` and ``audience
follow`` run (:mod:`departures.desk.tasks`); the review's decisions are
:func:`departures.audience.store.decide` (``audience accept`` / ``reject``); a directory
export is :func:`departures.audience.matching.import_directory` (``audience
import-directory``). Joining a coalition keeps its address in the workspace, so the match
asks its directory first.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from departures.audience import inputs, matching, store
from departures.commands.options import normalise_server
from departures.defaults import PUBLIC_APPVIEW
from departures.desk import background, job_pages
from departures.errors import DeparturesError, WorkspaceError

if TYPE_CHECKING:
    from departures.desk.app import Desk


def N_(message: str) -> str:
    """Mark ``message`` for extraction (translated where it is shown)."""
    return message


DOING = {
    "match": N_("Looking for the accounts on Bluesky"),
    "follow": N_("Following"),
}
#: The workspace setting that holds the joined coalition's address.
COALITION_META = "desk_coalition_url"
#: Candidates per page of the review.
PAGE_SIZE = 50
#: The largest directory export the page accepts.
DIRECTORY_MAX_BYTES = 20 * 1024 * 1024
STATUSES = ("proposed", "accepted", "rejected", "all")


def _address(typed: str, what: str) -> str:
    try:
        return normalise_server(typed)
    except click.BadParameter:
        raise WorkspaceError(
            f"{typed!r} is not an address", f"Write the {what} like https://example.org"
        ) from None


def routes(desk: Desk) -> list[BaseRoute]:
    """Step 6's pages."""

    def page(request: Request, status: int = 200, **values: Any) -> Response:
        if not desk.has_workspace():
            return RedirectResponse("/archive", status_code=303)
        with desk.workspace() as workspace:
            counts = store.counts(workspace)
            coalition = workspace.get_meta(COALITION_META)
        jobs = {kind: background.read(desk.workspace_path, kind) for kind in DOING}
        language = desk.language(request)
        return desk.render(
            request,
            "audience.html",
            status,
            counts=counts,
            coalition=coalition,
            appview=PUBLIC_APPVIEW,
            jobs=jobs,
            labels={k: job_pages.label(j, DOING[k], language) for k, j in jobs.items()},
            **values,
        )

    def show(request: Request) -> Response:
        return page(request)

    async def join(request: Request) -> Response:
        form = await request.form()
        typed = str(form.get("coalition", "")).strip()
        try:
            if not typed:
                raise WorkspaceError(
                    "No address was given", "Paste the coalition's address, e.g. https://…"
                )
            url = _address(typed, "coalition's address")
        except DeparturesError as exc:
            return page(request, 400, error=exc, typed_coalition=typed)
        with desk.workspace() as workspace, workspace.transaction():
            workspace.set_meta(COALITION_META, url)
        return RedirectResponse("/audience", status_code=303)

    async def match(request: Request) -> Response:
        form = await request.form()
        relation = str(form.get("relation", "following"))
        try:
            if relation not in ("following", "followers", "both"):
                raise WorkspaceError("Choose whose accounts to look for", "Pick one of the list")
            appview = _address(str(form.get("appview", "")) or PUBLIC_APPVIEW, "search service")
            with desk.workspace() as workspace:
                store.require_archive(workspace)
                directory = workspace.get_meta(COALITION_META)
        except DeparturesError as exc:
            return page(request, 400, error=exc)
        params = {"relation": relation, "directory": directory, "appview": appview}
        answer = job_pages.start(desk, "match", params, "/audience")
        return page(request, 409, error=answer) if isinstance(answer, DeparturesError) else answer

    async def import_directory(request: Request) -> Response:
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("directory")
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise WorkspaceError("No file was chosen", "Choose the directory export (.json)")
            data = await upload.read(DIRECTORY_MAX_BYTES + 1)
            if len(data) > DIRECTORY_MAX_BYTES:
                raise WorkspaceError(
                    "This file is too large for a directory export",
                    "Choose the .json file the coalition gave you",
                )
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "directory.json"
                path.write_bytes(data)
                entries = inputs.read_directory_file(path)
            with desk.workspace() as workspace:
                stored, new, proven = matching.import_directory(
                    workspace, entries, f"file:{Path(upload.filename).name}"
                )
        except DeparturesError as exc:
            return page(request, 400, error=exc)
        finally:
            await form.close()
        return page(
            request,
            imported={"read": len(entries), "stored": stored, "new": new, "proven": proven},
        )

    def review(request: Request) -> Response:
        if not desk.has_workspace():
            return RedirectResponse("/archive", status_code=303)
        status = request.query_params.get("status", "proposed")
        status = status if status in STATUSES else "proposed"
        try:
            number = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            number = 1
        with desk.workspace() as workspace:
            counts = store.counts(workspace)
            found = store.candidates_page(
                workspace,
                status=None if status == "all" else status,
                offset=(number - 1) * PAGE_SIZE,
                limit=PAGE_SIZE,
            )
            profiles = store.x_profiles(workspace, [c.x_id for c in found])
        total = sum(counts.values()) if status == "all" else counts.get(status, 0)
        pages = max(1, -(-total // PAGE_SIZE))
        return desk.render(
            request,
            "audience_review.html",
            candidates=found,
            profiles=profiles,
            counts=counts,
            showing=status,
            page=number,
            pages=pages,
            total=total,
        )

    async def decide(request: Request) -> Response:
        form = await request.form()
        decision = {"accept": "accepted", "reject": "rejected"}.get(str(form.get("decision")))
        back = (
            f"/audience/review?status={form.get('status', 'proposed')}&page={form.get('page', 1)}"
        )
        try:
            candidate = int(str(form.get("id", "")))
        except ValueError:
            candidate = 0
        if decision is None or candidate <= 0:
            return page(
                request,
                400,
                error=WorkspaceError("That decision was not understood", "Use the buttons"),
            )
        try:
            with desk.workspace() as workspace:
                store.decide(workspace, [candidate], decision)
        except DeparturesError as exc:
            return page(request, 400, error=exc)
        if not back.startswith("/audience/review?status=") or "//" in back:
            back = "/audience/review"
        return RedirectResponse(f"{back}#after-{candidate}", status_code=303)

    async def follow(request: Request) -> Response:
        form = await request.form()
        try:
            daily_cap = min(5000, max(1, int(str(form.get("daily_cap", 300)))))
            per_hour = min(5000, max(0, int(str(form.get("per_hour", 60)))))
        except ValueError:
            return page(
                request,
                400,
                error=WorkspaceError("The pace must be whole numbers", "For example 300 and 60"),
            )
        params = {
            "daily_cap": daily_cap,
            "per_hour": per_hour,
            "no_budget": form.get("no_budget") == "on",
        }
        answer = job_pages.start(desk, "follow", params, "/audience")
        return page(request, 409, error=answer) if isinstance(answer, DeparturesError) else answer

    def pause(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in DOING:
            return desk.render(request, "not_found.html", 404)
        return job_pages.pause(desk, kind, "/audience")

    def resume(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in DOING:
            return desk.render(request, "not_found.html", 404)
        answer = job_pages.resume(desk, kind, "/audience")
        return page(request, 409, error=answer) if isinstance(answer, DeparturesError) else answer

    def status_json(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in DOING:
            return desk.render(request, "not_found.html", 404)
        return job_pages.job_json(desk, request, kind, DOING[kind], "/audience")

    return [
        Route("/audience", show),
        Route("/audience/coalition", join, methods=["POST"]),
        Route("/audience/match", match, methods=["POST"]),
        Route("/audience/directory", import_directory, methods=["POST"]),
        Route("/audience/review", review),
        Route("/audience/decide", decide, methods=["POST"]),
        Route("/audience/follow", follow, methods=["POST"]),
        Route("/audience/{kind}/pause", pause, methods=["POST"]),
        Route("/audience/{kind}/resume", resume, methods=["POST"]),
        Route("/audience/jobs/{kind}.json", status_json),
    ]
