"""Reading what a visitor uploads from their X archive: ``data/account.js`` (their X id and
handle), ``data/following.js`` (the X ids they followed), or the archive's zip, of which only
those two members are read (never extracted, each read to at most its limit, since a zip's
declared sizes can lie).

Pure file reading, no web: the upload views call it in a worker thread with the spooled files
Starlette's parser wrote; the tests call it with bytes. The work is bounded before it starts: a
zip's entries are counted from its end-of-central-directory record (a few bytes at the end of
the file) before :mod:`zipfile` reads the directory itself, and JSON nested deeper than an X
archive ever is, is refused as unreadable rather than recursed into.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO, Any

from departures.coalition import directory as directories
from departures.coalition.errors import BadInput, TooLarge
from departures.coalition.i18n import _

__all__ = [
    "MAX_FOLLOWING_JS",
    "MAX_JS",
    "MAX_UPLOAD",
    "MAX_ZIP",
    "MAX_ZIP_ENTRIES",
    "Upload",
    "check_zip_entries",
    "following_from_archive",
    "is_zip",
    "read_upload",
]

MAX_JS = 1024 * 1024  # account.js is a few hundred bytes; 1 MB is generous
MAX_FOLLOWING_JS = 32 * 1024 * 1024  # about 200,000 followed accounts
MAX_ZIP = 50 * 1024 * 1024
MAX_UPLOAD = MAX_ZIP + MAX_JS + 64 * 1024
"""The largest upload body: a zip and a separate account.js, with the form's other fields."""
MAX_ZIP_ENTRIES = 20_000
"""Entries a zip may list: a 50 MB slice of an archive has a few thousand (its media files);
reading a central directory of 150,000 costs seconds of CPU, so it is refused unread."""
X_ID = re.compile(r"^[0-9]{1,20}$")

Source = bytes | IO[bytes]
"""An uploaded file: its bytes, or a seekable binary file (Starlette's spooled file)."""


@dataclass(frozen=True)
class Upload:
    """What an upload gave: the X account and, if present, the X ids it followed."""

    account: tuple[str, str] | None
    following: frozenset[str] | None


def _file(source: Source) -> IO[bytes]:
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    handle.seek(0)
    return handle


def _size(handle: IO[bytes]) -> int:
    size = handle.seek(0, io.SEEK_END)
    handle.seek(0)
    return size


def is_zip(source: Source) -> bool:
    """Whether the file starts like a zip (``PK``), whatever its name says."""
    handle = _file(source)
    head = handle.read(2)
    handle.seek(0)
    return head == b"PK"


def _bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    # The declared size can lie (a zip bomb): read at most limit + 1 bytes and judge those.
    if info.file_size > limit:
        raise TooLarge(
            _("%(name)s in this zip is too large") % {"name": info.filename[-60:]},
            _("Upload data/account.js on its own instead"),
        )
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(_("this zip file unpacks to more than it says"), _("Upload account.js"))
    return data


def _not_following() -> BadInput:
    return BadInput(
        _("this file is not the following.js of an X archive"),
        _("Upload data/following.js from your own archive"),
    )


def following_from_archive(data: bytes) -> frozenset[str]:
    """The X ids in a ``following.js`` (``[{"following": {"accountId": …}}]``)."""
    text = data.decode("utf-8-sig", errors="replace")
    start = text.find("[")
    try:
        items: Any = json.loads(text[start:]) if start >= 0 else None
        ids = {str(item["following"]["accountId"]) for item in items}
    except RecursionError:
        # JSON nested thousands deep (an X archive nests three): refused, not a 500, and not
        # mistaken below for the RuntimeError of an encrypted zip member (its base class).
        raise _not_following() from None
    except (ValueError, TypeError, KeyError) as exc:
        raise _not_following() from exc
    return frozenset(x_id for x_id in ids if X_ID.match(x_id))


def _zip_member(archive: zipfile.ZipFile, wanted: str) -> zipfile.ZipInfo | None:
    for info in archive.infolist():
        # Only the archive's own data folder, at the top or one folder down; nothing is
        # extracted, so a name with ../ in it is merely not what we look for.
        parts = info.filename.split("/")
        if parts[-2:] == ["data", wanted] and len(parts) <= 3 and ".." not in parts:
            return info
    return None


_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_MIN_ENTRY = 46  # bytes of a central directory entry with an empty name


def _unreadable_zip() -> BadInput:
    return BadInput(_("this zip file cannot be read"), _("Upload account.js"))


