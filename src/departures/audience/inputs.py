"""Reading what the user hands over: a CSV of names, a directory export, a lookup answer.

Each reader checks everything before anything is stored, and says in one line what is
wrong and where (``FILE line 3: the X id 'abc' is not a number``).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from departures.audience.store import DirectoryEntry, NameRow
from departures.errors import DeparturesError

#: ``GET /directory/lookup?x_ids=1,2,…`` takes at most 1,000 X ids; 400 a call keeps the
#: URL under 8 KB, which every HTTP server accepts.
LOOKUP_BATCH = 400
#: A directory that asks to wait (429) this long or less is waited for; longer is an error.
LOOKUP_MAX_WAIT = 60.0

_REQUIRED = ("id", "handle")
_OPTIONAL = ("name", "website", "bio")
_HANDLE_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


class InputError(DeparturesError):
    """A file the user supplied cannot be used."""


def _x_id(value: Any, where: str) -> int:
    text = str(value).strip()
    if not text.isdigit() or len(text) > 20:
        raise InputError(f"{where}: the X id {text!r} is not a number", "X ids are digits only")
    return int(text)


def _did(value: Any, where: str) -> str:
    text = str(value or "").strip()
    if not (text.startswith("did:plc:") or text.startswith("did:web:")) or " " in text:
        raise InputError(f"{where}: {text!r} is not a Bluesky DID", "A DID looks like did:plc:…")
    return text


def read_names(path: Path) -> list[NameRow]:
    """Rows of a CSV with columns ``id,handle[,name,website,bio]`` (UTF-8, header line)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError(f"Cannot read {path} ({exc.strerror})", "Check the path") from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not UTF-8 text (byte {exc.start})",
            "Save the CSV as UTF-8 (in a spreadsheet: 'CSV UTF-8')",
        ) from exc
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise InputError(
            f"{path} has no {' and no '.join(missing)} column "
            f"(found: {', '.join(header) or 'none'})",
            "The first line must name the columns: id,handle,name (website and bio optional)",
        )
    reader.fieldnames = header
    rows: list[NameRow] = []
    try:
        for number, raw in enumerate(reader, start=2):
            where = f"{path.name} line {number}"
            handle = str(raw.get("handle") or "").strip().removeprefix("@")
            if not handle or not set(handle.lower()) <= _HANDLE_CHARS or len(handle) > 15:
                raise InputError(
                    f"{where}: {handle!r} is not an X handle",
                    "An X handle has 1 to 15 letters, digits or underscores",
                )
            rows.append(
                NameRow(
                    _x_id(raw.get("id"), where),
                    handle,
                    *(str(raw.get(c) or "").strip() for c in _OPTIONAL),
                )
            )
    except csv.Error as exc:
        raise InputError(f"{path} is not a valid CSV ({exc})", "Check the quoting") from exc
    return rows


_LEVELS = ("verified", "vouched", "archive", "declared")


def parse_directory(data: Any, where: str) -> list[DirectoryEntry]:
    """Entries of a directory export or lookup answer: ``{"entries": [{x_id, did, handle,
    level, disputed}]}`` (an entry without a level counts as ``declared``).

    A bare list of entries is accepted too.
    """
    items = data.get("entries") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise InputError(
            f"{where} is not a directory export (no list of entries)",
            'Use the file the coalition\'s directory exports (JSON with "entries")',
        )
    entries: list[DirectoryEntry] = []
    for index, item in enumerate(items):
        at = f"{where} entry {index + 1}"
        if not isinstance(item, dict):
            raise InputError(f"{at} is not an object", "Each entry has x_id, did and handle")
        level = str(item.get("level") or "declared")
        entries.append(
            DirectoryEntry(
                _x_id(item.get("x_id"), at),
                _did(item.get("did"), at),
                str(item.get("handle") or ""),
                # A directory that does not say how it knows (an older server) is reviewed.
                level if level in _LEVELS else "declared",
                item.get("disputed") is True,
            )
        )
    return entries


def read_directory_file(path: Path) -> list[DirectoryEntry]:
    """The entries of a directory export file (JSON)."""
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"Cannot read {path} ({exc.strerror})", "Check the path") from exc
    except ValueError as exc:
        raise InputError(
            f"{path} is not valid JSON ({exc})", "Export the directory again and retry"
        ) from exc
    return parse_directory(data, path.name)


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return LOOKUP_MAX_WAIT


def lookup(
    server: str,
    x_ids: list[int],
    *,
    timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[DirectoryEntry]:
    """Ask a coalition server's ``GET /directory/lookup`` about ``x_ids`` (consented pairs).

    The directory limits lookups per address: a short ``Retry-After`` is waited for, a long
    one is a clear error (nothing is stored from a partial answer).
    """
    base = server.rstrip("/")
    found: list[DirectoryEntry] = []
    try:
        with httpx.Client(base_url=base, timeout=timeout) as client:
            for start in range(0, len(x_ids), LOOKUP_BATCH):
                batch = x_ids[start : start + LOOKUP_BATCH]
                params = {"x_ids": ",".join(map(str, batch))}
                response = client.get("/directory/lookup", params=params)
                for _attempt in range(3):
                    if response.status_code != 429:
                        break
                    wait = _retry_after(response)
                    if wait > LOOKUP_MAX_WAIT:
                        break
                    sleep(wait)
                    response = client.get("/directory/lookup", params=params)
                if response.status_code == 429:
                    raise InputError(
                        f"The directory at {base} limits lookups from your address",
                        f"Try again in {_retry_after(response):.0f} seconds",
                    )
                if response.status_code != 200:
                    raise InputError(
                        f"The directory at {base} answered {response.status_code}",
                        "Check the --directory URL, or try again later",
                    )
                try:
                    data = response.json()
                except ValueError as exc:
                    raise InputError(
                        f"The directory at {base} did not answer JSON",
                        "Check the --directory URL (the coalition server's address)",
                    ) from exc
                found.extend(parse_directory(data, f"the answer of {base}"))
    except httpx.HTTPError as exc:
        raise InputError(
            f"Cannot reach the directory at {base} ({type(exc).__name__})",
            "Check the address and your connection",
        ) from exc
    return found
