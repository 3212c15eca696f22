"""The directory: people and organisations pair their X identity with their Bluesky DID.

Consent is the entry itself: a pair exists only because its owner registered it (by signing
in with Bluesky and uploading their own archive's ``account.js``, or by stating their X
handle) or because a coordinator added a member organisation. Withdrawing deletes every
pair of the DID, so the lookup API and the export never show it again. Only consented pairs
are ever stored, hence only consented pairs are ever answered.

Every pair is a *claim* with a proof level (:mod:`departures.coalition.claims`): several
DIDs may claim one X id, the strongest level wins and same-level ties wait for a coordinator.
``GET /directory/lookup?x_ids=1,2,…`` (at most :data:`MAX_LOOKUP`) and
``GET /directory/export.json`` answer ``{"entries": [{"x_id", "did", "handle", "level",
"disputed"}]}`` — the standing claim of each X id, or every tied claim with ``"disputed":
true`` — the format ``departures audience import-directory`` and ``--directory`` read.
Both are public, so each client address draws on a :class:`TokenBucket`
(:class:`ApiLimits`: 60 lookups a minute, 10 exports an hour by default); over it, a 429 with
``Retry-After``.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine
from starlette.responses import Response

from departures.coalition.claims import Standing
from departures.coalition.errors import BadInput
from departures.coalition.i18n import _
from departures.coalition.limits import StoredLimit
from departures.coalition.store import access as access_rows
from departures.coalition.store import claims as claim_rows
from departures.coalition.store import directory as directory_rows

MAX_LOOKUP = 1000
# "self": from the owner's own archive; "declared": an X handle and id the owner stated;
# "coordinator": a member organisation added by its campaign's coordinator; "x": its owner
# signed in with X. Each gives the claim its proof level.
SOURCES = ("self", "declared", "coordinator", "x")
LEVEL_OF_SOURCE = {
    "self": "archive",
    "declared": "declared",
    "coordinator": "vouched",
    "x": "verified",
}
DEFAULT_MAX_UNVERIFIED = 3

_X_ID = re.compile(r"^[0-9]{1,20}$")
_X_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,15}$")
_DID = re.compile(r"^did:(plc:[a-z2-7]{24}|web:[A-Za-z0-9.:-]+)$")


class DirectoryError(BadInput):
    """A directory request that cannot be served as asked (HTTP 400)."""


def _check(x_id: str, x_username: str, did: str) -> None:
    if not _X_ID.match(x_id):
        raise DirectoryError(f"the X id {x_id[:30]!r} is not a number", "X ids are digits only")
    if not _X_USERNAME.match(x_username):
        raise DirectoryError(f"{x_username!r} is not an X handle", "Use 1 to 15 letters or _")
    if not _DID.match(did):
        raise DirectoryError(f"{did!r} is not a Bluesky DID", "A DID looks like did:plc:…")


def account_from_archive(data: bytes) -> tuple[str, str]:
    """(X id, username) from an archive's ``account.js`` (nothing else of it is kept)."""
    text = data.decode("utf-8-sig", errors="replace")
    start = text.find("[")
    try:
        items: Any = json.loads(text[start:]) if start >= 0 else None
        account = items[0]["account"]
        return str(account["accountId"]), str(account["username"])
    except (ValueError, TypeError, KeyError, IndexError, RecursionError) as exc:
        # RecursionError: JSON nested thousands deep, which no account.js is.
        raise DirectoryError(
            _("this file is not the account.js of an X archive"),
            _("Upload data/account.js from your own archive"),
        ) from exc


