"""An archive uploaded from the browser to the desk, streamed to a private file on disk.

The browser and the desk are on the same computer, but a browser cannot hand a web page a
file's path, so the zip is sent once over the loopback connection. It is written as it
arrives (python-multipart's streaming parser, never the whole zip in memory) to a file
readable by this user only in ``<workspace>/archives/``, counted against a limit. It stays
there after a successful import — the publisher reads the media from the archive the
workspace was imported from — and is deleted when the import fails. A body over the limit
is refused from its ``Content-Length`` before a byte is read, or as soon as the count
passes it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterable
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from departures.errors import ArchiveError
from departures.i18n import _

__all__ = ["MAX_UPLOAD", "UPLOAD_DIR", "receive_archive"]

UPLOAD_DIR = "archives"
#: X archives with media run to a few GB; beyond this, the path form is the way.
MAX_UPLOAD = 8 * 1024**3


class _State:
    """What the parser's callbacks have seen so far."""

    def __init__(self) -> None:
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.writing = False
        self.files = 0
        self.filename = ""


async def receive_archive(
    content_type: str,
    content_length: str | None,
    body: AsyncIterable[bytes],
    workspace: Path,
    *,
    limit: int = MAX_UPLOAD,
) -> tuple[Path, str]:
    """Stream the ``archive`` file of a multipart body to a private file; return its path
    and the name the browser gave it. :class:`ArchiveError` with a hint when there is no
    file, the body is not a form upload, or it is over ``limit`` bytes (nothing is kept).
    """
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise ArchiveError(
            _("This was not an upload from the desk's form"), _("Use the form on the page")
        )
    too_large = ArchiveError(
        _("The file is larger than %(gb)s GB, the most the browser can send")
        % {"gb": limit // 1024**3},
        _("Give the desk the archive's path on this computer instead"),
    )
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise too_large
    folder = workspace / UPLOAD_DIR
    folder.mkdir(parents=True, exist_ok=True)
    # 0600: the archive is private.
    fd, name = tempfile.mkstemp(dir=folder, prefix="uploaded-", suffix=".zip")
    target = Path(name)
    state = _State()

    def on_part_begin() -> None:
        state.headers = {}
        state.writing = False

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state.header_value += data[start:end]

    def on_header_end() -> None:
        state.headers[state.header_field.lower()] = state.header_value
        state.header_field = state.header_value = b""

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(state.headers.get(b"content-disposition", b""))
        if disposition.get(b"name") == b"archive" and b"filename" in disposition:
            state.files += 1
            # Only the first file is kept: the form sends one.
            state.writing = state.files == 1
            state.filename = disposition[b"filename"].decode("utf-8", "replace")[:200]

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state.writing:
            os.write(fd, data[start:end])

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
    )
    received = 0
    try:
        async for chunk in body:
            received += len(chunk)
            if received > limit:
                raise too_large
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        os.close(fd)
        target.unlink(missing_ok=True)
        raise ArchiveError(
            _("The upload could not be read (it was cut off or is not from the desk's form)"),
            _("Send the file again from the page"),
        ) from None
    except BaseException:
        os.close(fd)
        target.unlink(missing_ok=True)
        raise
    os.close(fd)
    if not state.files or target.stat().st_size == 0:
        target.unlink(missing_ok=True)
        raise ArchiveError(
            _("No file was chosen"), _("Choose your X archive (a .zip file) and send it")
        )
    return target, state.filename


def discard(path: Path) -> None:
    """Delete an uploaded archive that could not be imported."""
    with contextlib.suppress(OSError):
        path.unlink()