def _directory_extent(handle: IO[bytes], size: int) -> tuple[int, int, int]:
    """(entries, central directory bytes, where it ends) from a zip's end records.

    Only the file's tail is read: the end record (and a comment of less than 64 KB), and for
    a Zip64 file the record its locator points to.
    """
    tail_start = max(0, size - (_EOCD.size + 0xFFFF))
    handle.seek(tail_start)
    tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        raise _unreadable_zip()
    _sig, _disk, _cd_disk, _here, entries, cd_size, _offset, _comment = _EOCD.unpack_from(tail, at)
    ends = tail_start + at
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF:
        # Zip64: the real figures are in a record the locator just before this one points to.
        locator_at = ends - _ZIP64_LOCATOR.size
        if locator_at < 0:
            raise _unreadable_zip()
        handle.seek(locator_at)
        sig, _disk64, record_at, _disks = _ZIP64_LOCATOR.unpack(handle.read(_ZIP64_LOCATOR.size))
        if sig != b"PK\x06\x07" or record_at > size - _ZIP64_EOCD.size:
            raise _unreadable_zip()
        handle.seek(record_at)
        record = _ZIP64_EOCD.unpack(handle.read(_ZIP64_EOCD.size))
        if record[0] != b"PK\x06\x06":
            raise _unreadable_zip()
        entries, cd_size, ends = record[7], record[8], record_at
    return entries, cd_size, ends


def check_zip_entries(handle: IO[bytes], max_entries: int = MAX_ZIP_ENTRIES) -> int:
    """The number of entries a zip lists, refused above ``max_entries`` before it is read.

    The declared count can lie, so the central directory :mod:`zipfile` would parse (the
    declared number of bytes before the end records) is judged too: refused outright when it
    is larger than ``max_entries`` entries with 256-byte names, else its entry signatures are
    counted (a byte search, not a parse).
    """
    size = _size(handle)
    entries, cd_size, ends = _directory_extent(handle, size)
    too_many = BadInput(
        _("this zip file holds more than %(n)d files") % {"n": max_entries},
        _("Upload data/account.js and data/following.js on their own"),
    )
    if entries > max_entries or cd_size > max_entries * (_MIN_ENTRY + 256):
        raise too_many
    handle.seek(max(0, ends - cd_size))
    listed = handle.read(min(cd_size, ends)).count(b"PK\x01\x02")
    handle.seek(0)
    if listed > max_entries:
        raise too_many
    return max(entries, listed)


def _read_zip(
    handle: IO[bytes], *, want_following: bool, require_account: bool, max_entries: int
) -> Upload:
    if _size(handle) > MAX_ZIP:
        raise TooLarge(_("this zip file is larger than 50 MB"), _("Upload account.js only"))
    check_zip_entries(handle, max_entries)
    account: tuple[str, str] | None = None
    following: frozenset[str] | None = None
    try:
        with zipfile.ZipFile(handle) as archive:
            member = _zip_member(archive, "account.js")
            if member is None and require_account:
                raise BadInput(
                    _("this zip has no data/account.js"),
                    _("Upload the zip of your X archive, or its data/account.js"),
                )
            if member is not None:
                account = directories.account_from_archive(_bounded(archive, member, MAX_JS))
            listed = _zip_member(archive, "following.js")
            if listed is not None and want_following:
                following = following_from_archive(_bounded(archive, listed, MAX_FOLLOWING_JS))
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        EOFError,
        zlib.error,
    ) as exc:
        raise _unreadable_zip() from exc
    except RecursionError:
        raise _unreadable_zip() from None
    except RuntimeError as exc:  # an encrypted member
        raise BadInput(_("this zip file is encrypted"), _("Upload account.js")) from exc
    return Upload(account, following)


def _read_js(handle: IO[bytes], limit: int, error: TooLarge) -> bytes:
    data = handle.read(limit + 1)
    if len(data) > limit:
        raise error
    return data


def read_upload(
    archive_file: Source | None,
    following_file: Source | None,
    *,
    require_account: bool = True,
    max_entries: int = MAX_ZIP_ENTRIES,
) -> Upload:
    """Read an upload: a zip (its data/account.js and data/following.js) or single .js files.

    ``require_account=False`` (a member organisation's page, which wants the following list)
    accepts a zip without ``data/account.js``. Files are read up to their limit, never whole;
    a zip listing more than ``max_entries`` entries is refused before its directory is read.
    """
    upload = Upload(None, None)
    if archive_file is not None:
        handle = _file(archive_file)
        if is_zip(handle):
            upload = _read_zip(
                handle,
                want_following=following_file is None,
                require_account=require_account,
                max_entries=max_entries,
            )
        else:
            too_large = TooLarge(_("this account.js is larger than 1 MB"), _("Upload account.js"))
            account = directories.account_from_archive(_read_js(handle, MAX_JS, too_large))
            upload = Upload(account, None)
    if following_file is not None:
        too_large = TooLarge(_("this following.js is too large"), _("Split it or ask for help"))
        data = _read_js(_file(following_file), MAX_FOLLOWING_JS, too_large)
        upload = Upload(upload.account, following_from_archive(data))
    return upload
