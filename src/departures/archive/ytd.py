"""The ``window.YTD.<name>.partN = [...]`` wrapper of every archive data file.

Everything after the first ``=`` is JSON; nothing is split by lines (old files open with
``[ {`` on the first line, new ones are one line). Items may be wrapped
(``{"tweet": {...}}``) or bare (tweets before 2020).
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

from departures.errors import ArchiveError


def parse_ytd(data: bytes | bytearray, name: str) -> list[Any]:
    """The JSON array of a data file, or ArchiveError naming ``name`` and what to do."""
    equals = data.find(b"=")
    if equals < 0:
        if not data.strip():
            raise ArchiveError(
                f"{name} is empty",
                "Download the archive again from X, or remove the file and import again",
            )
        raise ArchiveError(
            f"{name} is not an archive data file (no 'window.YTD... =' prefix)",
            "Pass the archive X sent you, or remove the file and import again",
        )
    try:
        # A memoryview slice: no copy of a 100 MB part.
        value = orjson.loads(memoryview(data)[equals + 1 :])
    except orjson.JSONDecodeError as exc:
        raise _decode_error(data, equals, name, exc) from exc
    if not isinstance(value, list):
        raise ArchiveError(
            f"{name} does not hold a list after the '=' (found {type(value).__name__})",
            "Download the archive again from X, or remove the file and import again",
        )
    return value


def _decode_error(data: bytes | bytearray, equals: int, name: str, exc: Exception) -> ArchiveError:
    """Tell apart bad encoding, a truncated file and other broken JSON (error path only)."""
    try:
        text = data[equals + 1 :].decode("utf-8")
    except UnicodeDecodeError as bad:
        offset = equals + 1 + bad.start
        return ArchiveError(
            f"{name} is not valid UTF-8 (bad byte at offset {offset})",
            "The file was changed after X made it; download the archive again from X",
        )
    stripped = text.strip()
    if "unexpected content after document" in str(exc):
        return ArchiveError(
            f"{name} has unexpected text after its data ({exc})",
            "The file was changed after X made it; download the archive again from X",
        )
    if "unexpected end of data" in str(exc) or (
        stripped.startswith("[") and not stripped.endswith("]")
    ):
        return ArchiveError(
            f"{name} is truncated (its JSON ends early: {exc})",
            "Download or unzip the archive again; the file is incomplete",
        )
    return ArchiveError(
        f"{name} is not valid JSON after the '=' ({exc})",
        "Download the archive again from X, or remove the file and import again",
    )


def unwrap(item: Any, key: str) -> dict[str, Any] | None:
    """``item[key]`` for a wrapped item, the item itself when bare, None when not an object."""
    if not isinstance(item, dict):
        return None
    inner = item.get(key)
    if isinstance(inner, dict) and len(item) == 1:
        return inner
    return item


CHUNK_BYTES = 4 << 20
# What the cutting reads: the bytes of a file, or a memory map of it.
Buffer = bytes | bytearray | mmap.mmap
_FIRST_KEY = re.compile(rb'\s*\{\s*"(\w+)"\s*:')
# How far around a wrapper key _next_boundary looks (before it, and for its ':' after it).
_BOUNDARY_CONTEXT = 64


def _next_boundary(data: Buffer, key: bytes, start: int) -> tuple[int, int] | None:
    """(end of an item, start of the next) for the first ``}, {"key":`` at or after ``start``.

    It cannot match inside a JSON string, where every quote is escaped; and the wrapper's
    key ("tweet", "like", ...) appears nowhere deeper in an item.
    """
    while True:
        at = data.find(key, start)
        if at < 0:
            return None
        start = at + len(key)
        before = data[max(0, at - 64) : at].rstrip()
        if not before.endswith(b"{"):
            continue
        opening = at - (at - max(0, at - 64) - len(before)) - 1
        before = before[:-1].rstrip()
        if not before.endswith(b","):
            continue
        before = before[:-1].rstrip()
        if before.endswith(b"}") and data[start : start + 16].lstrip().startswith(b":"):
            closing = max(0, at - 64) + len(before)
            return closing, opening


def ytd_pieces(data: Buffer, chunk_bytes: int | None = None) -> Iterator[tuple[int, int]] | None:
    """Where to cut a data file into pieces of about ``chunk_bytes``, or None if it cannot be.

    Yields ``(start, end)``: ``data[start:end]`` is a run of whole items (without the commas
    around it), so ``[`` + that + ``]`` is a JSON array. None for small files and for
    anything unexpected (bare items, no array): those are parsed whole. ``data`` may be a
    memory map of the file: only the bytes around each cut are then read.
    """
    if chunk_bytes is None:
        chunk_bytes = CHUNK_BYTES
    equals = data.find(b"=")
    start = data.find(b"[", equals + 1) if equals >= 0 else -1
    first = _FIRST_KEY.match(data, start + 1) if start >= 0 else None
    if first is None or len(data) < 2 * chunk_bytes or data[equals + 1 : start].strip():
        return None
    return _cuts(data, b'"' + first.group(1) + b'"', start + 1, chunk_bytes)


def _cuts(data: Buffer, key: bytes, pos: int, chunk_bytes: int) -> Iterator[tuple[int, int]]:
    end_of_array = data.rfind(b"]")
    if end_of_array < 0 or data[end_of_array + 1 :].strip():
        # Not a closed array: the last piece runs to the end, fails to parse, and the
        # whole-file parser names the fault.
        end_of_array = len(data)
    while pos < len(data):
        boundary = _next_boundary(data, key, pos + chunk_bytes)
        if boundary is None:
            # The last piece ends before the file's own ']'.
            yield pos, max(pos, end_of_array)
            return
        yield pos, boundary[0]
        pos = boundary[1]


def iter_ytd_chunks(
    data: bytes | bytearray, name: str, chunk_bytes: int | None = None
) -> Iterator[list[Any]]:
    """The items of a data file, parsed about ``chunk_bytes`` at a time.

    A 100 MB part parsed at once costs several hundred MB of Python objects; cut at item
    boundaries (``}, {"tweet":``) it costs a few dozen. Anything unexpected (bare items, a
    broken file) falls back to :func:`parse_ytd` on the whole file, which also gives the
    precise error. A ``bytearray`` is parsed in place (two bytes are changed around each
    piece while it is parsed and put back); ``bytes`` are copied once into one.
    """
    cuts = ytd_pieces(data, chunk_bytes)
    if cuts is None:
        yield parse_ytd(data, name)
        return
    # Each piece is parsed in place: the byte before it (the '[' or the separator after the
    # previous item) becomes '[' and the one after it ']' for the time of the parse, so no
    # piece is copied.
    buffer = data if isinstance(data, bytearray) else bytearray(data)
    view = memoryview(buffer)
    done = 0
    try:
        for pos, closing in cuts:
            before = buffer[pos - 1]
            after = buffer[closing] if closing < len(buffer) else -1
            buffer[pos - 1] = 0x5B  # [
            if after >= 0:
                buffer[closing] = 0x5D  # ]
            piece = view[pos - 1 : closing + 1]
            try:
                items = orjson.loads(piece)
            except orjson.JSONDecodeError:
                items = None
            finally:
                piece.release()
                buffer[pos - 1] = before
                if after >= 0:
                    buffer[closing] = after
            if not isinstance(items, list):
                # Broken file (or an unexpected layout): the whole-file parser decides.
                everything = parse_ytd(data, name)
                yield everything[done:]
                return
            done += len(items)
            yield items
    finally:
        view.release()


def iter_file_chunks(path: str, name: str, chunk_bytes: int | None = None) -> Iterator[list[Any]]:
    """:func:`iter_ytd_chunks` for a file on disk, without reading it whole.

    The file is cut through a memory map (only the bytes near each cut are read) and each
    piece is read on its own, so memory holds one piece at a time whatever the file's size.
    """
    with open(path, "rb") as file:
        try:
            mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # an empty file cannot be mapped
            mapped = None
        cuts = ytd_pieces(mapped, chunk_bytes) if mapped is not None else None
        try:
            if cuts is None:
                yield parse_ytd(file.read(), name)
                return
            done = 0
            for start, end in cuts:
                file.seek(start - 1)
                piece = bytearray(end - start + 2)
                file.readinto(piece)  # straight into the buffer: no second copy
                piece[0] = 0x5B  # [
                piece[-1] = 0x5D  # ]
                try:
                    items = orjson.loads(piece)
                except orjson.JSONDecodeError:
                    items = None
                del piece
                if not isinstance(items, list):
                    # Broken file (or an unexpected layout): the whole-file parser decides.
                    file.seek(0)
                    everything = parse_ytd(file.read(), name)
                    yield everything[done:]
                    return
                done += len(items)
                yield items
        finally:
            if mapped is not None:
                mapped.close()


def stream_pieces(
    blocks: Iterable[bytes], chunk_bytes: int | None = None
) -> Iterator[tuple[bool, bytes | bytearray]]:
    """A data file read as a stream of blocks (a zip member), cut as :func:`ytd_pieces` cuts.

    Yields ``(False, piece)`` where each piece is a JSON array of whole items of about
    ``chunk_bytes``, as soon as the stream has delivered it; or, for a file that cannot be
    cut (small, bare items, no array), one ``(True, data)``: the whole file for
    :func:`parse_ytd`. Only about one piece of the stream is held at a time, so a 100 MB
    member costs a few MB however large it is.
    """
    if chunk_bytes is None:
        chunk_bytes = CHUNK_BYTES
    source = iter(blocks)
    buffer = bytearray()

    def fill(size: int) -> bool:
        """Read until the buffer holds ``size`` bytes; False at the end of the stream."""
        while len(buffer) < size:
            block = next(source, None)
            if block is None:
                return False
            buffer.extend(block)
        return True

    if not fill(2 * chunk_bytes):
        yield True, buffer  # small: parsed whole
        return
    equals = buffer.find(b"=")
    start = buffer.find(b"[", equals + 1) if equals >= 0 else -1
    first = _FIRST_KEY.match(buffer, start + 1) if start >= 0 else None
    if first is None or buffer[equals + 1 : start].strip():
        fill(1 << 62)  # an odd layout: the whole file, as ytd_pieces would have it
        yield True, buffer
        return
    key = b'"' + first.group(1) + b'"'
    pos = start + 1
    while True:
        search = pos + chunk_bytes
        more = fill(search + 1)
        while True:
            boundary = _next_boundary(buffer, key, search) if len(buffer) > search else None
            if boundary is not None or not more:
                break
            # A separator cut by the end of the buffer is only seen whole once more is
            # read: search again from a little before that end.
            search = max(search, len(buffer) - 2 * _BOUNDARY_CONTEXT - len(key))
            more = fill(len(buffer) + 1)
        if boundary is None:
            end_of_array = buffer.rfind(b"]")
            if end_of_array < 0 or buffer[end_of_array + 1 :].strip():
                end_of_array = len(buffer)  # not closed: see _cuts
            yield False, piece_bytes(buffer, pos, max(pos, end_of_array))
            return
        closing, opening = boundary
        yield False, piece_bytes(buffer, pos, closing)
        del buffer[:opening]  # what was handed out is dropped (cheap at a bytearray's front)
        pos = 0


def iter_stream_chunks(
    blocks: Iterable[bytes],
    name: str,
    whole: Callable[[], bytes | bytearray],
    chunk_bytes: int | None = None,
) -> Iterator[list[Any]]:
    """:func:`iter_ytd_chunks` for a file read as a stream of blocks (a zip member).

    ``whole()`` reads the entire file again: only for a piece that does not parse, so
    that :func:`parse_ytd` names the fault precisely (or reads the rest of an odd file).
    """
    done = 0
    for is_whole, data in stream_pieces(blocks, chunk_bytes):
        if is_whole:
            yield parse_ytd(data, name)
            return
        try:
            items = orjson.loads(data)
        except orjson.JSONDecodeError:
            items = None
        del data
        if not isinstance(items, list):
            everything = parse_ytd(whole(), name)
            yield everything[done:]
            return
        done += len(items)
        yield items


def piece_bytes(data: bytes | bytearray, start: int, end: int) -> bytes:
    """``[`` + ``data[start:end]`` + ``]``: one piece as a JSON array of its own (a copy)."""
    return b"".join((b"[", data[start:end], b"]"))


def array_pieces(array: bytes | bytearray, chunk_bytes: int) -> Iterator[bytes | bytearray]:
    """A piece (a JSON array of wrapped items) as smaller arrays of about ``chunk_bytes``.

    Parsed one after the other, they hold a fraction of the piece's Python objects at a
    time. The array itself when it is small or not an array of wrapped items.
    """
    first = _FIRST_KEY.match(array, 1) if array[:1] == b"[" else None
    if first is None or len(array) < 2 * chunk_bytes:
        yield array
        return
    for start, end in _cuts(array, b'"' + first.group(1) + b'"', 1, chunk_bytes):
        yield piece_bytes(array, start, end)
