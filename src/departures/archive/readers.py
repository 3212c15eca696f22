"""The readers: what each kind of data file becomes in the workspace.

Tweets files (``tweets``, ``deleted-tweets``, ``community-tweet``) become rows through
:func:`transform_items` (one :func:`~departures.archive.tweets.tweet_rows` per item), in
batches that the import stores here or that a worker stores in its own database (see
``engine.py``). Every other file kind has one small function in :data:`READERS`, keyed by
the kind the file plan gives it (``plan.READ_STEMS``): it takes a chunk of the file's items
and writes them. Adding a kind of file is a name in ``READ_STEMS`` and a function here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

from departures.archive.notes import parse_note
from departures.archive.plan import DataFile, stem_and_part
from departures.archive.report import ImportReport
from departures.archive.tweets import MEDIA_COLUMNS, TWEET_COLUMNS, TweetContext, tweet_rows
from departures.archive.ytd import unwrap

CHUNK = 5000  # tweets per batch handed to the sink


# -- tweets files ------------------------------------------------------------------------


@dataclass(frozen=True)
class TweetFile:
    """How one kind of tweets file is read."""

    media_dirs: tuple[str, ...]  # its media folders under data/, best first
    is_deleted: bool
    is_community: bool
    count_key: str  # the report's count


TWEET_FILES: dict[str, TweetFile] = {
    "tweets": TweetFile(("tweets_media", "tweet_media"), False, False, "tweets"),
    "deleted_tweets": TweetFile(
        ("deleted_tweets_media", "tweets_media", "tweet_media"), True, False, "deleted_tweets"
    ),
    "community_tweets": TweetFile(
        ("community_tweet_media", "tweets_media", "tweet_media"), False, True, "community_tweets"
    ),
}


def tweet_context(
    data_file: DataFile, root: str, account_id: int | None, media_files: Container[str]
) -> TweetContext:
    """What :func:`tweet_rows` needs to know about the file its tweets come from."""
    kind = TWEET_FILES[data_file.kind]
    return TweetContext(
        account_id=account_id,
        source_file=data_file.member,
        media_dirs=tuple(f"{root}data/{folder}/" for folder in kind.media_dirs),
        media_files=media_files,
        is_deleted=kind.is_deleted,
        is_community=kind.is_community,
    )


Batch = tuple[
    list[tuple[Any, ...]],  # tweet rows
    list[tuple[Any, ...]],  # media rows
    list[tuple[int, str, int, str]],  # screen-name sightings
    list[tuple[str, int]],  # missing media files (path, tweet id)
]


def transform_items(
    items: list[Any], ctx: TweetContext, sink: Callable[[Batch], None]
) -> tuple[int, int]:
    """Turn a part's tweet items into rows, handing them to ``sink`` in chunks.

    The items are released as they are read, so a part's objects and its rows are never
    all in memory at once. Returns (tweets read, entries skipped).
    """
    tweets: list[tuple[Any, ...]] = []
    media: list[tuple[Any, ...]] = []
    sightings: list[tuple[int, str, int, str]] = []
    missing: list[tuple[str, int]] = []
    skipped = 0
    read = 0
    # Items are released one by one (as _items does), inline: this loop runs a million times.
    for index in range(len(items)):
        item = items[index]
        items[index] = None
        tw = item.get("tweet", item) if type(item) is dict else None
        rows = None
        if isinstance(tw, dict):
            try:
                rows = tweet_rows(tw, ctx)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError):
                rows = None
        if rows is None:
            skipped += 1
            continue
        tweets.append(rows.tweet)
        if rows.media:
            media.extend(rows.media)
            missing.extend((path, rows.tweet[0]) for path in rows.media_missing)
        if rows.sightings:
            sightings.extend(rows.sightings)
        read += 1
        if len(tweets) >= CHUNK:
            sink(_sorted_batch(tweets, media, sightings, missing))
            tweets, media, sightings, missing = [], [], [], []
    if tweets or missing:
        sink(_sorted_batch(tweets, media, sightings, missing))
    return read, skipped


_first = itemgetter(0)
_first_two = itemgetter(0, 1)


def _sorted_batch(
    tweets: list[tuple[Any, ...]],
    media: list[tuple[Any, ...]],
    sightings: list[tuple[int, str, int, str]],
    missing: list[tuple[str, int]],
) -> Batch:
    """The rows in key order (in the worker, when there are workers).

    Archives list tweets newest first; SQLite fills its B-tree pages better (and inserts
    about 20% faster) when keys arrive in ascending order; the sightings table is WITHOUT
    ROWID, so there too neighbouring inserts then share pages.
    """
    tweets.sort(key=_first)
    media.sort(key=_first_two)
    sightings.sort(key=_first_two)
    return tweets, media, sightings, missing


def _upsert_sql(table: str, columns: tuple[str, ...], key: tuple[str, ...], extra: str = "") -> str:
    marks = ", ".join("?" for _ in columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) "
        f"ON CONFLICT({', '.join(key)}) DO UPDATE SET {updates}{extra}"
    )


TWEET_UPSERT = _upsert_sql("tweets", TWEET_COLUMNS, ("id",), ", is_long_post = 0, note_id = NULL")
MEDIA_UPSERT = _upsert_sql("media", MEDIA_COLUMNS, ("tweet_id", "position"))
# Into a table that was empty when the import began, a repeated key can only come from this
# import, and replacing that row stores exactly what the upsert would (every column given,
# the others at their defaults): the plain statement is about 15% cheaper per row.
TWEET_REPLACE = (
    f"INSERT OR REPLACE INTO tweets ({', '.join(TWEET_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in TWEET_COLUMNS)})"
)
MEDIA_REPLACE = (
    f"INSERT OR REPLACE INTO media ({', '.join(MEDIA_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in MEDIA_COLUMNS)})"
)
SIGHTING_INSERT = "INSERT OR IGNORE INTO screen_name_sightings VALUES (?, ?, ?, ?)"


def store_batch(conn: Any, batch: Batch, *, fresh: bool, fresh_media: bool) -> None:
    """Write a batch's tweets, media and sightings (its missing media are the caller's).

    ``fresh``/``fresh_media``: the table was empty when the import began (see TWEET_REPLACE).
    """
    tweets, media, sightings, _ = batch
    if tweets:
        conn.executemany(TWEET_REPLACE if fresh else TWEET_UPSERT, tweets)
    if media:
        conn.executemany(MEDIA_REPLACE if fresh_media else MEDIA_UPSERT, media)
    if sightings:
        conn.executemany(SIGHTING_INSERT, sightings)


# -- the other files: one reader per kind -------------------------------------------------


@dataclass
class ReadTarget:
    """Where a reader writes: the import's connection and report, and the file it reads."""

    conn: sqlite3.Connection
    report: ImportReport
    account_id: int | None
    file: DataFile


