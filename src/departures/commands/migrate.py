"""``departures migrate plan/preview/alt-text``: choosing, previewing and describing the posts.

The ``migrate`` group and its registry are in :mod:`departures.commands.migrate_group`; the
publisher's commands are in :mod:`departures.commands.migrate_publish`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from departures.audience.store import mention_dids
from departures.commands.context import AppContext, pass_app
from departures.errors import DeparturesError, WorkspaceError
from departures.migrate.alttext import export_alt_texts, import_alt_texts
from departures.migrate.media import DEFAULT_LIMITS
from departures.migrate.plan import PlanSummary, build_plan, format_duration
from departures.migrate.preview import write_preview
from departures.migrate.select import Selection
from departures.workspace.db import Workspace

# --- plan ----------------------------------------------------------------------------------

_STATUS_ID = re.compile(r"/status(?:es)?/(\d+)")


def parse_tweet_id(value: str, where: str) -> int:
    """A tweet id from ``123``, ``https://x.com/user/status/123?s=20`` or the like."""
    text = value.strip().strip('"').strip()
    found = _STATUS_ID.search(text)
    if found:
        return int(found.group(1))
    if text.isdigit():
        return int(text)
    raise DeparturesError(
        f"{where}: {value!r} is neither a tweet id nor a tweet URL",
        "Use ids like 1767213465029222565 or URLs like https://x.com/name/status/176721...",
    )


