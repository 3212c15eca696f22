"""``departures migrate run/status/verify/undo``: the publisher's commands.

The ``migrate`` group (:mod:`departures.commands.migrate_group`) imports this module only when
one of them is used.
"""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from departures.bluesky.pds import Pds, open_account
from departures.bluesky.session import SessionStore
from departures.commands.context import AppContext, pass_app
from departures.commands.options import server_url
from departures.errors import BlueskyError, WorkspaceError
from departures.migrate import publish as publishing
from departures.migrate.gates import apply_to_workspace, stored_choice
from departures.migrate.undo import to_undo, undo
from departures.migrate.verify import APPVIEW_ENV, default_appview, verify
from departures.workspace.locks import task_lock

_PACE = click.option(
    "--pace",
    default="full",
    show_default=True,
    envvar="DEPARTURES_PACE",
    help="'full' (as fast as Bluesky allows: about 1,600 posts an hour), 'gentle' "
    f"({publishing.GENTLE_WRITES_PER_HOUR} writes an hour, spread evenly) or a number of "
    "writes per hour [env DEPARTURES_PACE].",
)
_MARGIN = click.option(
    "--margin",
    type=click.FloatRange(0.0, 0.9),
    default=0.02,
    show_default=True,
    help="Fraction of the server's write limit to leave unused (0.02: 2 %).",
)
_NO_BUDGET = click.option(
    "--no-budget",
    is_flag=True,
    envvar="DEPARTURES_NO_BUDGET",
    help="Only for a server without a write limit (a local sandbox): do not keep to "
    "Bluesky's limit of about 1,600 posts an hour (a server that says 'slow down' is still "
    "obeyed) [env DEPARTURES_NO_BUDGET].",
)
_HANDLE = click.option(
    "--handle", default=None, help="The logged-in account to use (default: the current one)."
)


def _pace(value: str) -> str | int:
    if value in ("full", "gentle"):
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise click.BadParameter(
        "use 'full', 'gentle' or a number of writes per hour", param_hint="--pace"
    )


def open_pds(handle: str | None) -> Pds:
    """The logged-in account's repository (a clear error when nobody is logged in)."""
    pds = open_account(handle)
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(pds.close)
    return pds


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds}s"
    if seconds < 3600 * 2:
        return f"{seconds // 60} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