Reader = Callable[[list[Any], ReadTarget], None]


def _items(data: list[Any]) -> Iterator[Any]:
    """Yield and release the items one by one, so a chunk's objects are freed as we go."""
    for index in range(len(data)):
        item = data[index]
        data[index] = None
        yield item


def read_notes(items: list[Any], to: ReadTarget) -> None:
    """Long posts (``note-tweet.js``): their full text, linked to tweets afterwards."""
    rows = []
    for item in _items(items):
        inner = unwrap(item, "noteTweet")
        note = parse_note(inner) if inner is not None else None
        if note is None:
            continue
        rows.append(
            (
                note.note_id,
                note.created_at,
                note.created_ms,
                note.text,
                orjson.dumps(note.entities).decode(),
            )
        )
    to.conn.executemany(
        "INSERT INTO notes (note_id, created_at, created_ms, text, entities) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT(note_id) DO UPDATE SET "
        "created_at = excluded.created_at, created_ms = excluded.created_ms, "
        "text = excluded.text, entities = excluded.entities",
        rows,
    )
    to.report.add("notes", len(rows))


def read_profile(items: list[Any], to: ReadTarget) -> None:
    """The profile: bio, website, location, pictures, onto the account's row."""
    for item in items:
        profile = unwrap(item, "profile")
        if profile is None or to.account_id is None:
            continue
        description = profile.get("description") or {}
        to.conn.execute(
            "UPDATE account SET bio = ?, website = ?, location = ?, avatar_media_url = ?, "
            "header_media_url = ? WHERE id = ?",
            (
                description.get("bio"),
                description.get("website"),
                description.get("location"),
                profile.get("avatarMediaUrl"),
                profile.get("headerMediaUrl"),
                to.account_id,
            ),
        )


