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
from datetime import date
from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from departures.audience.store import mention_dids
from departures.commands.context import AppContext, pass_app
from departures.commands.options import (
    day,
    next_step,
    plain_time,
    plural,
    progress_bar,
)
from departures.errors import DeparturesError, WorkspaceError, debugging
from departures.migrate.alttext import export_alt_texts, import_alt_texts
from departures.migrate.media import DEFAULT_LIMITS
from departures.migrate.plan import PlanSummary, build_plan, format_duration
from departures.migrate.preview import write_preview
from departures.migrate.select import Selection, selection_from_choices
from departures.workspace.db import Workspace
from departures.workspace.locks import task_lock

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


def _progress() -> Any:
    return progress_bar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
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
@click.option(
    "--since",
    callback=day,
    metavar="DATE",
    help="First day: DD/MM/YYYY or YYYY-MM-DD (e.g. 01/01/2019), UTC.",
)
@click.option(
    "--until",
    callback=day,
    metavar="DATE",
    help="Last day, included: DD/MM/YYYY or YYYY-MM-DD (UTC).",
)
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
@click.option(
    "--again",
    is_flag=True,
    help="Repeat the choices of the last plan (say, the rehearsal's); no other choices then.",
)
@click.option(
    "--replace",
    "replace_plan",
    is_flag=True,
    help="Store the new plan even when its choices match nothing (empties the plan).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@pass_app
def plan_command(
    app: AppContext,
    since: date | None,
    until: date | None,
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
    again: bool,
    replace_plan: bool,
    as_json: bool,
) -> None:
    """Choose the tweets to migrate and store the posts they become.

    Planning again replaces the plan, except posts already published: those stay as they
    are. Choices that match nothing keep the plan you had (unless --replace). Every plan
    records its choices: --again repeats them. Nothing is written to Bluesky.

    Example: departures migrate plan --since 01/01/2020 --min-likes 5 --footer "Archived from X"
    """
    from departures.migrate.plan import NothingPlanned

    choices: dict[str, Any] = {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "originals": originals,
        "threads": threads,
        "quotes": quotes,
        "replies": replies,
        "retweets": retweets,
        "min_likes": min_likes,
        "min_reposts": min_reposts,
        "hashtags": list(hashtags),
        "match": list(matches),
        "include": [str(i) for i in sorted(_ids(include, include_file, "--include"))],
        "exclude": [str(i) for i in sorted(_ids(exclude, exclude_file, "--exclude"))],
        "top": top,
        "skip_sensitive": skip_sensitive,
        "skip_withheld": skip_withheld,
        "footer": footer,
        "video_max_seconds": video_max_seconds,
        "video_max_mb": video_max_mb,
    }
    workspace = _open(app)
    if again:
        choices = _repeat_choices(workspace, choices)
    if choices["since"] and choices["until"] and choices["since"] > choices["until"]:
        raise DeparturesError("--since is after --until", "Swap the two dates")
    selection = _selection(choices)
    nothing: NothingPlanned | None = None
    footer = choices["footer"]
    video_max_seconds = int(choices["video_max_seconds"])
    video_max_mb = int(choices["video_max_mb"])
    # Refused at once while the desk or another command imports, plans or publishes here.
    with (
        task_lock(workspace.path, "plan", "'departures migrate plan' is planning"),
        _progress() as bar,
    ):
        task = bar.add_task("Converting tweets", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        limits = replace(
            DEFAULT_LIMITS,
            video_max_bytes=video_max_mb * 1_000_000,
            video_max_duration_ms=video_max_seconds * 1000,
        )
        # Accounts found on Bluesky (directory, accepted matches) are mentioned there.
        try:
            summary = build_plan(
                workspace,
                selection,
                footer=footer,
                mention_dids=mention_dids(workspace),
                limits=limits,
                progress=progress,
                choices=choices,
                replace=replace_plan,
            )
        except NothingPlanned as kept:
            if as_json:
                raise
            nothing = kept
    if nothing is not None:
        click.echo(
            "Nothing is planned: loosen the filters (see departures migrate plan --help). "
            f"{nothing.message[0].upper()}{nothing.message[1:]}; --replace would empty it."
        )
        return
    if as_json:
        click.echo(orjson.dumps(summary.to_dict()).decode())
        return
    Console().print(summary_table(summary, title=f"Plan stored in {workspace.path}"))
    for warning in summary.selection_warnings:
        click.echo(f"Warning: {warning}")
    if choices["top"] is not None:
        chosen = plural(
            summary.standalone_posts + summary.threads, "post or thread", "posts and threads"
        )
        tweets = plural(sum(summary.tweets_by_kind.values()), "tweet")
        click.echo(
            f"--top {choices['top']}: the {chosen} with the most likes and reposts "
            f"({tweets}, as a thread keeps all its tweets)."
        )
    if not summary.posts:
        click.echo("Nothing is planned: loosen the filters (see departures migrate plan --help).")
        return
    click.echo("These choices are recorded: 'departures migrate plan --again' repeats them.")
    next_step("departures migrate preview (then departures migrate run)")


# Options that choose what is planned: with --again none of them may be given.
_CHOICE_OPTIONS = {
    "since": "--since",
    "until": "--until",
    "originals": "--originals",
    "threads": "--threads",
    "quotes": "--quotes",
    "replies": "--replies",
    "retweets": "--retweets",
    "min_likes": "--min-likes",
    "min_reposts": "--min-reposts",
    "hashtags": "--hashtag",
    "matches": "--match",
    "include": "--include",
    "exclude": "--exclude",
    "include_file": "--include-file",
    "exclude_file": "--exclude-file",
    "top": "--top",
    "skip_sensitive": "--skip-sensitive",
    "skip_withheld": "--skip-withheld",
    "footer": "--footer",
    "video_max_seconds": "--video-max-seconds",
    "video_max_mb": "--video-max-mb",
}


def _repeat_choices(workspace: Workspace, given: dict[str, Any]) -> dict[str, Any]:
    """The choices of the last plan, for ``--again`` (an error if others are given too)."""
    from departures.migrate.plan import last_choices

    ctx = click.get_current_context()
    typed = [
        flag
        for name, flag in _CHOICE_OPTIONS.items()
        if ctx.get_parameter_source(name)
        in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    ]
    if typed:
        raise click.UsageError(
            f"--again repeats the last plan's choices; leave out {', '.join(typed)} "
            "or leave out --again"
        )
    last = last_choices(workspace.conn)
    if last is None:
        raise WorkspaceError(
            f"No plan of {workspace.path} has recorded its choices yet",
            "Run 'departures migrate plan' with your choices first",
        )
    when, stored = last
    choices = {**given, **stored}
    click.echo(
        f"Repeating the choices of the plan of {plain_time(when)}: "
        f"{describe_choices(choices) or '(the defaults)'}",
        err=True,
    )
    return choices


def describe_choices(choices: dict[str, Any]) -> str:
    """The choices as options of ``departures migrate plan`` (only those not by default)."""
    words: list[str] = []
    for name, flag in (("since", "--since"), ("until", "--until")):
        if choices.get(name):
            words.append(f"{flag} {choices[name]}")
    defaults = {"originals": True, "threads": True, "quotes": True, "replies": False,
                "retweets": False}  # fmt: skip
    for name, default in defaults.items():
        if bool(choices.get(name, default)) != default:
            words.append(f"--{'' if choices.get(name) else 'no-'}{name}")
    for name, flag in (("min_likes", "--min-likes"), ("min_reposts", "--min-reposts"),
                       ("top", "--top")):  # fmt: skip
        if choices.get(name):
            words.append(f"{flag} {choices[name]}")
    for name, flag in (("hashtags", "--hashtag"), ("match", "--match"),
                       ("include", "--include"), ("exclude", "--exclude")):  # fmt: skip
        words.extend(f"{flag} {value}" for value in choices.get(name) or ())
    if choices.get("skip_sensitive"):
        words.append("--skip-sensitive")
    if choices.get("skip_withheld") is False:
        words.append("--keep-withheld")
    if choices.get("footer"):
        words.append(f"--footer {choices['footer']!r}")
    return " ".join(words)


def _selection(choices: dict[str, Any]) -> Selection:
    return selection_from_choices(choices)


_KIND_WORDS = {
    "original": ("original", "originals"),
    "quote": ("quote", "quotes"),
    "thread": ("tweet further down a thread", "tweets further down threads"),
    "reply": ("reply to others", "replies to others"),
    "retweet": ("retweet", "retweets"),
}

# Bluesky's write limit as the README puts it (5,000 points an hour and 35,000 a day at 3
# points a post); the points stay in DEPARTURES_DEBUG output.
BUDGET_WORDS = "at most about 1,600 posts an hour and 11,600 a day, Bluesky's limit"


def summary_table(summary: PlanSummary, *, title: str) -> Table:
    """The terminal summary of a plan (plan and preview print it)."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("detail")
    kinds = ", ".join(
        plural(n, *_KIND_WORDS.get(k, (k, k))) for k, n in sorted(summary.tweets_by_kind.items())
    )
    table.add_row("tweets", str(sum(summary.tweets_by_kind.values())), kinds)
    table.add_row(
        "posts",
        str(summary.posts),
        f"{plural(summary.standalone_posts, 'stand-alone post')}, "
        f"{plural(summary.threads, 'thread')}; "
        f"{plural(summary.split_tweets, 'long tweet')} split into a thread",
    )
    table.add_row("published", str(summary.published), f"{summary.pending:,} still to publish")
    table.add_row(
        "media",
        str(summary.images + summary.videos),
        f"{plural(summary.images, 'image')}, {plural(summary.videos, 'video')}, "
        f"{summary.media_bytes / 1e6:.1f} MB",
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
    if summary.pending == 0:
        table.add_row("duration", "0", "nothing left to publish")
    else:
        table.add_row(
            "duration",
            _publishing_time(summary.estimated_seconds),
            f"estimated, {BUDGET_WORDS}",
        )
    if debugging():
        table.add_row("budget", "", "5,000 points an hour, 35,000 a day; a post costs 3")
    return table


def _publishing_time(seconds: float) -> str:
    # A plan that fits the first batch would read "0 s": it takes a moment, not nothing.
    # (Short: a wide count column would squeeze the details of the table into two lines.)
    return "< 1 min" if seconds < 60 else format_duration(seconds)


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
    with _progress() as bar:
        task = bar.add_task("Making thumbnails", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = write_preview(workspace, out, progress=progress)
    Console().print(summary_table(result.summary, title="Planned migration"))
    summary = result.summary
    pages = f", {result.pages} pages" if result.pages > 1 else ""
    click.echo(
        f"Preview: {result.path} ({plural(result.posts, 'post')}: "
        f"{plural(summary.standalone_posts, 'stand-alone post')} and "
        f"{plural(summary.threads, 'thread')}{pages})"
    )
    next_step(
        "open the page in your browser; then departures migrate alt-text export "
        "(describe your images) or departures migrate run (publish)"
    )


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
@click.option(
    "--separator",
    type=click.Choice(["comma", "semicolon", "tab"]),
    default=None,
    help="Between columns [default: as Excel expects in your language: semicolon for "
    "Dutch, French or German, comma otherwise].",
)
@pass_app
def alt_text_export(
    app: AppContext, file: Path | None, everything: bool, separator: str | None
) -> None:
    """Write a CSV (tweet_id, media_file, alt, ...) to fill in [default: <workspace>/alt-text.csv].

    Example: departures migrate alt-text export alt.csv --separator semicolon
    """
    from departures.migrate.alttext import default_separator

    workspace = _open(app)
    target = file or workspace.path / "alt-text.csv"
    chosen = _SEPARATORS[separator] if separator else default_separator()
    count = export_alt_texts(workspace, target, everything=everything, separator=chosen)
    name = {",": "commas", ";": "semicolons", "\t": "tabs"}[chosen]
    click.echo(f"Wrote {plural(count, 'image or video', 'images and videos')} to {target} "
               f"(columns separated by {name}).")  # fmt: skip
    next_step(f"fill the 'alt' column, then: departures migrate alt-text import {target}")


_SEPARATORS = {"comma": ",", "semicolon": ";", "tab": "\t"}


@alt_text.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def alt_text_import(app: AppContext, file: Path) -> None:
    """Read alt texts from the CSV written by 'alt-text export' (planned posts update too).

    Example: departures migrate alt-text import alt.csv
    """
    workspace = _open(app)
    with task_lock(workspace.path, "plan", "'departures migrate alt-text import' is running"):
        result = import_alt_texts(workspace, file)
    for warning in result.warnings:
        click.echo(f"Warning: {warning}")
    click.echo(
        f"Alt texts: {result.updated} set, {result.cleared} removed, {result.unchanged} "
        f"unchanged; {plural(result.plan_rows_updated, 'planned post')} updated."
    )
    next_step("departures migrate preview (check the images and their descriptions)")
