"""Step 3, describe the images: alt text typed next to each picture, saved as you go, with
"38 of 112 images described"; the CSV round trip of ``migrate alt-text`` for teams who
prefer a spreadsheet. Also the thumbnails every step shows (``/media/<tweet>/<position>``).

Saving is :func:`departures.migrate.alttext.set_alt_text` (what a CSV import does for one
row), the CSV is ``export_alt_texts`` / ``import_alt_texts``; each write holds the
workspace's ``plan`` lock for its moment.
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from departures.errors import DeparturesError
from departures.i18n import _, format_number, ngettext
from departures.migrate.alttext import (
    AltTextError,
    export_alt_texts,
    import_alt_texts,
    media_member,
    media_to_describe,
    set_alt_text,
)
from departures.migrate.preview import thumbnail
from departures.page_errors import for_page

if TYPE_CHECKING:
    from departures.desk.app import Desk

PER_PAGE = 20
#: An alt-text CSV of 10,000 images is under 3 MB.
CSV_LIMIT = 20 * 1024 * 1024
THUMB_SIDE = 400


def routes(desk: Desk) -> list[BaseRoute]:
    """Step 3's pages and the media thumbnails."""

    @lru_cache(maxsize=512)
    def cached_thumbnail(workspace_key: str, member: str) -> bytes | None:
        with desk.workspace() as workspace:
            return thumbnail(workspace, member, THUMB_SIDE)

    def progress_text(request: Request, described: int, total: int) -> str:
        return ngettext(
            "%(described)s of %(total)s image described",
            "%(described)s of %(total)s images described",
            total,
        ) % {"described": format_number(described), "total": format_number(total)}

    def page(request: Request, error: DeparturesError | None = None, status: int = 200) -> Response:
        if not desk.has_workspace():
            return RedirectResponse("/archive", status_code=303)
        query = request.query_params
        number = max(1, int(query["page"])) if query.get("page", "").isdigit() else 1
        missing = query.get("missing") == "1"
        with desk.workspace() as workspace:
            found = media_to_describe(
                workspace, offset=(number - 1) * PER_PAGE, limit=PER_PAGE, missing_only=missing
            )
        listed = found.total - found.described if missing else found.total
        return desk.render(
            request,
            "images.html",
            status,
            found=found,
            page=number,
            pages=max(1, -(-listed // PER_PAGE)),
            missing=missing,
            progress=progress_text(request, found.described, found.total),
            error=error,
            saved=query.get("saved") == "1",
            imported=query.get("imported"),
        )

    def save(request: Request, form: Any) -> Response:
        wants_json = "application/json" in request.headers.get("accept", "")
        _ = desk.gettext(request)
        tweet, position = str(form.get("tweet", "")), str(form.get("position", ""))
        try:
            if not (tweet.isdigit() and position.isdigit()):
                raise AltTextError(_("This form names no image"), _("Reload the page"))
            with desk.lock("plan", "saving an alt text"), desk.workspace() as workspace:
                set_alt_text(workspace, int(tweet), int(position), str(form.get("alt", "")))
                counts = media_to_describe(workspace, limit=0)
        except DeparturesError as exc:
            if wants_json:
                shown = for_page(exc, "desk")  # the reader's language, a page's hint
                line = DeparturesError(shown.message, shown.hint).one_line()
                return JSONResponse({"message": line, "ok": False}, status_code=400)
            return page(request, exc, 400)
        if wants_json:
            return JSONResponse(
                {
                    "ok": True,
                    "message": _("Saved"),
                    "progress": progress_text(request, counts.described, counts.total),
                }
            )
        back = str(form.get("back", "/images"))
        back = back if back.startswith("/images") else "/images"
        joiner = "&" if "?" in back else "?"
        return RedirectResponse(f"{back}{joiner}saved=1#m{tweet}-{position}", status_code=303)

    async def save_view(request: Request) -> Response:
        form = await request.form()
        return await run_in_threadpool(save, request, form)

    def media(request: Request) -> Response:
        tweet, position = request.path_params["tweet"], request.path_params["position"]
        with desk.workspace() as workspace:
            member = media_member(workspace, tweet, position)
            key = f"{workspace.path}:{workspace.get_meta('archive_path')}"
        picture = cached_thumbnail(key, member) if member else None
        if picture is None:
            return Response(status_code=404)
        return Response(picture, media_type="image/jpeg")

    def export_csv(request: Request) -> Response:
        # Semicolons for Dutch and French: what Excel expects in Belgium.
        separator = ";" if desk.language(request) in ("nl", "fr") else ","
        with tempfile.TemporaryDirectory() as folder, desk.workspace() as workspace:
            target = Path(folder) / "alt-text.csv"
            export_alt_texts(workspace, target, separator=separator)
            body = target.read_bytes()
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="alt-text.csv"'},
        )

    async def import_csv(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > CSV_LIMIT:
            error = AltTextError(_("This file is too large for an alt-text CSV"), _("Send the CSV"))
            return await run_in_threadpool(page, request, error, 413)
        async with request.form(max_files=1, max_fields=2) as form:
            upload = form.get("csv")
            data = await upload.read(CSV_LIMIT + 1) if isinstance(upload, UploadFile) else b""
        return await run_in_threadpool(_import_csv, request, data)

    def _import_csv(request: Request, data: bytes) -> Response:
        try:
            if not data:
                raise AltTextError(
                    _("No file was chosen"), _("Choose the alt-text CSV and send it")
                )
            if len(data) > CSV_LIMIT:
                raise AltTextError(
                    _("This file is too large for an alt-text CSV"), _("Send the CSV")
                )
            with tempfile.TemporaryDirectory() as folder:
                source = Path(folder) / "alt-text.csv"
                source.write_bytes(data)
                with desk.lock("plan", "reading alt texts"), desk.workspace() as workspace:
                    result = import_alt_texts(workspace, source)
        except DeparturesError as exc:
            return page(request, exc, 400)
        return RedirectResponse(
            f"/images?imported={result.updated + result.cleared}", status_code=303
        )

    return [
        Route("/images", page),
        Route("/images/alt", save_view, methods=["POST"]),
        Route("/images/alt-text.csv", export_csv),
        Route("/images/import", import_csv, methods=["POST"]),
        Route("/media/{tweet:int}/{position:int}", media),
    ]
