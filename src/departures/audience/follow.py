"""Following the accepted matches exactly once, at a pace that looks nothing like spam.

Every follow (or list item) is an ``applyWrites`` create through the project's one write
path (:class:`~departures.bluesky.writer.Writer`), journaled in the workspace like the
migration's posts. Its record key is a TID derived from the subject's DID (and the list),
so a retry after a kill asks the server for *the same* record and is recognised instead of
duplicated. Before sending, the account's existing follows (``listRecords``) are read:
somebody already followed (by hand, in the app) is recorded as ``existing`` and skipped.

Pace: the server's write budget, an even spread (``per_hour``), and a daily cap over any
24 hours (default :data:`DEFAULT_DAILY_CAP`). When the cap is reached the run stops and
says when to run again; nothing is lost, the next run resumes.

Rate limits: the server's 429 (and its ``RateLimit-*`` headers) reach the writer, which
refuses the batch in the journal (nothing of it happened, its follows stay pending) and
waits for the server's reset. A wait longer than ``max_wait`` (default
:data:`DEFAULT_MAX_WAIT`: the server's hourly window) stops the run instead, saying when to
run it again; the budget remembers the reset, so the next run does not knock before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from departures.audience import store
from departures.bluesky.budget import BudgetConfig, WriteKind
from departures.bluesky.pds import Pds
from departures.bluesky.records import CURATELIST, FOLLOW, LIST, LISTITEM, derived_rkey, follow_key
from departures.bluesky.writer import Write, open_writer
from departures.workspace.db import Workspace
from departures.workspace.journal import WorkspaceJournal, check_account

DEFAULT_DAILY_CAP = 300
DEFAULT_PER_HOUR = 60
#: Longer waits for the server's budget stop the run (a day's window is not waited out).
DEFAULT_MAX_WAIT = 3600.0
#: Waits at least this long are announced with the time the run goes on.
_ANNOUNCE_WAIT = 300.0
LIST_META = "audience_list_uri:"


def now_iso() -> str:
    """Now, as the follows table stores it (sortable)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class FollowProgress:
    """Where a follow run stands."""

    total: int
    done: int
    existing: int
    failed: int
    pending: int
    done_last_24h: int
    eta_seconds: float


@dataclass
class FollowReport:
    """What a run did, and why it stopped (the daily cap, or the server's rate limit)."""

    followed: int
    existing: int
    failed: int
    pending: int
    capped_until: datetime | None
    paused_until: datetime | None = None


