"""``departures archive ...``: read the X archive into the workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson

from departures.archive.stats import archive_stats
from departures.commands.context import AppContext, pass_app


@click.group()
def archive() -> None:
    """Read your X archive into the local workspace."""


@archive.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@pass_app
def import_command(app: AppContext, path: Path) -> None:
    """Import the X archive at PATH: the zip X sent you, its folder, or one .js file.

    Importing again (the same or a newer archive of the same account) updates the
    workspace in place.

    Example: departures archive import twitter-2026-03-06.zip
    """
    # Imported here: 'archive stats' and every help screen start without the import engine.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from departures.archive.importer import import_archive

    workspace = app.workspace()
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"Reading {stage}", total=total)
            bar.update(tasks[stage], completed=done, total=total)

        report = import_archive(path, workspace, progress=progress)
    stats = archive_stats(workspace)
    who = f"@{report.username}" if report.username else "unknown account"
    click.echo(f"Imported {path} ({who}) in {report.seconds:.1f} s into {workspace.path}.")
    click.echo(_summary(stats))
    if report.warnings:
        click.echo(f"{len(report.warnings)} warning(s):")
        for warning in report.warnings:
            click.echo(f"  Warning: {warning}")


def _summary(stats: dict[str, Any]) -> str:
    lines = [
        f"  tweets            {stats['tweets']:>8}  ({stats['originals']} originals, "
        f"{stats['self_replies']} self-replies, {stats['replies_to_others']} replies to others, "
        f"{stats['retweets']} retweets, {stats['quotes']} quotes)",
        f"  long posts        {stats['long_posts_restored']:>8}  restored from note tweets",
        f"  media             {stats['media_items']:>8}  ({stats['media_files_missing']} files "
        "missing)",
        f"  deleted tweets    {stats['deleted_tweets']:>8}  (kept, not published by default)",
        f"  community tweets  {stats['community_tweets']:>8}  (kept, not published by default)",
        f"  followers         {stats['followers']:>8}",
        f"  following         {stats['following']:>8}",
        f"  likes             {stats['likes']:>8}",
        f"  blocks            {stats['blocks']:>8}",
        f"  mutes             {stats['mutes']:>8}",
        f"  known handles     {stats['known_screen_names']:>8}  (X id -> screen name pairs)",
    ]
    span = stats["date_range"]
    if span["first"]:
        lines.append(f"  from {span['first']} to {span['last']}")
    return "\n".join(lines)


@archive.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_app
def stats_command(app: AppContext, as_json: bool) -> None:
    """Show what the workspace holds from the archive.

    Example: departures archive stats --json
    """
    stats = archive_stats(app.workspace(create=False))
    if as_json:
        click.echo(orjson.dumps(stats).decode())
        return
    account = stats["account"]
    if account["username"]:
        click.echo(f"Archive of @{account['username']} ({account['display_name']})")
    click.echo(_summary(stats))
