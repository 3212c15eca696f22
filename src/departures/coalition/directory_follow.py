"""Follow all: a directory visitor follows, in one action, the accounts they followed on X
that are in the directory now.

* :class:`VisitorSessions` keeps the Bluesky session the visitor's PDS created at sign-in
  (access and refresh tokens, PDS, DID) in ``directory_sessions``, **encrypted** with the
  coalition's :class:`~departures.coalition.journal.Vault`, under the SHA-256 of a random
  token that only the visitor's signed cookie holds. It lives at most :data:`SESSION_TTL`
  and is deleted on sign-out and withdrawal. It is a ``SessionStore``, so
  :func:`departures.bluesky.session.open_client` uses it and stores refreshed tokens back.
* :class:`VisitorJournal` is the writer's journal of one visitor (``directory_follow_batches``).
* :func:`follow_all` follows through :class:`~departures.bluesky.writer.Writer` with the record
  keys and journal keys of ``departures audience follow`` (:mod:`departures.bluesky.records`),
  after settling open batches and reading the account's existing follows: pressing twice, or
  again after a failure, never follows anyone twice.

The list of DIDs comes from the visitor's form (the following list is never stored), so
:func:`parse_follow_dids` checks every one: a well-formed DID, in the directory now, not the
visitor's own, at most :data:`MAX_FOLLOW_ALL`.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets as token_source
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from departures.bluesky.budget import WriteKind
from departures.bluesky.pds import Pds
from departures.bluesky.records import FOLLOW, derived_rkey, follow_key
from departures.bluesky.session import SessionStore, StoredSession
from departures.bluesky.writer import Write, Writer, WriteResult, open_writer
from departures.coalition.directory import directory_entries
from departures.coalition.errors import BadInput
from departures.coalition.i18n import _
from departures.coalition.journal import Vault
from departures.coalition.schema import UTCDateTime
from departures.coalition.store import utc_now

__all__ = [
    "MAX_FOLLOW_ALL",
    "SESSION_TTL",
    "FollowOutcome",
    "VisitorJournal",
    "VisitorSessions",
    "follow_all",
    "parse_follow_dids",
]

MAX_FOLLOW_ALL = 1000
SESSION_TTL = timedelta(minutes=30)
BATCH = 50
_LONGEST_WAIT = 3.0  # seconds a web request may wait for the server; longer: stop, retry later
_DID = re.compile(r"^did:(plc:[a-z2-7]{24}|web:[A-Za-z0-9.-]{1,253})$")

# Created by the Alembic revision 0005_directory_follow.
follow_metadata = MetaData()
directory_sessions = Table(
    "directory_sessions",
    follow_metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("did", String(200), nullable=False),
    Column("secret", Text, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)
directory_follow_batches = Table(
    "directory_follow_batches",
    follow_metadata,
    Column("id", Integer, primary_key=True),
    Column("did", String(200), nullable=False, index=True),
    Column("writes", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("budget", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("settled_at", UTCDateTime),
)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class VisitorSessions(SessionStore):
    """One signed-in visitor's Bluesky session, encrypted, for at most 30 minutes."""

    def __init__(
        self,
        engine: Engine,
        secrets: Vault,
        token: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        # Deliberately not SessionStore.__init__: nothing of this store is in a file.
        self.engine = engine
        self.secrets = secrets
        self.token_hash = _hash(token)
        self.clock = clock

    def __repr__(self) -> str:
        return "VisitorSessions(<token hidden>)"

    @classmethod
    def keep(
        cls,
        engine: Engine,
        secrets: Vault,
        session: StoredSession,
        clock: Callable[[], datetime] = utc_now,
    ) -> str:
        """Store ``session`` under a new random token (for the cookie); expired ones go."""
        token = token_source.token_urlsafe(32)
        now = clock()
        with engine.begin() as conn:
            conn.execute(delete(directory_sessions).where(directory_sessions.c.expires_at <= now))
            conn.execute(
                insert(directory_sessions).values(
                    token_hash=_hash(token),
                    did=session.did,
                    secret=secrets.encrypt(json.dumps(asdict(session))),
                    expires_at=now + SESSION_TTL,
                )
            )
        return token

    def get(self, who: str | None = None) -> StoredSession | None:
        """The session if it has not expired (``who`` is ignored: one account per token)."""
        with self.engine.connect() as conn:
            secret = conn.execute(
                select(directory_sessions.c.secret).where(
                    directory_sessions.c.token_hash == self.token_hash,
                    directory_sessions.c.expires_at > self.clock(),
                )
            ).scalar()
        if not secret:
            return None
        try:
            return StoredSession(**json.loads(self.secrets.decrypt(secret)))
        except Exception:  # the secret changed: as good as expired
            return None

    def put(self, session: StoredSession, *, make_current: bool = True) -> None:
        """Store refreshed tokens (the expiry stays: 30 minutes from the sign-in)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(directory_sessions)
                .where(directory_sessions.c.token_hash == self.token_hash)
                .values(secret=self.secrets.encrypt(json.dumps(asdict(session))))
            )

    def remove(self, who: str | None = None) -> StoredSession | None:
        """Delete the session (sign-out, withdrawal, expiry)."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(directory_sessions).where(directory_sessions.c.token_hash == self.token_hash)
            )
        return None


