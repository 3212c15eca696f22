"""The one writer's journals in the coalition store (the ``Journal`` protocol of
:mod:`departures.bluesky.writer`).

* :class:`CoalitionJournal` — the journal of one connected account (a coordinator's or a
  member's): ``bluesky_batches`` (journaled as sent before a byte leaves) and
  ``bluesky_records`` (what each write became), plus the account's budget state in
  ``bluesky_accounts``.
* :class:`VisitorJournal` — the journal of one directory visitor's "Follow all"
  (``directory_follow_batches``); the records are on the visitor's server, which is the
  record of them, so only the batches and the budget are kept.

SQLAlchemy Core only: the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from departures.bluesky.budget import BudgetConfig, WriteBudget, WriteKind
from departures.bluesky.writer import Write, WriteResult
from departures.coalition.store.campaigns import utc_now
from departures.coalition.store.schema import (
    bluesky_accounts,
    bluesky_batches,
    bluesky_records,
    directory_follow_batches,
)

__all__ = ["CoalitionJournal", "JournaledRecord", "VisitorJournal"]


@dataclass(frozen=True)
class JournaledRecord:
    """The last journaled write of a key: what exists on the server as far as we know."""

    key: str
    action: WriteKind
    collection: str
    rkey: str
    uri: str
    cid: str


class CoalitionJournal:
    """The writer's journal of one account, in the coalition store."""

    def __init__(
        self, engine: Engine, account_id: int, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.engine = engine
        self.account_id = account_id
        self.clock = clock

    def begin_batch(self, writes: Sequence[Write]) -> int:
        """Journal ``writes`` as sent (committed before the request goes out)."""
        listed = [
            {
                "key": w.key,
                "action": str(w.action),
                "collection": w.collection,
                "rkey": w.rkey,
                "expected_cid": w.expected_cid,
            }
            for w in writes
        ]
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(bluesky_batches).values(
                    account_id=self.account_id,
                    writes=json.dumps(listed),
                    state="sent",
                    reason="",
                    created_at=self.clock(),
                )
            )
            assert result.inserted_primary_key is not None
            return int(result.inserted_primary_key[0])

    def finish_batch(
        self, batch_id: int, results: Sequence[WriteResult], budget: Mapping[str, Any]
    ) -> None:
        """Record what the batch's writes became, and the budget, in one transaction."""
        now = self.clock()
        with self.engine.begin() as conn:
            if results:
                conn.execute(
                    insert(bluesky_records),
                    [
                        {
                            "account_id": self.account_id,
                            "batch_id": batch_id,
                            "key": r.write.key,
                            "action": str(r.write.action),
                            "collection": r.write.collection,
                            "rkey": r.write.rkey,
                            "uri": r.uri,
                            "cid": r.cid or "",
                            "existed": r.existed,
                            "at": now,
                        }
                        for r in results
                    ],
                )
            conn.execute(
                update(bluesky_batches)
                .where(bluesky_batches.c.id == batch_id)
                .values(state="done", settled_at=now)
            )
            self._save_budget(conn, budget)

    def abandon_batch(self, batch_id: int, reason: str, budget: Mapping[str, Any]) -> None:
        """The server refused the whole batch: none of it happened."""
        with self.engine.begin() as conn:
            conn.execute(
                update(bluesky_batches)
                .where(bluesky_batches.c.id == batch_id)
                .values(state="abandoned", reason=reason[:500], settled_at=self.clock())
            )
            self._save_budget(conn, budget)

    def open_batches(self) -> list[tuple[int, list[Write]]]:
        """Batches journaled as sent without a result (a kill, a crash, a timeout)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(bluesky_batches.c.id, bluesky_batches.c.writes)
                .where(
                    bluesky_batches.c.account_id == self.account_id,
                    bluesky_batches.c.state == "sent",
                )
                .order_by(bluesky_batches.c.id)
            ).all()
        return [
            (
                int(row.id),
                [
                    Write(
                        w["key"],
                        WriteKind(w["action"]),
                        w["collection"],
                        w["rkey"],
                        None,
                        w.get("expected_cid"),
                    )
                    for w in json.loads(row.writes)
                ],
            )
            for row in rows
        ]

    def load_budget(self) -> Mapping[str, Any] | None:
        """The budget state saved with the last settled batch."""
        with self.engine.connect() as conn:
            saved = conn.execute(
                select(bluesky_accounts.c.budget).where(bluesky_accounts.c.id == self.account_id)
            ).scalar()
        if not saved:
            return None
        state: dict[str, Any] = json.loads(saved)
        return state

    def budget(self, config: BudgetConfig | None = None) -> WriteBudget:
        """The account's budget with its saved state."""
        saved = self.load_budget()
        return WriteBudget.from_dict(saved, config) if saved else WriteBudget(config)

    def _save_budget(self, conn: Any, budget: Mapping[str, Any]) -> None:
        conn.execute(
            update(bluesky_accounts)
            .where(bluesky_accounts.c.id == self.account_id)
            .values(budget=json.dumps(dict(budget)))
        )

    # --- questions ------------------------------------------------------------------------

    def last(self, key_prefix: str = "") -> dict[str, JournaledRecord]:
        """The last journaled write of every key starting with ``key_prefix``."""
        query = (
            select(bluesky_records)
            .where(bluesky_records.c.account_id == self.account_id)
            .order_by(bluesky_records.c.id)
        )
        if key_prefix:
            query = query.where(bluesky_records.c.key.startswith(key_prefix, autoescape=True))
        found: dict[str, JournaledRecord] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                found[row.key] = JournaledRecord(
                    row.key, WriteKind(row.action), row.collection, row.rkey, row.uri, row.cid
                )
        return found

    def forget_open_batches(self) -> int:
        """Drop batches never sent (tests; an operator's last resort). How many."""
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    delete(bluesky_batches).where(
                        bluesky_batches.c.account_id == self.account_id,
                        bluesky_batches.c.state == "sent",
                    )
                ).rowcount
            )


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
