"""The migration plan: selected tweets converted into rows of ``plan_posts``.

:func:`build_plan` reads the archive tables, applies the :class:`~departures.migrate.select.
Selection`, converts every chosen tweet (:mod:`departures.migrate.convert`), orders the posts
(``seq``: parents and quoted posts before the posts that need them, oldest first otherwise),
gives each a unique record key, and replaces the unpublished part of the plan in one
transaction. Rows of a tweet with any part already published are never touched: what exists
on Bluesky stays exactly as the publisher recorded it, and a new split would break its thread.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from departures.bluesky.budget import WriteBudget
from departures.errors import WorkspaceError
from departures.migrate.convert import (
    ConvertOptions,
    MediaRow,
    PostDraft,
    TweetRow,
    convert_tweet,
)
from departures.migrate.media import DEFAULT_LIMITS, MediaLimits, archive_member_sizes
from departures.migrate.rkeys import rkey_for
from departures.migrate.select import Selected, Selection, select_tweets
from departures.workspace.db import Workspace

__all__ = [
    "NothingPlanned",
    "PlanSummary",
    "SelectionCounts",
    "build_plan",
    "count_selection",
    "format_duration",
    "last_choices",
    "load_alt_texts",
    "load_tweets",
    "plan_from_choices",
    "plan_summary",
    "published_keys",
]

Progress = Callable[[int, int], None]
PLAN_OPTIONS_META = "migrate_plan_options"


class NothingPlanned(WorkspaceError):
    """New choices match nothing to publish: the plan that has posts to publish is kept."""

    def __init__(self, pending: int) -> None:
        super().__init__(
            f"These choices match no tweet to publish, so the stored plan of {pending:,} "
            f"{'post' if pending == 1 else 'posts'} to publish stays as it was",
            "Check the choices (a date like --since 2019-01-01?), or pass --replace to "
            "empty the plan",
        )
        self.pending = pending


def last_choices(conn: sqlite3.Connection) -> tuple[str, dict[str, Any]] | None:
    """(when, choices) of the last plan stored with its choices, or None."""
    row = conn.execute(
        "SELECT planned_at, choices FROM plan_choices ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return None if row is None else (str(row[0]), dict(orjson.loads(row[1])))


@dataclass
class PlanSummary:
    """What a plan holds, for the terminal and the preview."""

    tweets_by_kind: Counter[str] = field(default_factory=Counter)
    posts: int = 0
    published: int = 0
    split_tweets: int = 0
    images: int = 0
    videos: int = 0
    media_bytes: int = 0
    warnings: int = 0
    warnings_by_kind: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    selection_warnings: list[str] = field(default_factory=list)
    estimated_seconds: float = 0.0
    #: Mentions that became Bluesky mentions (the account was found on Bluesky), and those
    #: still linking to the X profile.
    bluesky_mentions: int = 0
    x_profile_mentions: int = 0
    #: Posts that stand alone, and threads (a self-thread, or a long tweet split in parts).
    standalone_posts: int = 0
    threads: int = 0

    @property
    def pending(self) -> int:
        """Posts still to publish."""
        return self.posts - self.published

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``migrate plan --json``)."""
        return {
            "tweets_by_kind": dict(self.tweets_by_kind),
            "tweets": sum(self.tweets_by_kind.values()),
            "posts": self.posts,
            "published": self.published,
            "pending": self.pending,
            "split_tweets": self.split_tweets,
            "images": self.images,
            "videos": self.videos,
            "media_bytes": self.media_bytes,
            "warnings": self.warnings,
            "warnings_by_kind": dict(self.warnings_by_kind),
            "skipped": dict(self.skipped),
            "selection_warnings": self.selection_warnings,
            "estimated_seconds": self.estimated_seconds,
            "bluesky_mentions": self.bluesky_mentions,
            "x_profile_mentions": self.x_profile_mentions,
            "standalone_posts": self.standalone_posts,
            "threads": self.threads,
        }


def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?", (name,)
    ).fetchone()
    return row is not None


def published_keys(conn: sqlite3.Connection) -> set[str]:
    """Plan keys the publisher recorded as existing on Bluesky (none before it ever ran).

    The same query as ``departures.workspace.journal.published_keys``, asked here directly so
    planning does not load the publisher's network stack.
    """
    if not _table_exists(conn, "published"):
        return set()
    return {
        str(row[0]) for row in conn.execute("SELECT key FROM published WHERE deleted_at IS NULL")
    }


