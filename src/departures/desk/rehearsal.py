"""The rehearsal: the organisation's plan published to a private Bluesky network first.

One job (:func:`rehearse`) starts the local sandbox (when it is installed), creates a
throwaway account there, publishes the plan to it through the same publisher and journal
as the real run, checks what the sandbox's AppView shows, records a summary the desk links
to, and stops the sandbox again (unless it was already running before: then it belongs to
someone else, a developer or a test, and stays up).

The real workspace is not touched: the rehearsal runs on a copy of its database in
``<workspace>/rehearsal/`` with the journal emptied (a workspace publishes as one account
only), and its session is kept in that folder's own session store, never in the user's.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

from departures.errors import SandboxError, WorkspaceError

REHEARSAL_DIR = "rehearsal"
PORTS_ENV = "DEPARTURES_SANDBOX_PORTS"
#: The state folder of a sandbox started with its own (a test session's): reused, not started.
STATE_ENV = "DEPARTURES_SANDBOX_STATE"
#: What a workspace copy forgets: the real run's journal and its account.
_JOURNAL_TABLES = (
    "batch_writes",
    "write_batches",
    "published",
    "publish_failures",
    "blobs",
    "write_budget",
    "audience_follows",
)


def N_(message: str) -> str:
    """Mark a progress note for extraction: the job's process writes it in English, the
    rehearsal page shows it in its reader's language (``rendering.note``)."""
    return message


def sandbox_installed() -> bool:
    """Whether the sandbox's servers are installed (a rehearsal needs them)."""
    from departures.sandbox.install import installed_runtime

    return installed_runtime() is not None


def rehearsal_dir(workspace_dir: Path) -> Path:
    """Where the rehearsal's copy of the workspace and its session live."""
    return Path(workspace_dir) / REHEARSAL_DIR


def copy_workspace(workspace_dir: Path) -> Path:
    """A fresh copy of the workspace for a rehearsal, its journal emptied; its directory."""
    from departures.workspace.db import DB_NAME
    from departures.workspace.journal import PUBLISH_DID_META

    target = rehearsal_dir(workspace_dir)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    source = sqlite3.connect(Path(workspace_dir) / DB_NAME)
    copy = sqlite3.connect(target / DB_NAME)
    try:
        source.backup(copy)  # consistent even while another process writes
        with copy:
            for table in _JOURNAL_TABLES:
                copy.execute(f"DELETE FROM {table}")
            copy.execute("DELETE FROM meta WHERE key = ?", (PUBLISH_DID_META,))
    finally:
        source.close()
        copy.close()
    return target


def rehearse(ctx: Any) -> Mapping[str, Any]:
    """The rehearsal job (``ctx`` is the job's :class:`~departures.desk.background.JobContext`)."""
    from departures.bluesky.pds import open_account
    from departures.bluesky.session import SessionStore, login
    from departures.migrate import publish as publishing
    from departures.migrate.verify import verify
    from departures.sandbox import Sandbox
    from departures.workspace.db import Workspace

    if not sandbox_installed():
        raise SandboxError(
            "The sandbox is not installed on this computer",
            "Install it once with: departures sandbox up (a few minutes), then try again",
        )
    with closing(Workspace.open(ctx.workspace_dir, create=False)) as workspace:
        if publishing.status(workspace).planned == 0:
            raise WorkspaceError(
                "Nothing is planned yet", "Choose what moves first (step 2), then rehearse"
            )
    copy = copy_workspace(ctx.workspace_dir)
    state = os.environ.get(STATE_ENV)
    box = Sandbox(
        int(ctx.params.get("ports") or os.environ.get(PORTS_ENV) or 2580),
        Path(state) if state else None,
    )
    ctx.notify(N_("starting the sandbox"))
    started = box.up(appview=True)
    try:
        handle = f"rehearsal-{secrets.token_hex(3)}"
        account = box.create_account(handle)
        sessions = SessionStore(copy / "config")
        login(account.handle, account.app_password, account.service, store=sessions)
        ctx.notify(N_("publishing"))
        with (
            closing(Workspace.open(copy, create=False)) as rehearsal,
            closing(open_account(account.handle, store=sessions)) as pds,
        ):
            config = publishing.budget_config(unlimited=True)

            def on_progress(state: publishing.Progress) -> None:
                ctx.report(state.done, state.total, failed=state.failed)

            report = publishing.Publisher(
                rehearsal, pds, config, notify=ctx.notify, sleep=ctx.sleep
            ).run(on_progress=on_progress)
            ctx.notify(N_("checking what the sandbox shows"))
            seen = verify(rehearsal, box.appview_url, wait_seconds=30)
            posts = _sample(rehearsal)
    finally:
        if started:
            box.down()
    return {
        "handle": account.handle,
        "did": account.did,
        "published": report.published,
        "failed": len(report.failed),
        "failures": dict(list(report.failed.items())[:20]),
        "visible": seen.visible,
        "checked": seen.checked,
        "posts": posts,
        "sandbox_stopped": started,
    }


def _sample(workspace: Any, limit: int = 20) -> list[dict[str, str]]:
    """The first posts as published (text, date, URI), for the rehearsal's result page."""
    import json

    rows = workspace.conn.execute(
        "SELECT p.record, u.uri FROM plan_posts p JOIN published u ON u.key = p.key "
        "ORDER BY p.seq LIMIT ?",
        (limit,),
    ).fetchall()
    out = []
    for record, uri in rows:
        data = json.loads(record)
        out.append(
            {
                "text": str(data.get("text", "")),
                "created": str(data.get("createdAt", "")),
                "uri": uri,
            }
        )
    return out
