"""Step 1, bring the archive: upload the zip or give its path, watch the import, then the
overview.

The import is :func:`departures.archive.run.import_into` — what ``departures archive import``
runs — in a desk job, with the workspace's ``import`` lock taken before the job starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from departures.archive.run import import_into
from departures.archive.stats import archive_overview, archive_stats
from departures.desk.upload import discard, receive_archive
from departures.errors import ArchiveError, DeparturesError
from departures.i18n import _, lazy_gettext

if TYPE_CHECKING:
    from departures.desk.app import Desk
    from departures.desk.jobs import Job


TITLE = lazy_gettext("Importing the archive")


def routes(desk: Desk) -> list[BaseRoute]:
    """Step 1's pages."""

    def start_import(path: Path, uploaded: bool, name: str = "") -> Job:
        def work(progress: Any) -> Any:
            try:
                return import_into(
                    path, desk.workspace_path, holder="", progress=progress, locked=True
                )
            except BaseException:
                if uploaded:
                    discard(path)  # kept only when imported: the publisher reads its media
                raise

        try:
            return desk.jobs.start(
                "import",
                work,
                desk.lock("import", "importing an archive"),
                title=TITLE,
                next_url="/archive/overview",
                back_url="/archive",
                shown_as={str(path): name} if uploaded and name else None,
            )
        except BaseException:
            if uploaded:
                discard(path)
            raise

    def page(request: Request) -> Response:
        running = desk.jobs.running("import")
        if running is not None:
            return RedirectResponse(f"/jobs/{running.id}", status_code=303)
        return desk.render(request, "archive.html", has_workspace=desk.has_workspace())

    async def upload(request: Request) -> Response:
        desk.workspace_path.mkdir(parents=True, exist_ok=True)
        try:
            path, name = await receive_archive(
                request.headers.get("content-type", ""),
                request.headers.get("content-length"),
                request.stream(),
                desk.workspace_path,
            )
        except DeparturesError as exc:
            return desk.render(
                request, "archive.html", 400, error=exc, has_workspace=desk.has_workspace()
            )
        try:
            job = start_import(path, uploaded=True, name=name or "archive.zip")
        except DeparturesError as exc:
            return desk.render(
                request, "archive.html", 409, error=exc, has_workspace=desk.has_workspace()
            )
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    async def from_path(request: Request) -> Response:
        form = await request.form()
        typed = str(form.get("path", "")).strip()
        try:
            if not typed:
                raise ArchiveError(
                    _("No path was given"),
                    _("Type where the archive is, e.g. ~/Downloads/x.zip"),
                )
            path = Path(typed).expanduser()
            if not path.exists():
                raise ArchiveError(
                    _("There is no file or folder at %(path)s") % {"path": path},
                    _("Check the path (copy it from your file manager), or upload the zip"),
                )
            job = start_import(path, uploaded=False)
        except DeparturesError as exc:
            return desk.render(
                request,
                "archive.html",
                400,
                error=exc,
                typed_path=typed,
                has_workspace=desk.has_workspace(),
            )
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    def overview(request: Request) -> Response:
        if not desk.has_workspace():
            return RedirectResponse("/archive", status_code=303)
        with desk.workspace() as workspace:
            stats = archive_stats(workspace)
            more = archive_overview(workspace)
        return desk.render(request, "archive_overview.html", stats=stats, overview=more)

    return [
        Route("/archive", page),
        Route("/archive/upload", upload, methods=["POST"]),
        Route("/archive/path", from_path, methods=["POST"]),
        Route("/archive/overview", overview),
    ]