def load_alt_texts(conn: sqlite3.Connection) -> dict[tuple[int, int], str]:
    """The user's alt texts by (tweet id, media position)."""
    return {
        (int(t), int(p)): str(a)
        for t, p, a in conn.execute("SELECT tweet_id, position, alt FROM alt_texts")
    }


def load_tweets(workspace: Workspace) -> list[TweetRow]:
    """Every tweet of the archive with its media (file sizes looked up in the archive)."""
    conn = workspace.conn
    sizes = archive_member_sizes(workspace)
    media: dict[int, list[MediaRow]] = {}
    for row in conn.execute(
        "SELECT m.tweet_id, m.position, m.type, m.file_path, m.missing, m.width, m.height, "
        "m.aspect_w, m.aspect_h, m.duration_ms, m.expanded_url, "
        "CASE WHEN m.source_tweet_id IS NOT NULL AND m.source_tweet_id != m.tweet_id AND "
        "NOT EXISTS (SELECT 1 FROM tweets s WHERE s.id = m.source_tweet_id) "
        "THEN m.source_tweet_id END "
        "FROM media m ORDER BY m.tweet_id, m.position"
    ):
        media.setdefault(int(row[0]), []).append(
            MediaRow(
                position=int(row[1]),
                type=str(row[2]),
                file_path=row[3],
                missing=bool(row[4]),
                width=row[5],
                height=row[6],
                aspect_w=row[7],
                aspect_h=row[8],
                duration_ms=row[9],
                expanded_url=row[10],
                size=sizes.get(row[3]) if row[3] else None,
                foreign_source_id=row[11],
            )
        )
    tweets: list[TweetRow] = []
    for row in conn.execute(
        "SELECT id, text, entities, kind, created_at, lang, quote_of, quote_url, "
        "thread_root_id, thread_parent_id, reply_to_screen_name, retweet_of_screen_name, "
        "possibly_sensitive, withheld, is_deleted, is_community, favorite_count, "
        "retweet_count FROM tweets"
    ):
        tweets.append(
            TweetRow(
                id=int(row[0]),
                text=str(row[1]),
                entities=orjson.loads(row[2]) if row[2] else {},
                kind=str(row[3]),
                created_at=row[4],
                lang=row[5],
                quote_of=row[6],
                quote_url=row[7],
                thread_root_id=row[8],
                thread_parent_id=row[9],
                reply_to_screen_name=row[10],
                retweet_of_screen_name=row[11],
                possibly_sensitive=bool(row[12]),
                withheld=bool(row[13]),
                is_deleted=bool(row[14]),
                is_community=bool(row[15]),
                favorite_count=int(row[16] or 0),
                retweet_count=int(row[17] or 0),
                media=tuple(media.get(int(row[0]), ())),
            )
        )
    return tweets


@dataclass
class _Kept:
    """Plan rows of tweets with a published part: never re-planned."""

    rows: dict[str, dict[str, Any]]
    tweets: dict[int, list[dict[str, Any]]]

    def last_key(self, tweet_id: int) -> str:
        parts = sorted(self.tweets[tweet_id], key=lambda r: int(r["part"]))
        return str(parts[-1]["key"])

    def root_of(self, tweet_id: int) -> str:
        first = min(self.tweets[tweet_id], key=lambda r: int(r["part"]))
        return str(first["root_key"] or first["key"])


def _kept_rows(conn: sqlite3.Connection, published: set[str]) -> _Kept:
    published_tweets = {int(key.split(":", 1)[0]) for key in published if ":" in key}
    rows: dict[str, dict[str, Any]] = {}
    tweets: dict[int, list[dict[str, Any]]] = {}
    cursor = conn.execute("SELECT * FROM plan_posts")
    names = [d[0] for d in cursor.description]
    for values in cursor:
        row = dict(zip(names, values, strict=True))
        if int(row["tweet_id"]) in published_tweets:
            rows[str(row["key"])] = row
            tweets.setdefault(int(row["tweet_id"]), []).append(row)
    return _Kept(rows, tweets)