def _relations(key: str) -> Reader:
    """A reader of account ids and links (followers, following, blocks, mutes)."""

    def read(items: list[Any], to: ReadTarget) -> None:
        table = to.file.kind
        rows = []
        for item in _items(items):
            inner = unwrap(item, key)
            account_id = inner.get("accountId") if inner else None
            if account_id is None:
                continue
            try:
                rows.append((int(account_id), inner.get("userLink") if inner else None))
            except (TypeError, ValueError):
                continue
        to.conn.executemany(
            f"INSERT INTO {table} (account_id, user_link) VALUES (?, ?) "
            "ON CONFLICT(account_id) DO UPDATE SET user_link = excluded.user_link",
            rows,
        )
        to.report.add(table, len(rows))

    read.__doc__ = f"Accounts wrapped as ``{key}``: their ids and links."
    return read


def read_likes(items: list[Any], to: ReadTarget) -> None:
    """Liked tweets: id, the text X kept, the link."""
    rows = []
    for item in _items(items):
        like = unwrap(item, "like")
        if like is None:
            continue
        try:
            rows.append((int(like["tweetId"]), like.get("fullText"), like.get("expandedUrl")))
        except (KeyError, TypeError, ValueError):
            continue
    to.conn.executemany(
        "INSERT INTO likes (tweet_id, full_text, expanded_url) VALUES (?, ?, ?) "
        "ON CONFLICT(tweet_id) DO UPDATE SET full_text = excluded.full_text, "
        "expanded_url = excluded.expanded_url",
        rows,
    )
    to.report.add("likes", len(rows))


def read_lists(items: list[Any], to: ReadTarget) -> None:
    """Lists created, joined or followed (the file's name says which): their URLs."""
    relation = stem_and_part(to.file.member)[0].removeprefix("lists-")
    rows = []
    for item in items:
        info = unwrap(item, "userListInfo")
        if info is not None and isinstance(info.get("url"), str):
            rows.append((relation, info["url"]))
    to.conn.executemany("INSERT OR IGNORE INTO lists (relation, url) VALUES (?, ?)", rows)
    to.report.add("lists", len(rows))


def read_screen_name_changes(items: list[Any], to: ReadTarget) -> None:
    """The account's former screen names, and when they changed."""
    rows = []
    for item in items:
        outer = unwrap(item, "screenNameChange")
        change = (outer or {}).get("screenNameChange")
        if not isinstance(change, dict):
            continue
        account_id = (outer or {}).get("accountId")
        rows.append(
            (
                int(account_id) if account_id else to.account_id,
                change.get("changedAt") or "",
                change.get("changedFrom") or "",
                change.get("changedTo") or "",
            )
        )
    to.conn.executemany("INSERT OR IGNORE INTO screen_name_changes VALUES (?, ?, ?, ?)", rows)
    to.report.add("screen_name_changes", len(rows))


# Every file kind but the account (read before the import's transaction) and the tweets.
READERS: dict[str, Reader] = {
    "profile": read_profile,
    "notes": read_notes,
    "followers": _relations("follower"),
    "following": _relations("following"),
    "blocks": _relations("blocking"),
    "mutes": _relations("muting"),
    "likes": read_likes,
    "lists": read_lists,
    "screen_name_changes": read_screen_name_changes,
}

# Lists of relations are snapshots: a newer archive's list replaces the older one's table.
SNAPSHOT_TABLES = frozenset({"followers", "following", "blocks", "mutes", "likes"})
