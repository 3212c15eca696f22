"""The write journal in the workspace: the :class:`~departures.bluesky.writer.Journal` of
every write an organisation's workspace makes to Bluesky — the migration's posts (and their
undo), the audience's follows, list and list items — and what each settled write means for
the workspace's own tables.

Tables (migrations ``m011_publish_journal`` and the audience's): ``write_batches``,
``batch_writes`` and ``write_budget`` (the journal itself, one account per workspace);
``published``, ``publish_failures`` and ``blobs`` (the migration's posts); ``audience_follows``
(the audience's follows and list items). Every method is one transaction: a batch is
durably journaled as sent before a byte leaves, and its results, what they mean for
``published`` and ``audience_follows``, and the budget state are committed together.

Whoever settles a batch — the command that sent it, or another command that finds it open
after a kill (``migrate run`` settles an ``audience follow`` batch, and the other way round)
— records its results in the owning table in that same transaction: :meth:`_apply` knows
every kind of write a workspace makes (there is no registry to forget to fill).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from departures.bluesky.budget import WriteKind
from departures.bluesky.records import FOLLOW, LISTITEM, POST, POSTGATE, THREADGATE
from departures.bluesky.writer import Write, WriteResult
from departures.errors import WorkspaceError
from departures.workspace.db import Workspace

__all__ = [
    "PUBLISH_DID_META",
    "WorkspaceJournal",
    "check_account",
    "now_iso",
    "published_keys",
]

#: The workspace's meta key of the account it writes as (one account per workspace).
PUBLISH_DID_META = "publish_did"


def now_iso() -> str:
    """The current time as the journal stores it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def published_keys(conn: sqlite3.Connection) -> set[str]:
    """Plan keys that exist on the server (published and not undone)."""
    return {row[0] for row in conn.execute("SELECT key FROM published WHERE deleted_at IS NULL")}


def _disk_error(exc: sqlite3.Error) -> WorkspaceError:
    return WorkspaceError(
        f"The publish journal cannot be written ({exc}); nothing more was sent",
        "Free some disk space (or fix the workspace's permissions) and run again to resume",
    )


def check_account(workspace: Workspace, did: str) -> None:
    """Refuse to write one workspace as two accounts (it would duplicate everything)."""
    known = workspace.get_meta(PUBLISH_DID_META)
    if known is None:
        with workspace.transaction():
            workspace.set_meta(PUBLISH_DID_META, did)
    elif known != did:
        raise WorkspaceError(
            f"This workspace publishes as {known}, but you are logged in as {did}",
            f"Log in as {known}, or use another --workspace for this account",
        )


