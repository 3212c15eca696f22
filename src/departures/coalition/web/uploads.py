"""Multipart forms (file uploads) read by Starlette's parser (``python-multipart``), within
limits each endpoint declares.

The body is streamed: file parts go to spooled temporary files (on disk past 1 MB), text
fields are bounded by ``max_field_size``, and the whole body is counted as it arrives, so an
upload over the endpoint's limit is refused after at most the limit and one chunk, and one
whose ``Content-Length`` says so before a byte of it is read. Anything the parser cannot
read is a :class:`~departures.coalition.errors.BadInput` (400) and anything over a limit a
:class:`~departures.coalition.errors.TooLarge` (413), each with one line saying what to do.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Message, Receive

from departures.coalition.errors import BadInput, TooLarge
from departures.coalition.forms import Form
from departures.coalition.i18n import _

__all__ = ["Files", "UploadLimits", "Uploaded", "multipart_form"]


@dataclass(frozen=True)
class UploadLimits:
    """What one upload endpoint accepts."""

    max_body: int
    """Bytes of the whole body (checked from Content-Length first, then while streaming)."""
    max_files: int
    """File parts (an empty file input counts: browsers send it)."""
    max_fields: int
    """Text fields."""
    max_field_size: int = 16 * 1024
    """Bytes of one text field (file parts are bounded by ``max_body`` only)."""
    too_large_hint: str = ""
    """What to do when the body is over ``max_body`` (a default hint when empty)."""


@dataclass(frozen=True)
class Uploaded:
    """One uploaded file: its name as the browser gave it, its size, and its contents."""

    filename: str
    size: int
    file: IO[bytes]


Files = dict[str, Uploaded]


class _BoundedReceive:
    """The request's ``receive``, refusing the body once more than ``limit`` bytes came."""

    def __init__(self, receive: Receive, limit: int, error: TooLarge) -> None:
        self.receive = receive
        self.limit = limit
        self.error = error
        self.seen = 0

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                raise self.error
        return message


def _too_large(limits: UploadLimits) -> TooLarge:
    megabytes = max(1, limits.max_body // (1024 * 1024))
    return TooLarge(
        _("this upload is larger than %(mb)d MB") % {"mb": megabytes},
        limits.too_large_hint or _("Send a smaller file"),
    )


def _unreadable(detail: str) -> BadInput | TooLarge:
    # Starlette says which limit a part broke only in its message.
    if detail.startswith(("Part exceeded", "Field exceeded")):
        return TooLarge(_("a field of this form is too long"), _("Shorten it and send it again"))
    if detail.startswith("Too many"):
        return BadInput(
            _("the upload has more parts than this form sends"), _("Use the form on the page")
        )
    return BadInput(_("the upload could not be read"), _("Send it again from the page"))


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


@contextlib.asynccontextmanager
async def multipart_form(
    request: Request, limits: UploadLimits
) -> AsyncIterator[tuple[Form, Files]]:
    """The text fields and the non-empty files of a multipart request, read within ``limits``.

    The files are open while the ``async with`` block runs and closed (deleted) after it.
    """
    if _content_type(request) != "multipart/form-data":
        raise BadInput(_("this address takes the upload form only"), _("Use the form on the page"))
    too_large = _too_large(limits)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_body:
        raise too_large
    bounded = Request(request.scope, _BoundedReceive(request.receive, limits.max_body, too_large))
    try:
        data = await bounded.form(
            max_files=limits.max_files,
            max_fields=limits.max_fields,
            max_part_size=limits.max_field_size,
        )
    except HTTPException as exc:  # how Starlette reports a parse error inside an app
        raise _unreadable(str(exc.detail)) from None
    except MultiPartException as exc:
        raise _unreadable(exc.message) from None
    try:
        yield _split(data.multi_items())
    finally:
        await data.close()


def _split(items: list[tuple[str, UploadFile | str]]) -> tuple[Form, Files]:
    fields: dict[str, str] = {}
    files: Files = {}
    seen: set[str] = set()
    for name, value in items:
        if not name or name in seen:
            raise BadInput(_("the upload could not be read"), _("Send it again from the page"))
        seen.add(name)
        if isinstance(value, str):
            fields[name] = value
        elif value.size:
            # An empty file part is a file input left empty: nothing was chosen.
            files[name] = Uploaded((value.filename or "")[:200], value.size, value.file)
    return Form(fields), files