class VisitorJournal:
    """The writer's journal (``Journal`` protocol) of one visitor's follows."""

    def __init__(self, engine: Engine, did: str, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.did = did
        self.clock = clock

    def begin_batch(self, writes: Sequence[Write]) -> int:
        """Journal ``writes`` as sent (committed before the request goes out)."""
        listed = [
            {"key": w.key, "action": str(w.action), "collection": w.collection, "rkey": w.rkey}
            for w in writes
        ]
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(directory_follow_batches).values(
                    did=self.did,
                    writes=json.dumps(listed),
                    state="sent",
                    reason="",
                    budget="",
                    created_at=self.clock(),
                )
            )
            assert result.inserted_primary_key is not None
            return int(result.inserted_primary_key[0])

    def _settle(self, batch_id: int, state: str, reason: str, budget: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(directory_follow_batches)
                .where(directory_follow_batches.c.id == batch_id)
                .values(
                    state=state,
                    reason=reason[:500],
                    budget=json.dumps(dict(budget)),
                    settled_at=self.clock(),
                )
            )

    def finish_batch(
        self, batch_id: int, results: Sequence[WriteResult], budget: Mapping[str, Any]
    ) -> None:
        """The batch happened (the records are on the server, which is the record of them)."""
        self._settle(batch_id, "done", "", budget)

    def abandon_batch(self, batch_id: int, reason: str, budget: Mapping[str, Any]) -> None:
        """The server refused the whole batch: none of it happened."""
        self._settle(batch_id, "abandoned", reason, budget)

    def open_batches(self) -> list[tuple[int, list[Write]]]:
        """Batches journaled as sent without a result (a kill, a timeout)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(directory_follow_batches.c.id, directory_follow_batches.c.writes)
                .where(
                    directory_follow_batches.c.did == self.did,
                    directory_follow_batches.c.state == "sent",
                )
                .order_by(directory_follow_batches.c.id)
            ).all()
        return [
            (
                int(row.id),
                [
                    Write(w["key"], WriteKind(w["action"]), w["collection"], w["rkey"], None)
                    for w in json.loads(row.writes)
                ],
            )
            for row in rows
        ]

    def load_budget(self) -> Mapping[str, Any] | None:
        """The budget state saved with the visitor's last settled batch."""
        with self.engine.connect() as conn:
            saved = conn.execute(
                select(directory_follow_batches.c.budget)
                .where(
                    directory_follow_batches.c.did == self.did,
                    directory_follow_batches.c.budget != "",
                )
                .order_by(directory_follow_batches.c.id.desc())
                .limit(1)
            ).scalar()
        if not saved:
            return None
        state: dict[str, Any] = json.loads(saved)
        return state