def build_plan(
    workspace: Workspace,
    selection: Selection,
    *,
    footer: str | None = None,
    mention_dids: Mapping[str, str] | None = None,
    limits: MediaLimits = DEFAULT_LIMITS,
    progress: Progress | None = None,
    budget: WriteBudget | None = None,
    choices: Mapping[str, Any] | None = None,
    replace: bool = True,
) -> PlanSummary:
    """Plan the migration of the tweets ``selection`` picks; return the plan's summary.

    ``mention_dids`` maps X account ids or lower-case screen names to Bluesky DIDs (the
    audience part fills it); mentions without one link to the X profile. ``choices`` (the
    options as the user gave them) are recorded with the plan in ``plan_choices``. Without
    ``replace``, choices that leave nothing to publish raise :class:`NothingPlanned` and
    keep a plan that still has posts to publish.
    """
    conn = workspace.conn
    tweets = load_tweets(workspace)
    by_id = {t.id: t for t in tweets}
    published = published_keys(conn)
    kept = _kept_rows(conn, published)
    published_tweets = set(kept.tweets)
    selected = select_tweets(tweets, selection, published=published_tweets)
    options = ConvertOptions(
        username=_username(workspace),
        footer=footer,
        mention_dids=dict(mention_dids or {}),
        alt_texts=load_alt_texts(conn),
        limits=limits,
    )
    order = _publish_order(selected, by_id, published_tweets)
    drafts = _convert_all(order, selected, by_id, kept, options, progress, selected.skipped)
    planned_at = datetime.now(UTC).isoformat(timespec="seconds")
    with workspace.transaction():
        # The write lock is ours now: nothing can be published until we commit. If something
        # was published while we converted, our view of what to keep is stale.
        if published_keys(conn) != published:
            raise WorkspaceError(
                "Posts were published while the plan was being made",
                "Stop 'departures migrate run' before planning again",
            )
        if not drafts and not replace:
            pending = conn.execute(
                "SELECT COUNT(*) FROM plan_posts WHERE tweet_id NOT IN "
                "(SELECT value FROM json_each(?))",
                (orjson.dumps(sorted(published_tweets)).decode(),),
            ).fetchone()[0]
            if pending:
                raise NothingPlanned(pending)
        conn.execute(
            "DELETE FROM plan_posts WHERE tweet_id NOT IN (SELECT value FROM json_each(?))",
            (orjson.dumps(sorted(published_tweets)).decode(),),
        )
        _insert(conn, drafts, kept, planned_at)
        workspace.set_meta(
            PLAN_OPTIONS_META,
            orjson.dumps(
                {
                    "footer": footer,
                    "planned_at": planned_at,
                    "skipped": dict(selected.skipped),
                    "warnings": selected.warnings,
                }
            ).decode(),
        )
        if choices is not None:
            conn.execute(
                "INSERT INTO plan_choices (planned_at, choices, posts) VALUES (?, ?, "
                "(SELECT COUNT(*) FROM plan_posts))",
                (planned_at, orjson.dumps(dict(choices)).decode()),
            )
    summary = plan_summary(workspace, budget=budget)
    summary.skipped = selected.skipped
    summary.selection_warnings = selected.warnings
    return summary


def _username(workspace: Workspace) -> str:
    row = workspace.conn.execute("SELECT username FROM account LIMIT 1").fetchone()
    return str(row[0]) if row and row[0] else "i"


def _publish_order(
    selected: Selected, by_id: Mapping[int, TweetRow], published: set[int]
) -> list[tuple[int, bool]]:
    """Tweets to convert, dependencies first: ``(tweet id, its quote is migrated)``."""
    planned = set(selected.ids)
    order: list[tuple[int, bool]] = []
    state: dict[int, int] = {}  # 1 = visiting, 2 = done

    def visit(tweet_id: int) -> None:
        # Iterative: a 1,000-tweet thread must not hit Python's recursion limit.
        stack: list[tuple[int, bool]] = [(tweet_id, False)]
        while stack:
            current, expanded = stack.pop()
            if state.get(current) == 2:
                continue
            if expanded:
                state[current] = 2
                order.append((current, _quote_ok(current)))
                continue
            if state.get(current) == 1:
                continue
            state[current] = 1
            stack.append((current, True))
            for dep in _deps(current):
                if dep in planned and state.get(dep) is None:
                    stack.append((dep, False))

    def _deps(tweet_id: int) -> list[int]:
        deps = []
        parent = selected.parent.get(tweet_id)
        if parent is not None:
            deps.append(parent)
        quoted = by_id[tweet_id].quote_of
        if quoted is not None and quoted != tweet_id:
            deps.append(quoted)
        return deps

    def _quote_ok(tweet_id: int) -> bool:
        quoted = by_id[tweet_id].quote_of
        if quoted is None or quoted == tweet_id:
            return False
        # Done before this one (a cycle cannot happen with real ids, but never trust that).
        return quoted in published or state.get(quoted) == 2

    for tweet_id in selected.ids:
        if tweet_id not in published:
            visit(tweet_id)
    return [(t, q) for t, q in order if t not in published]