def read_id_file(path: Path) -> list[int]:
    """Tweet ids from a file: one id or URL a line, or a CSV with an ``id``/``tweet_id`` column."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DeparturesError(f"Cannot read {path}: {exc}", "Pass a text or CSV file") from exc
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        return []
    header = [h.strip().lower() for h in next(csv.reader([lines[0]]))]
    column = next((c for c in ("tweet_id", "id", "url", "tweet_url") if c in header), None)
    ids: list[int] = []
    if column is not None and len(header) >= 1 and not lines[0].strip().isdigit():
        for number, row in enumerate(csv.DictReader(io.StringIO("\n".join(lines))), 2):
            cell = (row.get(column) or "").strip() if column in row else ""
            if cell:
                ids.append(parse_tweet_id(cell, f"{path} line {number}"))
        return ids
    for number, line in enumerate(lines, 1):
        ids.append(parse_tweet_id(line.split(",")[0], f"{path} line {number}"))
    return ids


def _ids(values: Iterable[str], files: Iterable[Path], option: str) -> frozenset[int]:
    found = {parse_tweet_id(v, option) for v in values}
    for file in files:
        found.update(read_id_file(file))
    return frozenset(found)


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _open(app: AppContext) -> Workspace:
    workspace = app.workspace(create=False)
    count = workspace.conn.execute("SELECT COUNT(*) FROM tweets").fetchone()[0]
    if not count:
        raise WorkspaceError(
            f"The workspace {workspace.path} holds no tweets",
            "Run 'departures archive import PATH' first",
        )
    return workspace


@click.command("plan")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First day (YYYY-MM-DD, UTC).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last day (UTC), included.")
@click.option("--originals/--no-originals", default=True, show_default=True, help="Your own posts.")
@click.option(
    "--threads/--no-threads",
    default=True,
    show_default=True,
    help="Your self-threads, kept whole (a thread is selected by its first tweet).",
)
@click.option("--quotes/--no-quotes", default=True, show_default=True, help="Quote posts.")
@click.option(
    "--replies/--no-replies",
    default=False,
    show_default=True,
    help="Replies to other people (posted standalone).",
)
@click.option(
    "--retweets/--no-retweets",
    default=False,
    show_default=True,
    help="Retweets, as a link card to the original on X.",
)
@click.option("--min-likes", type=click.IntRange(0), default=0, help="At least N likes.")
@click.option("--min-reposts", type=click.IntRange(0), default=0, help="At least N reposts.")
@click.option("--hashtag", "hashtags", multiple=True, help="Has this hashtag (repeatable).")
@click.option(
    "--match",
    "matches",
    multiple=True,
    help="Text contains this, any case (repeatable: any of them).",
)
@click.option(
    "--include", "include", multiple=True, help="Always plan this tweet id or URL (repeatable)."
)
@click.option(
    "--exclude", "exclude", multiple=True, help="Never plan this tweet id or URL (repeatable)."
)
@click.option(
    "--include-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="File of ids/URLs to include (one a line, or a CSV id column).",
)
@click.option(
    "--exclude-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="File of ids/URLs to exclude.",
)
@click.option(
    "--top",
    type=click.IntRange(1),
    default=None,
    help="Only the N posts or threads with the most likes + reposts.",
)
@click.option(
    "--skip-sensitive/--keep-sensitive",
    default=False,
    show_default=True,
    help="Leave out tweets X marked possibly sensitive (kept, with a warning, by default).",
)
@click.option(
    "--skip-withheld/--keep-withheld",
    default=True,
    show_default=True,
    help="Leave out tweets withheld in some countries.",
)
@click.option("--footer", default=None, help="Text added at the end of each post or thread.")
@click.option(
    "--video-max-seconds",
    type=click.IntRange(1),
    default=DEFAULT_LIMITS.video_max_duration_ms // 1000,
    show_default=True,
    help="Longer videos become a link card to X (match your server's limit).",
)
@click.option(
    "--video-max-mb",
    type=click.IntRange(1),
    default=DEFAULT_LIMITS.video_max_bytes // 1_000_000,
    show_default=True,
    help="Larger videos become a link card to X.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@pass_app
def plan_command(
    app: AppContext,
    since: datetime | None,
    until: datetime | None,
    originals: bool,
    threads: bool,
    quotes: bool,
    replies: bool,
    retweets: bool,
    min_likes: int,
    min_reposts: int,
    hashtags: tuple[str, ...],
    matches: tuple[str, ...],
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    include_file: tuple[Path, ...],
    exclude_file: tuple[Path, ...],
    top: int | None,
    skip_sensitive: bool,
    skip_withheld: bool,
    footer: str | None,
    video_max_seconds: int,
    video_max_mb: int,
    as_json: bool,
) -> None:
    """Choose the tweets to migrate and store the posts they become.

    Planning again replaces the plan, except posts already published: those stay as they
    are. Nothing is written to Bluesky.

    Example: departures migrate plan --since 2020-01-01 --min-likes 5 --footer "Archived from X"
    """
    if since and until and since > until:
        raise DeparturesError("--since is after --until", "Swap the two dates")
    selection = Selection(
        since=_day(since),
        until=_day(until),
        originals=originals,
        threads=threads,
        quotes=quotes,
        replies=replies,
        retweets=retweets,
        min_likes=min_likes,
        min_reposts=min_reposts,
        hashtags=hashtags,
        match=matches,
        include=_ids(include, include_file, "--include"),
        exclude=_ids(exclude, exclude_file, "--exclude"),
        top=top,
        skip_sensitive=skip_sensitive,
        skip_withheld=skip_withheld,
    )
    workspace = _open(app)
    console = Console(stderr=True)
    with _progress(console) as bar:
        task = bar.add_task("Converting tweets", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        limits = replace(
            DEFAULT_LIMITS,
            video_max_bytes=video_max_mb * 1_000_000,
            video_max_duration_ms=video_max_seconds * 1000,
        )
        # Accounts found on Bluesky (directory, accepted matches) are mentioned there.
        summary = build_plan(
            workspace,
            selection,
            footer=footer,
            mention_dids=mention_dids(workspace),
            limits=limits,
            progress=progress,
        )
    if as_json:
        click.echo(orjson.dumps(summary.to_dict()).decode())
        return
    Console().print(summary_table(summary, title=f"Plan stored in {workspace.path}"))
    for warning in summary.selection_warnings:
        click.echo(f"Warning: {warning}")
    if not summary.posts:
        click.echo("Nothing is planned: loosen the filters (see departures migrate plan --help).")
        return
    click.echo("Next: departures migrate preview (then departures migrate run)")


def summary_table(summary: PlanSummary, *, title: str) -> Table:
    """The terminal summary of a plan (plan and preview print it)."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("detail")
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(summary.tweets_by_kind.items()))
    table.add_row("tweets", str(sum(summary.tweets_by_kind.values())), kinds)
    table.add_row(
        "posts", str(summary.posts), f"{summary.split_tweets} long tweets split into threads"
    )
    table.add_row("published", str(summary.published), f"{summary.pending} still to publish")
    table.add_row(
        "media",
        str(summary.images + summary.videos),
        f"{summary.images} images, {summary.videos} videos, {summary.media_bytes / 1e6:.1f} MB",
    )
    detail = ", ".join(f"{n} {k}" for k, n in sorted(summary.warnings_by_kind.items()))
    table.add_row("warnings", str(summary.warnings), detail)
    mentions = summary.bluesky_mentions + summary.x_profile_mentions
    if mentions:
        table.add_row(
            "mentions",
            str(mentions),
            f"{summary.bluesky_mentions} point to Bluesky accounts, "
            f"{summary.x_profile_mentions} link to the X profile",
        )
    skipped = ", ".join(f"{n} {k}" for k, n in sorted(summary.skipped.items()))
    if skipped:
        table.add_row("left out", str(sum(summary.skipped.values())), skipped)
    table.add_row(
        "duration",
        format_duration(summary.estimated_seconds),
        "estimated, within the write budget (5,000 points/h, 35,000/day)",
    )
    return table


