"""``departures archive ...``: read the X archive into the workspace."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from departures.archive.run import forget_if_fresh
from departures.archive.stats import archive_stats
from departures.commands.context import AppContext, pass_app
from departures.commands.options import next_step, plain_time, plural, progress_bar
from departures.errors import DeparturesError, Interrupted
from departures.workspace.db import DB_NAME, Workspace
from departures.workspace.locks import LOCK_DIR, task_lock

if TYPE_CHECKING:
    from departures.archive.importer import ImportReport


@click.group()
def archive() -> None:
    """Read your X archive into the local workspace."""


# What the importer is doing, in the words of the progress bar (its stage names are terse).
_STAGE_LABELS = {
    "tweets": "Reading tweets",
    "storing": "Saving to the workspace",
    "linking": "Linking threads and quotes",
}


@archive.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@pass_app
def import_command(app: AppContext, path: Path) -> None:
    """Import the X archive at PATH: the zip X sent you, its folder, or one .js file.

    Importing again (the same or a newer archive of the same account) updates the
    workspace in place.

    Example: departures archive import twitter-2026-03-06.zip
    """
    from departures.archive.source import open_source

    # A path that is not an archive at all must not leave an empty workspace behind, after
    # which every other command would say "holds no tweets" instead of "no workspace here".
    open_source(path).close()
    fresh = not (Workspace.resolve_path(app.workspace_option) / DB_NAME).exists()
    workspace = app.workspace()
    imports_before = _imports(workspace)
    try:
        # Refused at once, with who holds it, while the desk or another command imports,
        # plans or publishes here (departures.workspace.locks).
        with task_lock(workspace.path, "import", "'departures archive import' is importing"):
            report = _import(path, workspace)
    except KeyboardInterrupt:
        if _imports(workspace) > imports_before:  # stopped after the commit, while tidying up
            raise
        _forget_if_fresh(workspace, fresh)
        raise Interrupted(
            "Import stopped: nothing was imported (the workspace is as it was before)",
            f"Run 'departures archive import {path}' again; it starts from the beginning",
        ) from None
    except DeparturesError:
        _forget_if_fresh(workspace, fresh)
        raise
    stats = archive_stats(workspace)
    who = f"@{report.username}" if report.username else "unknown account"
    click.echo(f"Imported {path} ({who}) in {report.seconds:.1f} s into {workspace.path}.")
    click.echo(_summary(stats))
    if report.warnings:
        click.echo(f"{plural(len(report.warnings), 'warning')}:")
        for warning in report.warnings:
            click.echo(f"  Warning: {warning}")
    next_step("departures migrate plan (choose what to publish on Bluesky)")


def _import(path: Path, workspace: Workspace) -> ImportReport:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from departures.archive.importer import import_archive

    with progress_bar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int | None) -> None:
            if total is not None and done > total:
                total = None  # the manifest's count was wrong: no bar rather than "9/1"
            if stage not in tasks:
                label = _STAGE_LABELS.get(stage, stage.capitalize())
                tasks[stage] = bar.add_task(label, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        return import_archive(path, workspace, progress=progress)


def _imports(workspace: Workspace) -> int:
    return int(workspace.conn.execute("SELECT COUNT(*) FROM archive_imports").fetchone()[0])


def _forget_if_fresh(workspace: Workspace, fresh: bool) -> None:
    """Remove the workspace this command created when its first import did not happen
    (its folder too, when nothing else is in it: the user's own files stay)."""
    forget_if_fresh(workspace, fresh)
    if fresh and not (workspace.path / DB_NAME).exists():
        with contextlib.suppress(OSError):
            shutil.rmtree(workspace.path / LOCK_DIR)
        with contextlib.suppress(OSError):
            workspace.path.rmdir()


def _summary(stats: dict[str, Any]) -> str:
    kinds = ", ".join(
        [
            plural(stats["originals"], "original"),
            plural(
                stats["self_replies"], "reply in your own threads", "replies in your own threads"
            ),
            plural(stats["replies_to_others"], "reply to others", "replies to others"),
            plural(stats["retweets"], "retweet"),
            plural(stats["quotes"], "quote"),
        ]
    )
    lines = [
        f"  tweets            {stats['tweets']:>8}  ({kinds})",
        f"  long posts        {stats['long_posts_restored']:>8}  restored from note tweets",
        f"  media             {stats['media_items']:>8}  "
        f"({plural(stats['media_files_missing'], 'file')} missing)",
        f"  deleted tweets    {stats['deleted_tweets']:>8}  (kept, not published by default)",
        f"  community tweets  {stats['community_tweets']:>8}  (kept, not published by default)",
        f"  followers         {stats['followers']:>8}",
        f"  following         {stats['following']:>8}",
        f"  likes             {stats['likes']:>8}",
        f"  blocks            {stats['blocks']:>8}",
        f"  mutes             {stats['mutes']:>8}",
        f"  known handles     {stats['known_screen_names']:>8}  "
        "(accounts whose @name the archive reveals, to find them on Bluesky)",
    ]
    span = stats["date_range"]
    if span["first"]:
        first, last = plain_time(span["first"])[:10], plain_time(span["last"])[:10]
        lines.append(f"  first tweet {first}, last tweet {last}")
    return "\n".join(lines)


@archive.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_app
def stats_command(app: AppContext, as_json: bool) -> None:
    """Show what the workspace holds from the archive.

    Example: departures archive stats --json
    """
    workspace = app.workspace(create=False)
    stats = archive_stats(workspace)
    if as_json:
        click.echo(orjson.dumps(stats).decode())
        return
    account = stats["account"]
    if account["username"]:
        click.echo(f"Archive of @{account['username']} ({account['display_name']})")
    click.echo(_summary(stats))
    if not _imports(workspace):
        click.echo(
            f"No archive has been imported into {workspace.path} yet (an import that was "
            "stopped or failed keeps nothing), so everything is 0."
        )
        next_step("departures archive import PATH")
        return
    next_step("departures migrate plan (choose what to publish on Bluesky)")