def _convert_all(
    order: list[tuple[int, bool]],
    selected: Selected,
    by_id: Mapping[int, TweetRow],
    kept: _Kept,
    options: ConvertOptions,
    progress: Progress | None,
    skipped: Counter[str],
) -> list[PostDraft]:
    has_child = {p for p in selected.parent.values() if p is not None}
    last_key: dict[int, str] = {}
    root_key: dict[int, str] = {}
    drafts: list[PostDraft] = []
    for done, (tweet_id, quote_ok) in enumerate(order, 1):
        tweet = by_id[tweet_id]
        parent = selected.parent.get(tweet_id)
        parent_key = root = None
        if parent is not None:
            if parent in kept.tweets:
                parent_key, root = kept.last_key(parent), kept.root_of(parent)
            elif parent in last_key:
                parent_key, root = last_key[parent], root_key[parent]
        quoted = tweet.quote_of
        # The quoted tweet was converted before this one (or is published) and has a post.
        quote_ok = quote_ok and quoted is not None and (quoted in kept.tweets or quoted in last_key)
        parts = convert_tweet(
            tweet,
            options,
            kind=selected.kind.get(tweet_id),
            root_key=root,
            parent_key=parent_key,
            quote_migrated=quote_ok,
            with_footer=tweet_id not in has_child,
        )
        if not parts:
            skipped["nothing left to publish"] += 1
            if parent_key is not None and root is not None:
                # Its self-replies hang on its parent instead.
                last_key[tweet_id], root_key[tweet_id] = parent_key, root
        else:
            last_key[tweet_id] = parts[-1].key
            root_key[tweet_id] = root or parts[0].key
        drafts.extend(parts)
        if progress is not None and (done % 200 == 0 or done == len(order)):
            progress(done, len(order))
    return drafts


