"""``departures audience``: find the followed and the followers again on Bluesky.

import-directory / import-names feed what is known; ``match`` finds and scores candidates;
``review``, ``accept`` and ``reject`` are the human step; ``follow`` follows the accepted
ones exactly once, paced; ``sync`` picks up people who joined the directory later.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from departures.audience import review, store
from departures.audience.scoring import AUTO_ACCEPT
from departures.commands.context import AppContext, pass_app
from departures.commands.options import server_url
from departures.defaults import (
    APPVIEW_ENV,
    FOLLOW_DAILY_CAP,
    FOLLOW_MAX_WAIT,
    FOLLOW_PER_HOUR,
    PUBLIC_APPVIEW,
)
from departures.workspace.db import Workspace
from departures.workspace.locks import task_lock

# The modules that talk to Bluesky or to a directory server (the atproto SDK, httpx) are
# imported in the commands that use them: review, accept and reject start without them.

DIRECTORY_ENV = "DEPARTURES_DIRECTORY"

_RELATION = click.option(
    "--relation",
    type=click.Choice(["following", "followers", "both"]),
    default="following",
    show_default=True,
    help="Whose accounts to look for: those the organisation followed, its followers, or both.",
)
_DIRECTORY = click.option(
    "--directory",
    envvar=DIRECTORY_ENV,
    default=None,
    callback=server_url,
    help=f"A coalition server whose directory to ask first [env {DIRECTORY_ENV}].",
)

_RELATION_WORDS = {
    "following": "accounts you followed",
    "followers": "followers",
    "both": "accounts you followed and followers",
}


def _ids(workspace: Workspace, relation: str) -> list[int]:
    from departures.audience.matching import audience_ids

    return audience_ids(workspace, relation)


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


@click.group()
def audience() -> None:
    """Find the accounts you followed (and your followers) on Bluesky, and follow them again.

    Example: departures audience match --directory https://coalition.example.org
    """


@audience.command("import-directory")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def import_directory(app: AppContext, file: Path) -> None:
    """Read a directory export (JSON) of consented X id → Bluesky pairs.

    Pairs for accounts you followed or that followed you are accepted right away when their
    X side is proven (verified or vouched); the others wait for your review.

    Example: departures audience import-directory directory.json
    """
    from departures.audience import inputs
    from departures.audience.matching import import_directory

    entries = inputs.read_directory_file(file)
    stored, new, proven = import_directory(app.workspace(), entries, f"file:{file.name}")
    click.echo(
        f"Read {len(entries)} directory entries; {stored} are in your audience "
        f"({new} new matches; {proven} proven and accepted, {stored - proven} to review: "
        "departures audience review)."
    )
    _next("departures audience match (search for the others), or departures audience follow")


@audience.command("import-names")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def import_names(app: AppContext, file: Path) -> None:
    """Read a CSV describing X accounts: id,handle,name (website and bio optional).

    Example: departures audience import-names names.csv
    """
    from departures.audience import inputs

    rows = inputs.read_names(file)
    workspace = app.workspace()
    store.require_archive(workspace)
    n = store.save_names(workspace, rows)
    click.echo(f"Stored {n} descriptions of X accounts.")
    _next("departures audience match (it searches for them on Bluesky)")


def _next(step: str) -> None:
    from departures.commands.options import next_step

    next_step(step)


def _directory_step(workspace: Workspace, directory: str, ids: list[int]) -> int:
    from departures.audience.matching import ask_directory

    new, _review = ask_directory(workspace, directory, ids)
    return new


@audience.command("match")
@_RELATION
@_DIRECTORY
@click.option(
    "--appview",
    envvar=APPVIEW_ENV,
    default=PUBLIC_APPVIEW,
    show_default=True,
    callback=server_url,
    help=f"The Bluesky search service to ask [env {APPVIEW_ENV}].",
)
@click.option("--limit", type=click.IntRange(1), default=None, help="Search at most N accounts.")
@pass_app
def match_command(
    app: AppContext, relation: str, directory: str | None, appview: str, limit: int | None
) -> None:
    """Find candidates: the directory first, then a scored search by handle and name.

    Example: departures audience match --relation both --appview https://public.api.bsky.app
    """
    from departures.audience import matching
    from departures.commands.options import next_step, plural, progress_bar

    workspace = app.workspace(create=False)
    plan = matching.prepare(workspace, relation, directory, limit)
    ids, in_directory, todo, unknown = plan.ids, plan.in_directory, plan.todo, plan.unknown
    whom = _RELATION_WORDS[relation]
    if plan.directory_new is not None:
        click.echo(
            f"Directory: {plural(plan.directory_new, 'new match', 'new matches')} (accepted "
            f"when verified or vouched; {plan.directory_review} not proven, to review with "
            "their proof level)."
        )
    else:
        click.echo(
            "Directory: skipped, as no --directory was given (a coalition's directory holds "
            "people who linked their X and Bluesky accounts themselves: the surest matches)."
        )
    left_out = plan.left_out
    click.echo(
        f"Searching {len(todo)} of your {len(ids)} {whom}: "
        + (f"{in_directory} were found in the directory; " if in_directory else "")
        + (
            f"the archive gives only a number for {unknown}, without the @name to search "
            "for (describe them with 'departures audience import-names FILE')"
            if unknown
            else "every other one has a known @name"
        )
        + (f"; --limit {limit} leaves out {left_out}" if left_out else "")
        + "."
    )
    with progress_bar(
        TextColumn("[bold]searching"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TextColumn("{task.fields[eta]}"),
        transient=False,
    ) as bar:
        task = bar.add_task("search", total=len(todo), eta="")

        def on_account(_counts: matching.SearchCounts) -> None:
            bar.advance(task)
            remaining = bar.tasks[0].time_remaining
            bar.update(task, eta=_duration(remaining) if remaining is not None else "")

        found = matching.search(workspace, appview, todo, on_account=on_account)
    counts = {"auto": found.auto, "review": found.review}
    click.echo(
        f"{len(ids)} X accounts; {in_directory} found in the directory; "
        f"{len(todo)} with a known handle searched; {counts['auto']} candidates accepted "
        f"automatically (score >= {AUTO_ACCEPT}), {counts['review']} to review; "
        f"{unknown} without a known handle (supply them with import-names)."
    )
    if counts["review"]:
        next_step("departures audience review (accept or reject the uncertain ones)")
    else:
        next_step("departures audience follow")


@audience.command("review")
@click.option("--all", "show_all", is_flag=True, help="Also show accepted and rejected ones.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write an HTML page of the candidates instead of the table.",
)
@pass_app
def review_command(app: AppContext, show_all: bool, html_file: Path | None) -> None:
    """List the candidates with their score and evidence.

    Example: departures audience review --html review.html
    """
    from departures.commands.options import next_step

    workspace = app.workspace(create=False)
    totals = store.counts(workspace)
    if not any(totals.values()):
        click.echo("There is nothing to review yet: no account has been matched.")
        next_step("departures audience match (it finds the candidates to review)")
        return
    found = store.candidates(workspace, status=None if show_all else "proposed")
    if html_file is not None:
        html_file.write_text(review.render(found), encoding="utf-8")
        click.echo(f"Wrote {len(found)} candidates to {html_file}.")
        return
    table = Table(title=f"{len(found)} candidates", show_lines=True)
    for column in ("id", "X", "Bluesky", "score", "evidence", "decision"):
        table.add_column(column)
    for c in found:
        table.add_row(
            str(c.id),
            f"@{c.x_handle}\n{c.x_id}" if c.x_handle else str(c.x_id),
            f"@{c.handle}\n{c.display_name}",
            f"{c.score:.2f}",
            "\n".join(c.evidence),
            c.status + (f" ({c.decided_by})" if c.decided_by else ""),
            # Profiles are strangers' text: never rich markup.
        )
    Console(markup=False, highlight=False).print(table)
    click.echo(
        f"proposed {totals['proposed']}, accepted {totals['accepted']}, "
        f"rejected {totals['rejected']}"
    )
    if totals["proposed"]:
        next_step("departures audience accept ID ... or reject ID ..., then audience follow")
    else:
        next_step("departures audience follow")


@audience.command("accept")
@click.argument("ids", type=int, nargs=-1)
@click.option(
    "--all-above",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Accept every proposed candidate scoring at least this.",
)
@pass_app
def accept_command(app: AppContext, ids: tuple[int, ...], all_above: float | None) -> None:
    """Accept candidates (they will be followed).

    Example: departures audience accept 12 15 --all-above 0.8
    """
    if not ids and all_above is None:
        raise click.UsageError("Give candidate ids or --all-above SCORE")
    workspace = app.workspace()
    n = store.decide(workspace, list(ids), "accepted") if ids else 0
    if all_above is not None:
        n += store.accept_above(workspace, all_above)
    click.echo(f"Accepted {n} candidates.")
    _next("departures audience follow")


@audience.command("reject")
@click.argument("ids", type=int, nargs=-1, required=True)
@pass_app
def reject_command(app: AppContext, ids: tuple[int, ...]) -> None:
    """Reject candidates (they will never be followed by this tool).

    Example: departures audience reject 13
    """
    n = store.decide(app.workspace(), list(ids), "rejected")
    click.echo(f"Rejected {n} candidates.")


@audience.command("follow")
@click.option("--handle", default=None, help="The logged-in account to use.")
@click.option(
    "--daily-cap",
    type=click.IntRange(1, 5000),
    default=FOLLOW_DAILY_CAP,
    show_default=True,
    help="At most this many follows in any 24 hours.",
)
@click.option(
    "--per-hour",
    type=click.IntRange(0),
    default=FOLLOW_PER_HOUR,
    show_default=True,
    help="Spread the follows evenly at this many an hour (0: as fast as the budget allows).",
)
@click.option("--list", "list_name", default=None, help="Add the matches to this list instead.")
@click.option("--batch", type=click.IntRange(1, 200), default=25, show_default=True)
@click.option(
    "--max-wait",
    type=click.IntRange(0),
    default=int(FOLLOW_MAX_WAIT),
    show_default=True,
    help="Wait at most this many seconds for the server's rate limit; longer: stop, "
    "and say when to run again.",
)
@click.option(
    "--no-budget",
    is_flag=True,
    envvar="DEPARTURES_NO_BUDGET",
    help="Only for a server without rate limits (a local sandbox).",
)
@pass_app
def follow_command(
    app: AppContext,
    handle: str | None,
    daily_cap: int,
    per_hour: int,
    list_name: str | None,
    batch: int,
    max_wait: int,
    no_budget: bool,
) -> None:
    """Follow the accepted matches exactly once, paced; run again to resume (even days later).

    Example: departures audience follow --daily-cap 300
    """
    from departures.audience import follow as following
    from departures.commands.migrate_publish import open_pds
    from departures.migrate import publish as publishing

    workspace = app.workspace()
    store.require_archive(workspace)
    config = publishing.budget_config(per_hour or None, unlimited=no_budget)
    pds = open_pds(handle)
    console = Console(stderr=True)
    with (
        task_lock(workspace.path, "follow", "'departures audience follow' is following"),
        Progress(
            TextColumn("[bold]following"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            console=console,
        ) as bar,
    ):
        task = bar.add_task("follow", total=None, eta="")

        def on_progress(state: following.FollowProgress) -> None:
            bar.update(
                task,
                total=state.total,
                completed=state.done + state.existing + state.failed,
                eta=f"ETA {_duration(state.eta_seconds)}" if state.pending else "",
            )

        runner = following.Follower(
            workspace,
            pds,
            config,
            daily_cap=daily_cap,
            list_name=list_name,
            max_wait=max_wait,
            notify=lambda message: bar.console.print(message, markup=False),
        )
        report = runner.run(batch_size=batch, on_progress=on_progress)
    state = runner.progress()
    click.echo(
        f"Followed {report.followed} now; {state.done} done, {state.existing} already "
        f"followed, {state.failed} failed, {state.pending} pending."
    )
    if report.capped_until is not None:
        click.echo(
            f"Daily cap of {daily_cap} reached; run again after "
            f"{report.capped_until:%Y-%m-%d %H:%M} UTC to continue "
            f"(about {_duration(state.eta_seconds)} for the rest)."
        )
    if report.paused_until is not None:
        click.echo(
            f"The server's rate limit for {pds.handle} is reached: paused until "
            f"{report.paused_until:%Y-%m-%d %H:%M:%S} UTC. Nothing is lost; run "
            "'departures audience follow' again after that time to continue."
        )


@audience.command("sync")
@_RELATION
@_DIRECTORY
@pass_app
def sync_command(app: AppContext, relation: str, directory: str | None) -> None:
    """Ask the directory again: people who registered since are accepted for following.

    Run ``departures audience follow`` afterwards (or on a schedule) to follow them.

    Example: departures audience sync --directory https://coalition.example.org
    """
    if not directory:
        raise click.UsageError("Give --directory URL (or set DEPARTURES_DIRECTORY)")
    workspace = app.workspace()
    store.require_archive(workspace)
    before = store.counts(workspace)["accepted"]
    new = _directory_step(workspace, directory, _ids(workspace, relation))
    click.echo(
        f"{new} new directory matches; {store.counts(workspace)['accepted'] - before} more "
        "accounts to follow. Follow them with: departures audience follow"
    )