# --- preview -------------------------------------------------------------------------------


@click.command("preview")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HTML file to write [default: <workspace>/preview.html].",
)
@pass_app
def preview_command(app: AppContext, out: Path | None) -> None:
    """Write an HTML page showing every planned post as it will look, with its warnings.

    Example: departures migrate preview --out preview.html
    """
    workspace = _open(app)
    console = Console(stderr=True)
    with _progress(console) as bar:
        task = bar.add_task("Thumbnails", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = write_preview(workspace, out, progress=progress)
    Console().print(summary_table(result.summary, title="Planned migration"))
    pages = f", {result.pages} pages" if result.pages > 1 else ""
    click.echo(f"Preview: {result.path} ({result.posts} posts in {result.threads} threads{pages})")


# --- alt text ------------------------------------------------------------------------------


@click.group("alt-text")
def alt_text() -> None:
    """Write alt text for your images in a spreadsheet (the X archive has none)."""


@alt_text.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Every image and video of your tweets, not only the planned ones.",
)
@pass_app
def alt_text_export(app: AppContext, file: Path | None, everything: bool) -> None:
    """Write a CSV (tweet_id, media_file, alt, ...) to fill in [default: <workspace>/alt-text.csv].

    Example: departures migrate alt-text export alt.csv
    """
    workspace = _open(app)
    target = file or workspace.path / "alt-text.csv"
    count = export_alt_texts(workspace, target, everything=everything)
    click.echo(f"Wrote {count} media rows to {target}.")
    click.echo(f"Fill the 'alt' column, then: departures migrate alt-text import {target}")


@alt_text.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def alt_text_import(app: AppContext, file: Path) -> None:
    """Read alt texts from the CSV written by 'alt-text export' (planned posts update too).

    Example: departures migrate alt-text import alt.csv
    """
    workspace = _open(app)
    result = import_alt_texts(workspace, file)
    for warning in result.warnings:
        click.echo(f"Warning: {warning}")
    click.echo(
        f"Alt texts: {result.updated} set, {result.cleared} removed, {result.unchanged} "
        f"unchanged; {result.plan_rows_updated} planned posts updated."
    )
