"""The ``window.YTD.<name>.partN = [...]`` wrapper of every archive data file.

Everything after the first ``=`` is JSON; nothing is split by lines (old files open with
``[ {`` on the first line, new ones are one line). Items may be wrapped
(``{"tweet": {...}}``) or bare (tweets before 2020).
"""

from __future__ import annotations

from typing import Any

import orjson

from departures.errors import ArchiveError


def parse_ytd(data: bytes, name: str) -> list[Any]:
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


def _decode_error(data: bytes, equals: int, name: str, exc: Exception) -> ArchiveError:
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