@click.command("run")
@_HANDLE
@_PACE
@_MARGIN
@_NO_BUDGET
@click.option("--retry-failed", is_flag=True, help="Try the posts that failed before once more.")
@pass_app
def run_command(
    app: AppContext,
    handle: str | None,
    pace: str,
    margin: float,
    no_budget: bool,
    retry_failed: bool,
) -> None:
    """Publish the plan to Bluesky, exactly once, within the account's write budget.

    Ctrl-C stops cleanly; run it again to resume where it stopped.

    Example: departures migrate run --pace gentle
    """
    from departures.commands.options import next_step
    from departures.workspace.db import DB_NAME, Workspace

    config = publishing.budget_config(_pace(pace), margin, unlimited=no_budget)
    nothing = WorkspaceError("Nothing is planned yet", "Run 'departures migrate plan' first")
    # No workspace, no plan: said as such, and without creating an empty workspace.
    if not (Workspace.resolve_path(app.workspace_option) / DB_NAME).exists():
        raise nothing
    workspace = app.workspace(create=False)
    if publishing.status(workspace, config).planned == 0:
        raise nothing
    pds = open_pds(handle)
    console = Console(stderr=True)
    # Refused at once while the desk (or another command) publishes, follows, imports or
    # plans here: two writers on one journal would settle each other's open batches.
    with (
        task_lock(workspace.path, "publish", "'departures migrate run' is publishing"),
        Progress(
            TextColumn("[bold]publishing"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            TextColumn("{task.fields[note]}"),
            console=console,
            transient=False,
        ) as bar,
    ):
        task = bar.add_task("publish", total=None, eta="", note="")

        def on_progress(state: publishing.Progress) -> None:
            bar.update(
                task,
                total=state.total,
                completed=state.done,
                eta=f"ETA {_duration(state.eta_seconds)}" if state.done < state.total else "",
                note=f"{state.failed} failed" if state.failed else "",
            )

        def notify(message: str) -> None:
            bar.console.print(message)

        publisher = publishing.Publisher(workspace, pds, config, notify=notify)
        report = publisher.run(retry_failed=retry_failed, on_progress=on_progress)
    status = publishing.status(workspace, config)
    click.echo(
        f"Published {report.published} posts now"
        + (f" ({report.already_there} found already on the server)" if report.already_there else "")
        + f"; {status.published} of {status.planned} planned posts are on Bluesky"
        + (f", {len(status.failures)} cannot be published" if status.failures else "")
        + "."
    )
    # Posts published after `migrate gates` get the controls chosen then (exactly once).
    choice = stored_choice(workspace)
    if choice is not None and report.published:
        gates = apply_to_workspace(workspace, pds, choice, config, notify=click.echo)
        click.echo(
            f"Reply and quote controls ({choice.describe()}): "
            f"{gates.written} gate records written for the new posts."
        )
    if report.cid_mismatches:
        click.echo(
            f"Warning: {report.cid_mismatches} posts got another CID than computed locally; "
            "replies in the same batch may point at an older version.",
            err=True,
        )
    if status.failures:
        click.echo("See why with: departures migrate status", err=True)
    if status.pending:
        next_step("departures migrate run (again, to publish the rest)")
    else:
        next_step("departures migrate verify (check that people can see the posts)")


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_app
def status_command(app: AppContext, as_json: bool) -> None:
    """Planned, published, pending and failed posts, with the reasons and the time left.

    Example: departures migrate status --json
    """
    from departures.commands.options import next_step, plural

    state = publishing.status(app.workspace(create=False))
    if as_json:
        click.echo(json.dumps(state.to_json(), indent=2))
        return
    failed = len(state.failures) - state.blocked
    click.echo(
        f"{plural(state.planned, 'planned post')}: {state.published} published, "
        f"{state.pending} still to publish, {failed} failed, {state.blocked} blocked "
        "(blocked: a reply or quote of a post that failed, published once that one is)"
        + (f", {state.undone} deleted again by undo" if state.undone else "")
        + "."
    )
    if state.pending:
        click.echo(
            f"Publishing the rest takes about {_duration(state.eta_seconds)} "
            "(Bluesky allows about 1,600 posts an hour and 11,600 a day)."
        )
    for failure in state.failures[:50]:
        click.echo(f"  {failure['key']} {failure['status']}: {failure['reason']}")
    if len(state.failures) > 50:
        click.echo(f"  ... and {len(state.failures) - 50} more (see --json)")
    if state.planned == 0:
        next_step("departures migrate plan")
    elif failed:
        next_step("departures migrate run --retry-failed (once the reasons above are fixed)")
    elif state.pending:
        next_step("departures migrate run (it resumes where it stopped)")
    else:
        next_step("departures migrate verify (check that the posts are visible)")


@click.command("verify")
@_HANDLE
@click.option(
    "--appview",
    envvar=APPVIEW_ENV,
    default=None,
    callback=server_url,
    help="The Bluesky service that shows posts to people, to ask (default: the sandbox's "
    f"for a sandbox account, else https://public.api.bsky.app) [env {APPVIEW_ENV}].",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Look up the missing posts on your server and publish again those that are gone.",
)
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(0, 3600),
    default=0,
    show_default=True,
    help="Seconds to keep asking for posts Bluesky does not show yet (it takes a moment "
    "to show a burst of new posts).",
)
@pass_app
def verify_command(
    app: AppContext, handle: str | None, appview: str | None, repair: bool, wait_seconds: float
) -> None:
    """Check that people can see the published posts on Bluesky.

    Example: departures migrate verify --repair
    """
    from departures.commands.options import next_step

    workspace = app.workspace(create=False)
    pds: Pds | None = None
    stored = SessionStore().get(handle)
    if repair or appview is None:
        if stored is None:
            raise BlueskyError("Nobody is logged in", "Run 'departures login --handle HANDLE'")
        if repair:
            pds = open_pds(handle)
    url = appview or default_appview(stored.pds if stored else "")
    report = verify(workspace, url, pds=pds, repair=repair, wait_seconds=wait_seconds)
    click.echo(f"{report.visible} of {report.checked} published posts are visible on {url}.")
    if report.missing and not repair:
        click.echo(
            f"{len(report.missing)} are not (yet) visible: "
            + ", ".join(report.missing[:10])
            + (" ..." if len(report.missing) > 10 else "")
            + ". Bluesky may still be catching up with them: check again in a minute, or "
            "run 'departures migrate verify --repair'."
        )
    if repair:
        if report.on_pds_only:
            click.echo(
                f"{len(report.on_pds_only)} exist on your server but Bluesky does not show "
                "them yet (still catching up, or taken down): check again later."
            )
        if report.recreate:
            click.echo(
                f"{len(report.recreate)} were gone from your PDS (the server that holds your "
                "account): publishing them again."
            )
            assert pds is not None
            result = publishing.Publisher(workspace, pds).run()
            click.echo(f"Published {result.published} again.")
    if report.missing and not repair:
        next_step("departures migrate verify --wait 60")
    else:
        next_step("departures audience match (find the accounts you followed, on Bluesky)")


@click.command("undo")
@_HANDLE
@_MARGIN
@_NO_BUDGET
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def undo_command(
    app: AppContext, handle: str | None, margin: float, no_budget: bool, yes: bool
) -> None:
    """Delete from Bluesky every post this workspace published (replies first).

    Example: departures migrate undo --yes
    """
    workspace = app.workspace(create=False)
    targets = to_undo(workspace)
    pds = open_pds(handle)
    if not yes:
        click.confirm(
            f"Delete the {len(targets)} posts this workspace published as {pds.handle}?",
            abort=True,
        )
    console = Console(stderr=True)
    with (
        task_lock(workspace.path, "publish", "'departures migrate undo' is deleting posts"),
        Progress(
            TextColumn("[bold]deleting"), BarColumn(), MofNCompleteColumn(), console=console
        ) as bar,
    ):
        task = bar.add_task("undo", total=len(targets))

        def on_progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        deleted = undo(
            workspace,
            pds,
            publishing.budget_config(None, margin, unlimited=no_budget),
            notify=lambda message: bar.console.print(message),
            on_progress=on_progress,
        )
    click.echo(f"Deleted {deleted} posts.")