class WorkspaceJournal:
    """The journal of the workspace account's writes (posts, follows, lists, undo)."""

    def __init__(self, workspace: Workspace, account_did: str) -> None:
        self.workspace = workspace
        self.conn = workspace.conn
        self.account = account_did

    def begin_batch(self, writes: Sequence[Write]) -> int:
        """Journal ``writes`` as sent (committed before the request goes out)."""
        try:
            with self.workspace.transaction() as conn:
                cursor = conn.execute(
                    "INSERT INTO write_batches (state, writes, sent_at) VALUES ('sent', ?, ?)",
                    (len(writes), now_iso()),
                )
                batch_id = int(cursor.lastrowid or 0)
                conn.executemany(
                    "INSERT INTO batch_writes (batch_id, position, key, action, collection, rkey,"
                    " expected_cid) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (batch_id, i, w.key, str(w.action), w.collection, w.rkey, w.expected_cid)
                        for i, w in enumerate(writes)
                    ],
                )
        except sqlite3.OperationalError as exc:
            raise _disk_error(exc) from exc
        return batch_id

    def finish_batch(
        self, batch_id: int, results: Sequence[WriteResult], budget: Mapping[str, Any]
    ) -> None:
        """Record the results (and what they mean for ``published``) and the budget."""
        stamp = now_iso()
        try:
            with self.workspace.transaction() as conn:
                for result in results:
                    write = result.write
                    conn.execute(
                        "UPDATE batch_writes SET uri = ?, cid = ?, done = 1 "
                        "WHERE batch_id = ? AND rkey = ? AND collection = ?",
                        (result.uri, result.cid, batch_id, write.rkey, write.collection),
                    )
                    self._apply(conn, result, stamp)
                conn.execute(
                    "UPDATE write_batches SET state = 'done', finished_at = ? WHERE id = ?",
                    (stamp, batch_id),
                )
                self._save_budget(conn, budget, stamp)
        except sqlite3.OperationalError as exc:
            raise _disk_error(exc) from exc

    def _apply(self, conn: sqlite3.Connection, result: WriteResult, stamp: str) -> None:
        """What a settled write means for the workspace's tables (same transaction)."""
        write = result.write
        if write.collection == POST:
            self._apply_post(conn, result, stamp)
        elif write.collection in (THREADGATE, POSTGATE):
            # A post's reply or quote controls (departures migrate gates).
            conn.execute(
                "INSERT INTO post_gates (collection, rkey, uri, cid, deleted, written_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(collection, rkey) DO UPDATE SET "
                "uri = excluded.uri, cid = excluded.cid, deleted = excluded.deleted, "
                "written_at = excluded.written_at",
                (
                    write.collection,
                    write.rkey,
                    result.uri,
                    result.cid or "",
                    int(write.action is WriteKind.DELETE),
                    stamp,
                ),
            )
        elif write.collection in (FOLLOW, LISTITEM) and write.action is WriteKind.CREATE:
            # The audience's follow (or list item): done, whoever settled the batch.
            conn.execute(
                "UPDATE audience_follows SET state = 'done', uri = ?, done_at = ?, reason = NULL"
                " WHERE key = ? AND state IN ('pending', 'failed')",
                (result.uri, stamp, write.key),
            )

    @staticmethod
    def _apply_post(conn: sqlite3.Connection, result: WriteResult, stamp: str) -> None:
        write = result.write
        if write.action is WriteKind.DELETE:
            conn.execute(
                "UPDATE published SET deleted_at = ? WHERE key = ? AND deleted_at IS NULL",
                (stamp, write.key),
            )
        else:
            conn.execute(
                "INSERT INTO published (key, uri, cid, published_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET uri = excluded.uri, cid = excluded.cid, "
                "published_at = excluded.published_at, deleted_at = NULL, verified_at = NULL",
                (write.key, result.uri, result.cid or "", stamp),
            )
            conn.execute("DELETE FROM publish_failures WHERE key = ?", (write.key,))

    def abandon_batch(self, batch_id: int, reason: str, budget: Mapping[str, Any]) -> None:
        """The server refused the whole batch: nothing of it happened."""
        stamp = now_iso()
        try:
            with self.workspace.transaction() as conn:
                conn.execute(
                    "UPDATE write_batches SET state = 'refused', finished_at = ?, reason = ? "
                    "WHERE id = ?",
                    (stamp, reason[:500], batch_id),
                )
                self._save_budget(conn, budget, stamp)
        except sqlite3.OperationalError as exc:
            raise _disk_error(exc) from exc

    def open_batches(self) -> list[tuple[int, list[Write]]]:
        """Batches journaled as sent that have no result yet."""
        batches: list[tuple[int, list[Write]]] = []
        for (batch_id,) in self.conn.execute(
            "SELECT id FROM write_batches WHERE state = 'sent' ORDER BY id"
        ).fetchall():
            writes = [
                Write(key, WriteKind(action), collection, rkey, None, expected)
                for key, action, collection, rkey, expected in self.conn.execute(
                    "SELECT key, action, collection, rkey, expected_cid FROM batch_writes "
                    "WHERE batch_id = ? ORDER BY position",
                    (batch_id,),
                )
            ]
            batches.append((int(batch_id), writes))
        return batches

    def load_budget(self) -> Mapping[str, Any] | None:
        """The budget state of this account saved by the last batch."""
        row = self.conn.execute(
            "SELECT state FROM write_budget WHERE account = ?", (self.account,)
        ).fetchone()
        if row is None:
            return None
        state: dict[str, Any] = json.loads(row[0])
        return state

    def _save_budget(self, conn: sqlite3.Connection, budget: Mapping[str, Any], stamp: str) -> None:
        conn.execute(
            "INSERT INTO write_budget (account, state, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(account) DO UPDATE SET state = excluded.state, "
            "updated_at = excluded.updated_at",
            (self.account, json.dumps(budget), stamp),
        )

    # --- the migration's own records ------------------------------------------------------

    def fail(self, key: str, reason: str, *, status: str = "failed") -> None:
        """Record that ``key`` cannot be published (``failed``) or waits on one (``blocked``)."""
        with self.workspace.transaction() as conn:
            conn.execute(
                "INSERT INTO publish_failures (key, status, reason, failed_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(key) DO UPDATE SET status = excluded.status, "
                "reason = excluded.reason, failed_at = excluded.failed_at",
                (key, status, reason[:1000], now_iso()),
            )

    def failures(self) -> dict[str, tuple[str, str]]:
        """Failed and blocked keys: ``{key: (status, reason)}``."""
        return {
            key: (status, reason)
            for key, status, reason in self.conn.execute(
                "SELECT key, status, reason FROM publish_failures"
            )
        }

    def clear_failures(self) -> int:
        """Forget every failure so that ``run`` tries those posts again; how many."""
        with self.workspace.transaction() as conn:
            return conn.execute("DELETE FROM publish_failures").rowcount

    def blob(self, media_key: str, sha256: str) -> dict[str, Any] | None:
        """The blob ref uploaded earlier for this media item and content, if any."""
        row = self.conn.execute(
            "SELECT blob FROM blobs WHERE media_key = ? AND sha256 = ?", (media_key, sha256)
        ).fetchone()
        if row is None:
            return None
        ref: dict[str, Any] = json.loads(row[0])
        return ref

    def remember_blob(self, media_key: str, sha256: str, blob: Mapping[str, Any]) -> None:
        """Remember an uploaded blob so that no retry uploads it again."""
        try:
            with self.workspace.transaction() as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO blobs (media_key, sha256, blob, size, mime, "
                    "uploaded_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        media_key,
                        sha256,
                        json.dumps(blob),
                        int(blob.get("size") or 0),
                        str(blob.get("mimeType") or ""),
                        now_iso(),
                    ),
                )
        except sqlite3.OperationalError as exc:
            raise _disk_error(exc) from exc

    def published(self) -> dict[str, tuple[str, str]]:
        """Published, not undone: ``{key: (uri, cid)}``."""
        return {
            key: (uri, cid)
            for key, uri, cid in self.conn.execute(
                "SELECT key, uri, cid FROM published WHERE deleted_at IS NULL"
            )
        }
