"""What each of the desk's background jobs does: the CLI's library calls, with progress.

Each function runs in the job's own process (:mod:`departures.desk.background`), takes its
parameters from the job's status file, reports counts and ETA through the
:class:`~departures.desk.background.JobContext` (which is also where a pause is noticed: after a
batch, or during a wait) and returns a small summary for the page. The same library
functions run ``migrate run``, ``migrate undo``, ``migrate verify``, ``audience match`` and
``audience follow``: the desk has no publishing or matching logic of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import closing
from typing import Any

from departures.desk.background import JobContext
from departures.workspace.db import Workspace


def _workspace(ctx: JobContext) -> Workspace:
    return Workspace.open(ctx.workspace_dir, create=False)


def publish(ctx: JobContext) -> Mapping[str, Any]:
    """``departures migrate run``: the plan, exactly once, within the write budget."""
    from departures.bluesky.pds import open_account
    from departures.migrate import publish as publishing

    params = ctx.params
    config = publishing.budget_config(
        params.get("pace") or "full",
        float(params.get("margin", 0.02)),
        unlimited=bool(params.get("no_budget")),
    )
    with closing(_workspace(ctx)) as workspace, closing(open_account(params.get("handle"))) as pds:

        def on_progress(state: publishing.Progress) -> None:
            ctx.report(state.done, state.total, failed=state.failed, eta_seconds=state.eta_seconds)

        publisher = publishing.Publisher(workspace, pds, config, notify=ctx.notify, sleep=ctx.sleep)
        report = publisher.run(
            retry_failed=bool(params.get("retry_failed")), on_progress=on_progress
        )
        status = publishing.status(workspace, config)
        # As `migrate run`: new posts get the reply and quote controls chosen (exactly once).
        gated = _gate_new_posts(ctx, workspace, pds, config) if report.published else None
    return {
        "published": report.published,
        "already_there": report.already_there,
        "failed": len(report.failed),
        "planned": status.planned,
        "on_bluesky": status.published,
        "pending": status.pending,
        "account": pds.handle,
        "gates_written": gated,
    }


def _gate_new_posts(ctx: JobContext, workspace: Workspace, pds: Any, config: Any) -> int | None:
    from departures.migrate.gates import apply_to_workspace, stored_choice

    choice = stored_choice(workspace)
    if choice is None:
        return None
    return apply_to_workspace(
        workspace, pds, choice, config, notify=ctx.notify, sleep=ctx.sleep
    ).written


def gates(ctx: JobContext) -> Mapping[str, Any]:
    """``departures migrate gates``: the stored reply and quote controls on every published
    post, exactly once (what already matches is not written again)."""
    from departures.bluesky.pds import open_account
    from departures.migrate import publish as publishing
    from departures.migrate.gates import EVERYBODY, apply_to_workspace, stored_choice

    params = ctx.params
    config = publishing.budget_config(None, unlimited=bool(params.get("no_budget")))
    with closing(_workspace(ctx)) as workspace, closing(open_account(params.get("handle"))) as pds:
        choice = stored_choice(workspace) or EVERYBODY
        done = apply_to_workspace(
            workspace,
            pds,
            choice,
            config,
            notify=ctx.notify,
            sleep=ctx.sleep,
            on_progress=lambda written, total: ctx.report(written, total),
        )
    return {
        "posts": done.posts,
        "written": done.written,
        "unchanged": done.unchanged,
        "refused": len(done.refused),
        "refused_first": done.refused[:20],
        "account": pds.handle,
    }


def undo(ctx: JobContext) -> Mapping[str, Any]:
    """``departures migrate undo``: delete what this workspace published, replies first."""
    from departures.bluesky.pds import open_account
    from departures.migrate import publish as publishing
    from departures.migrate.undo import undo as undo_posts

    params = ctx.params
    config = publishing.budget_config(None, unlimited=bool(params.get("no_budget")))
    with closing(_workspace(ctx)) as workspace, closing(open_account(params.get("handle"))) as pds:
        deleted = undo_posts(
            workspace,
            pds,
            config,
            notify=ctx.notify,
            on_progress=lambda done, total: ctx.report(done, total),
            sleep=ctx.sleep,
        )
    return {"deleted": deleted, "account": pds.handle}


def verify(ctx: JobContext) -> Mapping[str, Any]:
    """``departures migrate verify``: which published posts people can see."""
    from departures.bluesky.session import SessionStore
    from departures.migrate.verify import default_appview
    from departures.migrate.verify import verify as verify_posts

    params = ctx.params
    stored = SessionStore().get(params.get("handle"))
    appview = params.get("appview") or default_appview(stored.pds if stored else "")
    ctx.report(0, 1, note="", checkpoint=False)
    with closing(_workspace(ctx)) as workspace:
        report = verify_posts(workspace, appview, wait_seconds=float(params.get("wait", 0)))
    ctx.report(1, 1, checkpoint=False)
    return {
        "checked": report.checked,
        "visible": report.visible,
        "missing": report.missing[:50],
        "missing_count": len(report.missing),
        "appview": appview,
    }


def match(ctx: JobContext) -> Mapping[str, Any]:
    """``departures audience match``: the directory first, then the scored search."""
    from departures.audience import matching

    params = ctx.params
    with closing(_workspace(ctx)) as workspace:
        plan = matching.prepare(
            workspace,
            str(params.get("relation") or "following"),
            params.get("directory") or None,
            params.get("limit"),
        )
        total = len(plan.todo)
        ctx.report(0, total)
        found = matching.search(
            workspace,
            str(params["appview"]),
            plan.todo,
            on_account=lambda counts: ctx.report(counts.searched, total),
        )
    return {
        "accounts": len(plan.ids),
        "directory_new": plan.directory_new,
        "in_directory": plan.in_directory,
        "searched": found.searched,
        "auto": found.auto,
        "review": found.review,
        "unknown": plan.unknown,
    }


def follow(ctx: JobContext) -> Mapping[str, Any]:
    """``departures audience follow``: the accepted matches, exactly once, paced."""
    from departures.audience import follow as following
    from departures.bluesky.pds import open_account
    from departures.migrate import publish as publishing

    params = ctx.params
    per_hour = int(params.get("per_hour", following.DEFAULT_PER_HOUR))
    config = publishing.budget_config(per_hour or None, unlimited=bool(params.get("no_budget")))
    with closing(_workspace(ctx)) as workspace, closing(open_account(params.get("handle"))) as pds:
        runner = following.Follower(
            workspace,
            pds,
            config,
            daily_cap=int(params.get("daily_cap", following.DEFAULT_DAILY_CAP)),
            notify=ctx.notify,
            sleep=ctx.sleep,
        )

        def on_progress(state: following.FollowProgress) -> None:
            ctx.report(
                state.done + state.existing + state.failed,
                state.total,
                failed=state.failed,
                eta_seconds=state.eta_seconds,
            )

        report = runner.run(on_progress=on_progress)
        state = runner.progress()
    return {
        "followed": report.followed,
        "done": state.done,
        "existing": state.existing,
        "failed": state.failed,
        "pending": state.pending,
        "capped_until": report.capped_until.isoformat() if report.capped_until else None,
        "paused_until": report.paused_until.isoformat() if report.paused_until else None,
    }


def rehearse(ctx: JobContext) -> Mapping[str, Any]:
    """The rehearsal in the sandbox (:mod:`departures.desk.rehearsal`)."""
    from departures.desk import rehearsal

    return rehearsal.rehearse(ctx)