# --- the DIDs of the form ---------------------------------------------------------------------


def parse_follow_dids(raw: str, own_did: str, engine: Engine) -> list[dict[str, str]]:
    """The directory entries (did, handle) of the DIDs in ``raw``; a clear error otherwise."""
    dids = list(dict.fromkeys(raw.split()))
    if not dids:
        raise BadInput(_("there is nobody to follow"), _("Register with your following.js first"))
    if len(dids) > MAX_FOLLOW_ALL:
        raise BadInput(
            _("at most %(n)d accounts can be followed at once") % {"n": MAX_FOLLOW_ALL},
            _("Register again with your following.js"),
        )
    for did in dids:
        if not _DID.match(did):
            raise BadInput(
                _("the list of accounts to follow was changed"),
                _("Register again with your following.js"),
            )
    if own_did in dids:
        raise BadInput(_("you cannot follow yourself"), _("Register again with your following.js"))
    handles: dict[str, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(dids), 500):
            for row in conn.execute(
                select(directory_entries.c.did, directory_entries.c.handle).where(
                    directory_entries.c.did.in_(dids[start : start + 500])
                )
            ):
                handles.setdefault(row.did, row.handle)
    if any(did not in handles for did in dids):
        raise BadInput(
            _("some of these accounts are not in the directory (any more)"),
            _("Register again with your following.js to see the current list"),
        )
    return [{"did": did, "handle": handles[did]} for did in dids]


# --- following ----------------------------------------------------------------------------


@dataclass
class FollowOutcome:
    """What one press of "Follow all" did."""

    followed: int = 0
    already: int = 0
    refused: int = 0
    stopped: str = ""  # why it stopped before the end (the rest can be retried), or ""


class _TooLong(Exception):
    """The writer would wait longer than a web request should."""


def _short_sleep(seconds: float) -> None:
    if seconds > _LONGEST_WAIT:
        raise _TooLong
    import time

    time.sleep(max(0.0, seconds))


def writer_for(pds: Pds, journal: VisitorJournal) -> Writer:
    """A writer that never waits longer than a web request should (it raises instead)."""
    return open_writer(pds, journal, sleep=_short_sleep, max_attempts=2)


def _existing(pds: Pds) -> Mapping[str, str]:
    return pds.followed()


def follow_all(
    writer: Writer,
    dids: Sequence[str],
    now_iso: Callable[[], str],
    existing_of: Callable[[Pds], Mapping[str, str]] = _existing,
) -> FollowOutcome:
    """Follow every DID in ``dids`` exactly once with ``writer``'s account; what happened.

    Stops (``stopped`` says why) instead of waiting when the server asks to slow down; the
    journal then holds nothing open, so pressing again later follows only the rest.
    """
    outcome = FollowOutcome()
    try:
        writer.reconcile()
        existing = existing_of(writer.pds)
    except _TooLong:
        outcome.stopped = _("Bluesky asks to slow down")
        return outcome
    pending = [did for did in dids if did not in existing]
    outcome.already = len(dids) - len(pending)
    for start in range(0, len(pending), BATCH):
        stamp = now_iso()
        writes = [
            Write.create(
                follow_key(did),
                FOLLOW,
                derived_rkey(did),
                {"$type": FOLLOW, "subject": did, "createdAt": stamp},
            )
            for did in pending[start : start + BATCH]
        ]
        try:
            # A refused follow is isolated (the others go); one created a moment ago by
            # another press comes back as a result: done, not refused.
            sent = writer.send_isolating(writes, batch_size=BATCH)
        except _TooLong:
            outcome.stopped = _("Bluesky asks to slow down")
            return outcome
        outcome.followed += len(sent.results)
        outcome.refused += len(sent.refused)
        if not sent.results and not sent.refused:
            outcome.stopped = _("the Bluesky server did not answer")
            return outcome
    return outcome