class _Paused(Exception):
    """The server's budget needs a longer wait than the run may take: stop, resume later."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"paused until {until.isoformat()}")
        self.until = until


def eta_seconds(pending: int, done_last_24h: int, daily_cap: int, per_hour: int | None) -> float:
    """Seconds needed for ``pending`` follows under the daily cap and the hourly spread."""
    if pending <= 0:
        return 0.0
    by_rate = pending / per_hour * 3600 if per_hour else 0.0
    today = max(0, daily_cap - done_last_24h)
    later = max(0, pending - today)
    by_cap = (later + daily_cap - 1) // daily_cap * 86400.0 if later else 0.0
    return max(by_rate, by_cap)


class Follower:
    """Follows (or lists) a workspace's accepted matches from the logged-in account."""

    def __init__(
        self,
        workspace: Workspace,
        pds: Pds,
        config: BudgetConfig,
        *,
        daily_cap: int = DEFAULT_DAILY_CAP,
        list_name: str | None = None,
        max_wait: float | None = DEFAULT_MAX_WAIT,
        notify: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        check_account(workspace, pds.did)
        self.workspace = workspace
        self.pds = pds
        self.daily_cap = daily_cap
        self.per_hour = config.max_writes_per_hour
        self.notify = notify or (lambda _m: None)
        self.max_wait = max_wait
        self._sleep = sleep
        # The workspace journal records what each follow became in ``audience_follows``,
        # whoever settles the batch (this run, the next one, or ``migrate run``).
        self.journal = WorkspaceJournal(workspace, pds.did)
        self.writer = open_writer(pds, self.journal, config, sleep=self._wait, notify=self.notify)
        self.budget = self.writer.budget
        self.list_name = list_name
        self.list_uri: str | None = None

    def _wait(self, seconds: float) -> None:
        """The writer's waits (budget, 429 reset, retries): too long a one stops the run."""
        until = datetime.now(UTC) + timedelta(seconds=seconds)
        if self.max_wait is not None and seconds > self.max_wait:
            raise _Paused(until)
        if seconds >= _ANNOUNCE_WAIT:
            self.notify(
                f"going on at {until:%H:%M} UTC; stopping now is safe (run again to resume)"
            )
        self._sleep(seconds)

    # --- the list ------------------------------------------------------------------------

    def ensure_list(self) -> str:
        """The URI of the curated list named ``list_name``, created (once) if needed."""
        assert self.list_name is not None
        rkey = derived_rkey("list", self.list_name)
        existing = self.pds.get_record(LIST, rkey)
        if existing is not None:
            return existing.uri
        record = {
            "$type": LIST,
            "purpose": CURATELIST,
            "name": self.list_name[:64],
            "description": "People and organisations we followed on X, found again on Bluesky.",
            "createdAt": now_iso(),
        }
        results = self.writer.send([Write.create(f"list:{self.list_name}", LIST, rkey, record)])
        return results[0].uri

    # --- the plan ------------------------------------------------------------------------

    def plan(self) -> int:
        """Add a pending follow for every accepted DID not yet planned; how many were added."""
        collection = LISTITEM if self.list_uri else FOLLOW
        stamp = now_iso()
        added = 0
        with self.workspace.transaction() as conn:
            for did, _x_id in store.accepted_dids(self.workspace):
                if did == self.pds.did:
                    continue
                key = follow_key(did, self.list_uri)
                rkey = derived_rkey(did, self.list_uri) if self.list_uri else derived_rkey(did)
                added += conn.execute(
                    "INSERT OR IGNORE INTO audience_follows (key, did, collection, rkey, "
                    "list_uri, planned_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (key, did, collection, rkey, self.list_uri, stamp),
                ).rowcount
            # A person may reject a match after it was planned but before it was followed.
            conn.execute(
                "DELETE FROM audience_follows WHERE state = 'pending' AND did IN (SELECT did "
                "FROM audience_candidates WHERE status = 'rejected' AND decided_by = 'user') "
                "AND did NOT IN (SELECT did FROM audience_candidates WHERE status = 'accepted')"
            )
        return added

    def _existing_subjects(self) -> dict[str, str]:
        """Subjects the account already follows (or lists): ``{did: record uri}``."""
        collection = LISTITEM if self.list_uri else FOLLOW
        return self.pds.followed(collection, self.list_uri)

    def reconcile(self) -> int:
        """Settle open batches, then mark follows found on the server; how many were found."""
        self.writer.reconcile()
        existing = self._existing_subjects()
        found = 0
        stamp = now_iso()
        with self.workspace.transaction() as conn:
            for key, did, rkey in conn.execute(
                "SELECT key, did, rkey FROM audience_follows WHERE state IN ('pending', 'failed') "
                "AND coalesce(list_uri, '') = ?",
                (self.list_uri or "",),
            ).fetchall():
                uri = existing.get(did)
                if uri is None:
                    continue
                state = "done" if uri.endswith("/" + rkey) else "existing"
                conn.execute(
                    "UPDATE audience_follows SET state = ?, uri = ?, done_at = ?, reason = NULL "
                    "WHERE key = ?",
                    (state, uri, stamp, key),
                )
                found += 1
        return found

    # --- questions -----------------------------------------------------------------------

    def done_last_24h(self, now: datetime | None = None) -> int:
        """Follows this tool made in the last 24 hours (what the daily cap counts)."""
        since = ((now or datetime.now(UTC)) - timedelta(days=1)).isoformat(timespec="milliseconds")
        row = self.workspace.conn.execute(
            "SELECT count(*) FROM audience_follows WHERE state = 'done' AND done_at >= ?",
            (since,),
        ).fetchone()
        return int(row[0])

    def _cap_frees_at(self) -> datetime:
        rows = self.workspace.conn.execute(
            "SELECT done_at FROM audience_follows WHERE state = 'done' ORDER BY done_at DESC "
            "LIMIT 1 OFFSET ?",
            (self.daily_cap - 1,),
        ).fetchone()
        if rows is None:
            return datetime.now(UTC)
        return datetime.fromisoformat(str(rows[0])) + timedelta(days=1)

    def progress(self) -> FollowProgress:
        """Counts of this run's kind of follows, and the ETA for the pending ones."""
        by_state = dict.fromkeys(("pending", "done", "existing", "failed"), 0)
        for state, n in self.workspace.conn.execute(
            "SELECT state, count(*) FROM audience_follows WHERE coalesce(list_uri, '') = ? "
            "GROUP BY state",
            (self.list_uri or "",),
        ):
            by_state[str(state)] = int(n)
        last = self.done_last_24h()
        return FollowProgress(
            total=sum(by_state.values()),
            done=by_state["done"],
            existing=by_state["existing"],
            failed=by_state["failed"],
            pending=by_state["pending"],
            done_last_24h=last,
            eta_seconds=eta_seconds(by_state["pending"], last, self.daily_cap, self.per_hour),
        )

    # --- the run -------------------------------------------------------------------------

    def _pending(self, limit: int) -> list[tuple[str, str, str]]:
        return [
            (str(k), str(d), str(r))
            for k, d, r in self.workspace.conn.execute(
                "SELECT key, did, rkey FROM audience_follows WHERE state = 'pending' "
                "AND coalesce(list_uri, '') = ? ORDER BY planned_at, key LIMIT ?",
                (self.list_uri or "", limit),
            )
        ]

    def _record(self, did: str) -> dict[str, Any]:
        if self.list_uri:
            return {
                "$type": LISTITEM,
                "subject": did,
                "list": self.list_uri,
                "createdAt": now_iso(),
            }
        return {"$type": FOLLOW, "subject": did, "createdAt": now_iso()}

    def _fail(self, keys: list[str], reason: str) -> None:
        with self.workspace.transaction() as conn:
            conn.executemany(
                "UPDATE audience_follows SET state = 'failed', reason = ? WHERE key = ?",
                [(reason[:500], k) for k in keys],
            )

    def run(
        self,
        *,
        batch_size: int = 25,
        on_progress: Callable[[FollowProgress], None] | None = None,
    ) -> FollowReport:
        """Follow every pending match exactly once; stop when done or paused.

        A pause: the daily cap is reached (``capped_until``) or the server's rate limit
        needs a wait longer than ``max_wait`` (``paused_until``).
        """
        report = FollowReport(0, 0, 0, 0, None)
        try:
            self._run(report, batch_size, on_progress)
        except _Paused as pause:
            report.paused_until = pause.until
        report.pending = self.progress().pending
        return report

    def _run(
        self,
        report: FollowReport,
        batch_size: int,
        on_progress: Callable[[FollowProgress], None] | None,
    ) -> None:
        if self.list_name:
            self.list_uri = self.ensure_list()
        self.plan()
        report.existing = self.reconcile()
        while True:
            state = self.progress()
            if on_progress is not None:
                on_progress(state)
            today = self.daily_cap - state.done_last_24h
            if state.pending == 0:
                break
            if today <= 0:
                report.capped_until = self._cap_frees_at()
                break
            room = self.writer.capacity(WriteKind.CREATE)
            rows = self._pending(max(1, min(batch_size, room, today)))
            writes = [
                Write.create(key, LISTITEM if self.list_uri else FOLLOW, rkey, self._record(did))
                for key, did, rkey in rows
            ]
            sent = self.writer.send_isolating(writes)
            for refused in sent.refused:
                self._fail([refused.write.key], refused.reason)
            report.failed += len(sent.refused)
            report.followed += sum(1 for r in sent.results if not r.existed)
