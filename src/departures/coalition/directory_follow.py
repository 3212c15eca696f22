"""Follow all: a directory visitor follows, in one action, the accounts they followed on X
that are in the directory now.

* :class:`~departures.coalition.vault.VisitorSessions` keeps the Bluesky session the
  visitor's PDS created at sign-in (access and refresh tokens, PDS, DID), **encrypted** with
  the coalition's :class:`~departures.coalition.vault.Vault`, under the SHA-256 of a random
  token that only the visitor's signed cookie holds. It lives at most :data:`SESSION_TTL`
  and is deleted on sign-out and withdrawal. It is a ``SessionStore``, so
  :func:`departures.bluesky.session.open_client` uses it and stores refreshed tokens back.
* :class:`~departures.coalition.store.write_journal.VisitorJournal` is the writer's journal
  of one visitor (``directory_follow_batches``).
* :func:`follow_all` follows through :class:`~departures.bluesky.writer.Writer` with the record
  keys and journal keys of ``departures audience follow`` (:mod:`departures.bluesky.records`),
  after settling open batches and reading the account's existing follows: pressing twice, or
  again after a failure, never follows anyone twice.

The list of DIDs comes from the visitor's form (the following list is never stored), so
:func:`parse_follow_dids` checks every one: a well-formed DID, in the directory now, not the
visitor's own, at most :data:`MAX_FOLLOW_ALL`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from departures.bluesky.pds import Pds
from departures.bluesky.records import FOLLOW, derived_rkey, follow_key
from departures.bluesky.writer import Write, Writer, open_writer
from departures.coalition.errors import BadInput
from departures.coalition.i18n import _
from departures.coalition.store import directory as directory_rows
from departures.coalition.store.write_journal import VisitorJournal
from departures.coalition.vault import SESSION_TTL, VisitorSessions

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
BATCH = 50
_LONGEST_WAIT = 3.0  # seconds a web request may wait for the server; longer: stop, retry later
_DID = re.compile(r"^did:(plc:[a-z2-7]{24}|web:[A-Za-z0-9.-]{1,253})$")


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
    handles = directory_rows.handles_of(engine, dids)
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
