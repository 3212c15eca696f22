"""Undoing a migration: deleting what this workspace published, through the one write path.

Children go before parents (descending plan order), each delete costs 1 budget point, and
the deletes are journaled like the creates: a kill mid-way, then ``undo`` again, deletes
each post exactly once (a delete whose record is already gone is recorded, not retried).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from departures.bluesky.budget import BudgetConfig, WriteKind
from departures.bluesky.pds import Pds
from departures.bluesky.records import POST
from departures.bluesky.writer import Write, open_writer
from departures.workspace.db import Workspace
from departures.workspace.journal import WorkspaceJournal, check_account


def to_undo(workspace: Workspace) -> list[tuple[str, str]]:
    """(plan key, uri) of every published post not yet undone, children first."""
    rows = workspace.conn.execute(
        "SELECT u.key, u.uri FROM published u LEFT JOIN plan_posts p ON p.key = u.key "
        "WHERE u.deleted_at IS NULL ORDER BY COALESCE(p.seq, 0) DESC, u.key DESC"
    ).fetchall()
    return [(str(k), str(uri)) for k, uri in rows]


def undo(
    workspace: Workspace,
    pds: Pds,
    config: BudgetConfig | None = None,
    *,
    notify: Callable[[str], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Delete every post this workspace published; how many were deleted (or already gone)."""
    check_account(workspace, pds.did)
    writer = open_writer(
        pds, WorkspaceJournal(workspace, pds.did), config, sleep=sleep, notify=notify
    )
    deleted = sum(1 for r in writer.reconcile() if r.write.action is WriteKind.DELETE)
    targets = to_undo(workspace)
    total = len(targets) + deleted
    if on_progress:
        on_progress(deleted, total)
    while targets:
        cap = writer.capacity(WriteKind.DELETE)
        chunk, targets = targets[:cap], targets[cap:]
        batch = [Write.delete(key, POST, uri.rsplit("/", 1)[-1]) for key, uri in chunk]
        deleted += len(writer.send(batch))
        if on_progress:
            on_progress(deleted, total)
    return deleted


def undo_preview(workspace: Workspace, shown: int = 20) -> tuple[int, list[dict[str, str]]]:
    """What an undo would delete, for a confirmation: (how many posts, the first ``shown``
    as ``{"text", "created", "uri"}``, children first as they would go)."""
    targets = to_undo(workspace)
    out: list[dict[str, str]] = []
    for key, uri in targets[:shown]:
        row = workspace.conn.execute(
            "SELECT json_extract(record, '$.text'), json_extract(record, '$.createdAt') "
            "FROM plan_posts WHERE key = ?",
            (key,),
        ).fetchone()
        text, created = row if row else ("", "")
        out.append({"text": str(text or ""), "created": str(created or "")[:10], "uri": uri})
    return len(targets), out