def _insert(
    conn: sqlite3.Connection, drafts: list[PostDraft], kept: _Kept, planned_at: str
) -> None:
    used = {str(row["rkey"]) for row in kept.rows.values()}
    seq = max((int(row["seq"]) for row in kept.rows.values()), default=0)
    rows = []
    index = 0
    while index < len(drafts):
        tweet_id = drafts[index].tweet_id
        group = drafts[index : index + drafts[index].parts]
        salt = 0
        while True:
            created = group[0].record.get("createdAt")
            rkeys = [rkey_for(tweet_id, d.part, created, salt) for d in group]
            if not used.intersection(rkeys) and len(set(rkeys)) == len(rkeys):
                break
            salt += 1
        used.update(rkeys)
        for draft, rkey in zip(group, rkeys, strict=True):
            seq += 1
            rows.append(
                (
                    draft.key,
                    tweet_id,
                    draft.part,
                    draft.parts,
                    seq,
                    rkey,
                    draft.root_key,
                    draft.parent_key,
                    draft.quote_key,
                    orjson.dumps(draft.record).decode(),
                    orjson.dumps(draft.media).decode(),
                    orjson.dumps(draft.warnings).decode(),
                    planned_at,
                    draft.kind,
                )
            )
        index += len(group)
    conn.executemany(
        "INSERT INTO plan_posts (key, tweet_id, part, parts, seq, rkey, root_key, parent_key, "
        "quote_key, record, media, warnings, planned_at, kind) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def plan_summary(workspace: Workspace, *, budget: WriteBudget | None = None) -> PlanSummary:
    """Counts of the stored plan and the time the write budget needs for what is pending."""
    conn = workspace.conn
    published = published_keys(conn)
    summary = PlanSummary()
    thread_sizes: Counter[str] = Counter()
    for key, part, parts, kind, media, warnings, record, root_key in conn.execute(
        "SELECT key, part, parts, kind, media, warnings, record, root_key FROM plan_posts"
    ):
        summary.posts += 1
        thread_sizes[str(root_key or key)] += 1
        _count_mentions(summary, orjson.loads(record))
        if key in published:
            summary.published += 1
        if part == 0:
            summary.tweets_by_kind[str(kind)] += 1
            if parts > 1:
                summary.split_tweets += 1
        for item in orjson.loads(media):
            if item.get("kind") == "video":
                summary.videos += 1
            else:
                summary.images += 1
            summary.media_bytes += int(item.get("size") or 0)
        for warning in orjson.loads(warnings):
            summary.warnings += 1
            summary.warnings_by_kind[warning_kind(str(warning))] += 1
    summary.threads = sum(1 for size in thread_sizes.values() if size > 1)
    summary.standalone_posts = len(thread_sizes) - summary.threads
    summary.estimated_seconds = (budget or WriteBudget()).estimate_seconds(
        n_creates=summary.pending
    )
    return summary


_MENTION = "app.bsky.richtext.facet#mention"
_LINK = "app.bsky.richtext.facet#link"


def _count_mentions(summary: PlanSummary, record: Mapping[str, Any]) -> None:
    """Add a post's mentions: Bluesky mention facets, and ``@name`` links to an X profile."""
    text = str(record.get("text", "")).encode("utf-8")
    for facet in record.get("facets") or ():
        for feature in facet.get("features") or ():
            kind = feature.get("$type")
            if kind == _MENTION:
                summary.bluesky_mentions += 1
            elif kind == _LINK and str(feature.get("uri", "")).startswith("https://x.com/"):
                index = facet.get("index") or {}
                start = int(index.get("byteStart", 0))
                if text[start : start + 1] == b"@":
                    summary.x_profile_mentions += 1


def format_duration(seconds: float) -> str:
    """A duration as people say it: "40 s", "12 min", "3.5 h", "2.1 days"."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def warning_kind(warning: str) -> str:
    """The short label of a warning (the words before its first colon)."""
    head = warning.split(":", 1)[0]
    return head if len(head) <= 40 else "Other"


def plan_from_choices(
    workspace: Workspace,
    choices: Mapping[str, Any],
    *,
    progress: Progress | None = None,
    replace: bool = True,
) -> PlanSummary:
    """Plan with recorded choices (the options of ``migrate plan`` as data), as the desk and
    ``migrate plan --again`` do: the selection, the footer, the video limits and the
    accounts found on Bluesky for mentions. Returns the plan's summary."""
    from dataclasses import replace as changed

    from departures.audience.store import mention_dids
    from departures.migrate.select import DEFAULT_CHOICES, selection_from_choices

    merged = {**DEFAULT_CHOICES, **choices}
    limits = changed(
        DEFAULT_LIMITS,
        video_max_bytes=int(str(merged["video_max_mb"])) * 1_000_000,
        video_max_duration_ms=int(str(merged["video_max_seconds"])) * 1000,
    )
    return build_plan(
        workspace,
        selection_from_choices(merged),
        footer=str(merged["footer"]) if merged["footer"] else None,
        mention_dids=mention_dids(workspace),
        limits=limits,
        progress=progress,
        choices=merged,
        replace=replace,
    )


@dataclass(frozen=True)
class SelectionCounts:
    """What choices would plan, counted without converting anything (the desk's live
    counts): tweets by the kind they migrate as, threads, what is left out, and the
    publishing time of about one post per tweet."""

    tweets: int
    by_kind: dict[str, int]
    threads: int
    skipped: dict[str, int]
    estimated_seconds: float


def count_selection(
    tweets: list[TweetRow],
    choices: Mapping[str, Any],
    *,
    published: set[str] | None = None,
    budget: WriteBudget | None = None,
) -> SelectionCounts:
    """Apply ``choices`` to ``tweets`` (from :func:`load_tweets`) and count the result.

    Long tweets split into several posts are counted once: the estimate is a floor, the
    plan's summary has the exact figure.
    """
    from departures.migrate.select import selection_from_choices

    published_tweets = {int(key.split(":", 1)[0]) for key in published or () if ":" in key}
    selected = select_tweets(tweets, selection_from_choices(choices), published=published_tweets)
    by_kind = Counter(selected.kind.values())
    roots = {tid for tid, kind in selected.kind.items() if kind != "thread"}
    threads = len({selected.parent[tid] for tid, kind in selected.kind.items()
                   if kind == "thread" and selected.parent[tid] in roots})  # fmt: skip
    pending = len([tid for tid in selected.ids if tid not in published_tweets])
    return SelectionCounts(
        tweets=len(selected.ids),
        by_kind=dict(by_kind),
        threads=threads,
        skipped=dict(selected.skipped),
        estimated_seconds=(budget or WriteBudget()).estimate_seconds(n_creates=pending),
    )