class Directory:
    """The directory's reads and writes in the coalition store."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime] | None = None,
        *,
        max_unverified: int = DEFAULT_MAX_UNVERIFIED,
    ) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))
        self.max_unverified = max_unverified

    def register(
        self,
        x_id: str,
        x_username: str,
        did: str,
        handle: str,
        *,
        source: str = "self",
        actor: str = "",
        reason: str = "",
    ) -> str:
        """Store the consented claim of ``did`` on X account ``x_id``; its proof level now.

        The level comes from ``source`` (:data:`LEVEL_OF_SOURCE`) and never goes down; other
        DIDs' claims on the same X id are kept (the strongest wins, ties go to a coordinator).
        """
        x_id, x_username = str(x_id).strip(), x_username.strip().removeprefix("@")
        _check(x_id, x_username, did)
        if source not in SOURCES:
            raise ValueError(source)
        claim = claim_rows.put_claim(
            self.engine,
            x_id=x_id,
            x_username=x_username,
            did=did,
            handle=handle.strip().lower(),
            source=source,
            level=LEVEL_OF_SOURCE[source],
            now=self.clock(),
            max_unverified=self.max_unverified,
            actor=actor,
            reason=reason,
        )
        return claim.level

    def bulk_add(self, rows: Sequence[tuple[str, str, str, str]], actor: str = "") -> int:
        """A coordinator adds member organisations: (x_id, x_username, did, handle) each.

        The coordinator vouches for each (``actor`` names them in the audit).
        """
        for row in rows:
            _check(*row[:3])
        for x_id, username, did, handle in rows:
            self.register(
                x_id,
                username,
                did,
                handle,
                source="coordinator",
                actor=actor or "coordinator",
                reason="added as a member organisation",
            )
        return len(rows)

    def vouch(self, x_id: str, did: str, actor: str, reason: str) -> str:
        """A coordinator vouches for ``did``'s claim on ``x_id``; the claim's level now."""
        x_id = str(x_id).strip()
        if not _X_ID.match(x_id):
            raise DirectoryError(f"the X id {x_id[:30]!r} is not a number", "X ids are digits only")
        if not _DID.match(did):
            raise DirectoryError(f"{did[:60]!r} is not a Bluesky DID", "A DID looks like did:plc:…")
        claim = claim_rows.vouch(
            self.engine, x_id=x_id, did=did, actor=actor, reason=reason, now=self.clock()
        )
        return claim.level

    def disputes(self) -> list[Standing]:
        """The coordinators' review queue: X ids claimed at the same top level by several."""
        return claim_rows.disputes(self.engine)

    def decide(self, x_id: str, winner_did: str, actor: str, reason: str) -> Standing:
        """A coordinator decides a dispute on ``x_id`` for ``winner_did``."""
        return claim_rows.decide_dispute(
            self.engine,
            x_id=str(x_id).strip(),
            winner_did=winner_did.strip(),
            actor=actor,
            reason=reason,
            now=self.clock(),
        )

    def claims_on(self, x_id: str) -> Standing | None:
        """Every claim on one X id and where they stand (None when nobody claims it)."""
        x_id = str(x_id).strip()
        if not _X_ID.match(x_id):
            raise DirectoryError(f"the X id {x_id[:30]!r} is not a number", "X ids are digits only")
        return claim_rows.standings(self.engine, [x_id]).get(x_id)

    def audit(self, x_ids: Sequence[str] | None = None) -> list[claim_rows.AuditLine]:
        """The latest vouches, proofs and decisions (of these X ids, or all), newest first."""
        return claim_rows.audit_lines(self.engine, x_ids)

    def withdraw(self, did: str) -> int:
        """Consent withdrawn: every pair of ``did`` is deleted; how many.

        Everything else that names the DID goes in the same transaction
        (:func:`~departures.coalition.store.access.erase_did`): what was proposed to members
        from those pairs (the member pages stop listing the account, no follow is made for it
        any more), the lines of e-mails listing it, its sessions and its settled follow
        journals. Revoking its kept Bluesky sessions at the PDS first is the caller's.
        """
        return access_rows.erase_did(self.engine, did)

    def entries_for(self, did: str) -> list[dict[str, str]]:
        """The claims of one DID (what its owner sees on the directory page), with levels."""
        rows = directory_rows.entries_of_did(self.engine, did)
        standings = claim_rows.standings(self.engine, [row["x_id"] for row in rows])
        out = []
        for row in rows:
            where = standings.get(row["x_id"])
            winner = where.winner if where is not None else None
            out.append(
                {
                    "x_id": row["x_id"],
                    "x_username": row["x_username"],
                    "handle": row["handle"],
                    "source": row["source"],
                    "level": row["level"],
                    "status": row["status"],
                    # "stands", "disputed" or "outranked": what the lookup answers for it.
                    "standing": "stands"
                    if winner is not None and winner.did == did
                    else ("disputed" if where is not None and where.disputed else "outranked"),
                    "consented_at": row["consented_at"].isoformat(timespec="seconds"),
                }
            )
        return out

    def lookup(self, x_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The standing claims on these X ids, with their levels (unknown ids are absent)."""
        if len(x_ids) > MAX_LOOKUP:
            raise DirectoryError(
                f"at most {MAX_LOOKUP} X ids a lookup ({len(x_ids)} given)", "Ask in batches"
            )
        for x_id in x_ids:
            if not _X_ID.match(x_id):
                raise DirectoryError(
                    f"the X id {x_id[:30]!r} is not a number", "X ids are digits only"
                )
        if not x_ids:
            return []
        return _answer(claim_rows.standings(self.engine, x_ids).values())

    def export(self) -> list[dict[str, Any]]:
        """Every standing claim, for ``departures audience import-directory``."""
        return _answer(claim_rows.standings_all(self.engine))


def _answer(standings: Iterable[Standing]) -> list[dict[str, Any]]:
    """The API's entries: each X id's standing claim, or its tied claims marked disputed."""
    entries: list[dict[str, Any]] = []
    for where in standings:
        shown = (where.winner,) if where.winner is not None else where.contenders
        for claim in shown:
            if claim is None:
                continue
            entries.append(
                {
                    "x_id": claim.x_id,
                    "did": claim.did,
                    "handle": claim.handle,
                    "level": claim.level,
                    "disputed": where.disputed,
                }
            )
    return entries


BULK_COLUMNS = ("x_id", "x_handle", "bluesky_handle")


def read_bulk_csv(data: bytes) -> list[tuple[str, str, str]]:
    """(x_id, x_handle, bluesky_handle) rows of a coordinator's CSV, checked, in file order.

    The header must name the three columns (any order, more columns are ignored). The X id
    is required: the directory is keyed by it and X handles change.
    """
    import csv
    import io

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DirectoryError(
            "the CSV file is not UTF-8", "Save it as CSV UTF-8 from your spreadsheet"
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in BULK_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DirectoryError(
            f"the CSV file has no column {', '.join(missing)}",
            "Its first line must be: x_id,x_handle,bluesky_handle",
        )
    rows: list[tuple[str, str, str]] = []
    for line, row in enumerate(reader, start=2):
        x_id = (row.get("x_id") or "").strip()
        x_handle = (row.get("x_handle") or "").strip().removeprefix("@")
        bluesky = (row.get("bluesky_handle") or "").strip().removeprefix("@").lower()
        if not _X_ID.match(x_id):
            raise DirectoryError(
                f"line {line}: the X id {x_id[:30]!r} is not a number", "X ids are digits only"
            )
        if not _X_USERNAME.match(x_handle):
            raise DirectoryError(
                f"line {line}: {x_handle[:30]!r} is not an X handle", "Use 1 to 15 letters or _"
            )
        if not bluesky or len(bluesky) > 253 or "." not in bluesky:
            raise DirectoryError(
                f"line {line}: {bluesky[:60]!r} is not a Bluesky handle",
                "Give it as name.bsky.social",
            )
        rows.append((x_id, x_handle, bluesky))
    return rows


def parse_ids(raw: str) -> list[str]:
    """``"1, 2,3"`` → ``["1", "2", "3"]`` (the lookup's query parameter)."""
    return [part.strip() for part in raw.split(",") if part.strip()]


def lookup_response(directory: Directory, raw_ids: str) -> Response:
    """The JSON answer of ``GET /directory/lookup?x_ids=…``."""
    entries = directory.lookup(parse_ids(raw_ids))
    return Response(
        orjson.dumps({"entries": entries}),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def export_response(directory: Directory) -> Response:
    """The JSON answer of ``GET /directory/export.json``."""
    return Response(
        orjson.dumps({"entries": directory.export()}),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


# --- the public API's rate limits -----------------------------------------------------------


@dataclass(frozen=True)
class ApiLimits:
    """How often one client address may call the directory's public API."""

    lookups_per_minute: int = 60
    exports_per_hour: int = 10

    def __post_init__(self) -> None:
        if self.lookups_per_minute < 1 or self.exports_per_hour < 1:
            raise ValueError("the directory's limits must be at least 1")

    def lookup_bucket(self) -> TokenBucket:
        """The bucket of ``GET /directory/lookup``."""
        return TokenBucket(self.lookups_per_minute, 60.0)

    def export_bucket(self) -> TokenBucket:
        """The bucket of ``GET /directory/export.json``."""
        return TokenBucket(self.exports_per_hour, 3600.0)

    def lookup_stored(self, engine: Engine) -> StoredLimit:
        """The lookups' limit across server processes, counted in the store."""
        return StoredLimit(
            engine, "directory-lookup", self.lookups_per_minute, timedelta(minutes=1)
        )

    def export_stored(self, engine: Engine) -> StoredLimit:
        """The exports' limit across server processes, counted in the store."""
        return StoredLimit(engine, "directory-export", self.exports_per_hour, timedelta(hours=1))


class TokenBucket:
    """Per key, at most ``capacity`` calls at once, refilled evenly over ``period`` seconds.

    A bucket rather than a fixed window: a client may burst up to the capacity (a CLI asking
    about 50,000 followings sends 50 lookups at once), then goes on at the refill rate.
    In memory, per process, like the forms' limiter; the clock is injected for the tests.
    """

    def __init__(
        self,
        capacity: int,
        period: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if capacity < 1 or period <= 0:
            raise ValueError("a bucket needs a capacity of at least 1 and a positive period")
        self.capacity = capacity
        self.rate = capacity / period  # tokens a second
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.capacity), now))
        return min(float(self.capacity), tokens + (now - at) * self.rate)

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when the call may go, else the seconds to wait."""
        now = self._clock()
        with self._lock:
            tokens = self._level(key, now)
            self._buckets.pop(key, None)  # re-inserted below: the most recently used
            if tokens >= 1.0:
                self._forget_idle(now)
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        # Memory stays bounded under a flood of addresses: the least recently used bucket goes
        # first (a dict keeps insertion order, and take() re-inserts the key it serves). It has
        # had the longest to refill, so it is the likeliest to be full and carry no state; the
        # buckets of the clients being limited now stay.
        while len(self._buckets) >= self.max_keys:
            del self._buckets[next(iter(self._buckets))]


def too_many_response(what: str, retry_after: float) -> Response:
    """The 429 of the public API: one line of JSON and ``Retry-After`` in whole seconds."""
    seconds = max(1, math.ceil(retry_after))
    body = {
        "ok": False,
        "status": 429,
        "error": f"too many {what} from your address",
        "hint": f"Try again in {seconds} seconds",
        "retry_after": seconds,
    }
    return Response(
        orjson.dumps(body),
        status_code=429,
        media_type="application/json",
        headers={"Retry-After": str(seconds), "Cache-Control": "no-store"},
    )
