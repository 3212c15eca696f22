"""Importing an X archive into the workspace: one transaction, one part at a time.

:func:`import_archive` finds the data files (through ``data/manifest.js`` when there is one,
by file name otherwise), reads only the whitelisted public files (tweets, long posts, the
account and profile, followers, followings, blocks, mutes, likes, lists, screen-name
changes; never direct messages, IP logs, device tokens, e-mail changes...), and writes them
in a single transaction: on any fatal error the workspace is exactly as before.

Memory stays flat whatever the archive's size: each part is parsed, turned into rows and
inserted in chunks, then freed; notes, edits, kinds and threads are linked afterwards with
SQL passes over the database rather than Python dicts of every tweet.
"""

from __future__ import annotations

import contextlib
import gc
import mmap
import multiprocessing
import os
import re
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from departures.archive.notes import link_notes, parse_note
from departures.archive.source import ArchiveSource, MediaIndex, open_source
from departures.archive.staging import Staging, open_worker_db, store_rows, tweets_definition
from departures.archive.tweets import MEDIA_COLUMNS, TWEET_COLUMNS, TweetContext, tweet_rows
from departures.archive.ytd import (
    array_pieces,
    iter_file_chunks,
    iter_stream_chunks,
    parse_ytd,
    stream_pieces,
    unwrap,
    ytd_pieces,
)
from departures.errors import ArchiveError, DeparturesError, WorkspaceError
from departures.workspace.db import Workspace

Progress = Callable[[str, int, int | None], None]

CHUNK = 5000
# The other files (likes, long posts...) are read in smaller pieces than the tweets: the
# parent reads them while it also keeps the workers' results, and its memory stays flat.
OTHER_CHUNK_BYTES = 2 << 20
# The page cache during an import (PRAGMA cache_size; negative: KiB).
IMPORT_CACHE_KIB = -8192
INDEX_BUILD_CACHE_KIB = -4096
# Below this many bytes of tweets, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 16 << 20
WORKERS = 2
# Pieces handed to the workers and not yet stored: enough to keep both busy.
IN_FLIGHT = 4 * WORKERS + 2
PARSE_BYTES = 1 << 20  # a piece is parsed in arrays of about this size (see _transform_into)
WORKERS_ENV = "DEPARTURES_IMPORT_WORKERS"


def _use_workers() -> bool:
    """Whether spare cores make worker processes pay off (``DEPARTURES_IMPORT_WORKERS=0``: never).

    On a machine already busy with other work, a worker pool only adds contention (the rows
    travel between processes): the single-process path is then faster.
    """
    setting = os.environ.get(WORKERS_ENV, "").strip()
    if setting in ("0", "1"):
        return False
    cores = os.cpu_count() or 1
    if setting.isdigit():
        return True
    if cores < 2:
        return False
    idle = _idle_cores()
    if idle is None:
        try:
            idle = cores - os.getloadavg()[0]
        except OSError:
            idle = float(cores)
    # This process is asleep while it samples: "idle" counts its own core too.
    return idle >= 1.5


def _idle_cores(window: float = 0.15) -> float | None:
    """How many cores sat idle over the last ``window`` seconds (Linux), else None.

    The load average lags by a minute (it still counts work that just ended); a short
    sample of /proc/stat says what is free now.
    """

    def sample() -> tuple[int, int]:
        with open("/proc/stat", "rb") as stat_file:
            fields = [int(v) for v in stat_file.readline().split()[1:]]
        return sum(fields[:8]), fields[3] + fields[4]  # total, idle + iowait

    try:
        total_before, idle_before = sample()
        time.sleep(window)
        total_after, idle_after = sample()
    except (OSError, ValueError, IndexError):
        return None
    elapsed = total_after - total_before
    if elapsed <= 0:
        return None
    return (os.cpu_count() or 1) * (idle_after - idle_before) / elapsed


MAX_MISSING_MEDIA_WARNINGS = 20

# The files we read, by file-name stem (``tweets-part1.js`` -> ``tweets``). Everything else
# is never opened: that is how private files stay out of the workspace.
READ_STEMS = {
    "account": "account",
    "profile": "profile",
    "tweets": "tweets",
    "tweet": "tweets",  # before mid-2022
    "deleted-tweets": "deleted_tweets",
    "community-tweet": "community_tweets",
    "note-tweet": "notes",
    "follower": "followers",
    "following": "following",
    "block": "blocks",
    "mute": "mutes",
    "like": "likes",
    "lists-created": "lists",
    "lists-member": "lists",
    "lists-subscribed": "lists",
    "screen-name-change": "screen_name_changes",
}
# The same, keyed by the ``window.YTD.<global>`` name, for a lone file under another name.
GLOBAL_STEMS = {stem.replace("-", "_"): stem for stem in READ_STEMS}

# Files X puts in archives that we deliberately skip (private or useless for publishing).
# Listed so that an archive without a manifest does not warn about each of them.
KNOWN_SKIPPED = frozenset(
    {
        "account-creation-ip",
        "account-label",
        "account-suspension",
        "account-timezone",
        "ad-engagements",
        "ad-impressions",
        "ad-mobile-conversions-attributed",
        "ad-mobile-conversions-unattributed",
        "ad-online-conversions-attributed",
        "ad-online-conversions-unattributed",
        "ads-revenue-sharing",
        "ageinfo",
        "app",
        "article",
        "article-metadata",
        "audio-video-calls-in-dm",
        "audio-video-calls-in-dm-recipient-sessions",
        "branch-links",
        "catalog-item",
        "commerce-catalog",
        "community-note",
        "community-note-api-test-note",
        "community-note-batsignal",
        "community-note-rating",
        "community-note-tombstone",
        "community-tweet-headers",
        "connected-application",
        "contact",
        "deleted-note-tweet",
        "deleted-tweet-headers",
        "device-token",
        "direct-message-group-headers",
        "direct-message-headers",
        "direct-message-mute",
        "direct-messages",
        "direct-messages-group",
        "email-address-change",
        "expanded-profile",
        "grok-chat-item",
        "ip-audit",
        "key-registry",
        "manifest",
        "message-event",
        "mobile",
        "moment",
        "ni-devices",
        "periscope-account-information",
        "periscope-ban-information",
        "periscope-broadcast-metadata",
        "periscope-comments-made-by-user",
        "periscope-expired-broadcasts",
        "periscope-followers",
        "periscope-profile-description",
        "personalization",
        "phone-number",
        "product-drop",
        "product-set",
        "professional-data",
        "protected-history",
        "reply-prompt",
        "saved-search",
        "shop-module",
        "shopify-account",
        "smartblock",
        "spaces-metadata",
        "sso",
        "tweet-headers",
        "tweetdeck",
        "twitter-circle",
        "twitter-circle-member",
        "twitter-circle-tweet",
        "twitter-shop",
        "user-link-clicks",
        "verified",
        "verified-organization",
    }
)

# kind -> (media folders, best first; is_deleted; is_community; count key)
_TWEET_FILES: dict[str, tuple[tuple[str, ...], bool, bool, str]] = {
    "tweets": (("tweets_media", "tweet_media"), False, False, "tweets"),
    "deleted_tweets": (
        ("deleted_tweets_media", "tweets_media", "tweet_media"),
        True,
        False,
        "deleted_tweets",
    ),
    "community_tweets": (
        ("community_tweet_media", "tweets_media", "tweet_media"),
        False,
        True,
        "community_tweets",
    ),
}
_PART = re.compile(r"-part(\d+)$")
_ORDER = ["account", "profile", "tweets", "deleted_tweets", "community_tweets", "notes"]


@dataclass
class ImportWarning:
    """Something the import could not read or use, and the file it concerns."""

    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


@dataclass
class ImportReport:
    """What one import read: counts per kind of data, warnings, time taken."""

    source: str
    account_id: int | None = None
    username: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[ImportWarning] = field(default_factory=list)
    seconds: float = 0.0

    def warn(self, file: str, message: str) -> None:
        """Record a warning about ``file``."""
        self.warnings.append(ImportWarning(file, message))

    def add(self, key: str, amount: int) -> None:
        """Add ``amount`` to the count ``key``."""
        self.counts[key] = self.counts.get(key, 0) + amount


@dataclass
class DataFile:
    """One data file to read: its member name, what it holds, its part number."""

    member: str
    kind: str
    part: int
    expected: int | None = None


def _stem_and_part(member: str) -> tuple[str, int]:
    name = PurePosixPath(member).name
    stem = name[:-3] if name.endswith(".js") else name
    match = _PART.search(stem)
    if match:
        return stem[: match.start()], int(match.group(1))
    return stem, 0


def _read_manifest(
    source: ArchiveSource, member: str, report: ImportReport
) -> dict[str, Any] | None:
    data = source.read(member)
    equals = data.find(b"=")
    try:
        value = orjson.loads(data[equals + 1 :] if equals >= 0 else data)
    except orjson.JSONDecodeError:
        report.warn(member, "the manifest is not valid JSON; the data files are found by name")
        return None
    return value if isinstance(value, dict) else None


def plan_files(
    source: ArchiveSource, root: str, report: ImportReport
) -> tuple[list[DataFile], dict[str, Any] | None]:
    """The data files to read, in reading order, and the manifest (if any)."""
    names = source.names()
    if source.kind == "file":
        return [_lone_file(source, names[0])], None
    data_prefix = root + "data/"
    manifest_member = data_prefix + "manifest.js"
    manifest = (
        _read_manifest(source, manifest_member, report) if source.exists(manifest_member) else None
    )
    files: list[DataFile] = []
    listed: set[str] = set()
    if manifest is not None:
        data_types = manifest.get("dataTypes")
        for entry in (data_types or {}).values() if isinstance(data_types, dict) else ():
            for info in entry.get("files") or () if isinstance(entry, dict) else ():
                if not isinstance(info, dict) or not isinstance(info.get("fileName"), str):
                    continue
                member = root + info["fileName"]
                listed.add(member)
                stem, part = _stem_and_part(member)
                kind = READ_STEMS.get(stem)
                if kind is None:
                    continue
                if not source.exists(member):
                    report.warn(
                        member,
                        "named in the manifest but missing from the archive; its data is "
                        "skipped (re-download the archive if you need it)",
                    )
                    continue
                try:
                    expected = int(info.get("count", ""))
                except (TypeError, ValueError):
                    expected = None
                files.append(DataFile(member, kind, part, expected))
    for member in sorted(names):
        if not member.startswith(data_prefix) or not member.endswith(".js"):
            continue
        if "/" in member[len(data_prefix) :] or member in listed or member == manifest_member:
            continue
        stem, part = _stem_and_part(member)
        if stem in READ_STEMS:
            files.append(DataFile(member, READ_STEMS[stem], part))
            if manifest is not None:
                report.warn(member, "not listed in the manifest; read anyway")
        elif manifest is not None or stem not in KNOWN_SKIPPED:
            report.warn(
                member,
                "unknown file, not read (if it holds your tweets, rename it as X names them, "
                "e.g. tweets-part1.js)",
            )
    files.sort(key=lambda f: (_ORDER.index(f.kind) if f.kind in _ORDER else 99, f.part, f.member))
    return files, manifest


def _lone_file(source: ArchiveSource, name: str) -> DataFile:
    stem, part = _stem_and_part(name)
    if stem in READ_STEMS:
        return DataFile(name, READ_STEMS[stem], part)
    head = source.read(name)[:200]
    match = re.match(rb"\s*window\.YTD\.(\w+)\.part(\d+)\s*=", head)
    if match and match.group(1).decode() in GLOBAL_STEMS:
        stem = GLOBAL_STEMS[match.group(1).decode()]
        return DataFile(name, READ_STEMS[stem], int(match.group(2)))
    raise ArchiveError(
        f"{source.display} is not a data file departures reads",
        "Pass the whole archive (zip or folder), or one of tweets.js, following.js, "
        "follower.js, like.js",
    )


def _items(data: list[Any]) -> Iterator[Any]:
    """Yield and release the items one by one, so a part's objects are freed as we go."""
    for index in range(len(data)):
        item = data[index]
        data[index] = None
        yield item


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
    # Items are released one by one (see _items), inline: this loop runs a million times.
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


@dataclass
class PieceJob:
    """A piece of a tweets file for a worker process, and the file's context.

    The piece is ``data`` (a JSON array of whole items, see :func:`ytd.ytd_pieces`), or for
    a file on disk bytes ``start:end`` of ``path``, which the worker reads itself (no copy
    through the parent). With ``whole``, the entire file: too small or too odd to cut.
    """

    member: str
    ctx: TweetContext
    data: bytes | bytearray | None = None
    path: str | None = None
    start: int = 0
    end: int = 0
    whole: bool = False
    seq: int = 0  # the piece's place among all pieces: a later piece's copy of a tweet wins

    def load(self) -> bytes | bytearray:
        """The piece's bytes: a JSON array (or the whole file, with ``whole``)."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        with open(self.path, "rb") as file:
            if self.whole:
                return file.read()
            # One byte either side (a separator, or the file's own brackets) becomes the
            # array's brackets.
            file.seek(self.start - 1)
            # Read straight into the buffer: no second copy of a few MB.
            buffer = bytearray(self.end - self.start + 2)
            size = file.readinto(buffer)
        if size != len(buffer):
            return b""  # the file changed under us: not JSON, the parent decides
        buffer[0] = 0x5B  # [
        buffer[-1] = 0x5D  # ]
        return buffer


@dataclass
class PieceResult:
    """What a worker did with one piece: its counts, the missing media files it found (the
    rows are in the worker's database, ``db``), or what went wrong."""

    read: int
    skipped: int
    missing: list[tuple[str, int]] = field(default_factory=list)
    db: str = ""
    error: tuple[str, str | None] | None = None
    # The piece is not valid JSON: the parent reads the whole file to name the fault.
    broken: bool = False


_worker_media = MediaIndex()
_worker_db: sqlite3.Connection | None = None
_worker_db_path = ""


def _init_worker(media_files: MediaIndex, staging_folder: str, tweets_ddl: str) -> None:
    global _worker_media, _worker_db, _worker_db_path
    _worker_media = media_files
    _worker_db, _worker_db_path = open_worker_db(staging_folder, tweets_ddl)
    gc.disable()  # see import_archive: no cycles, millions of objects


def _transform_piece(job: PieceJob) -> PieceResult:
    """Parse one piece of a tweets file into rows in this worker's database (a worker)."""
    assert _worker_db is not None
    return _transform_into(job, _worker_db, _worker_db_path, _worker_media)


def _transform_into(
    job: PieceJob, conn: sqlite3.Connection, db_path: str, media: MediaIndex
) -> PieceResult:
    """Parse one piece into rows in the database ``conn`` (a worker's, or the parent's)."""
    job.ctx.media_files = media
    missing: list[tuple[str, int]] = []

    def sink(batch: Batch) -> None:
        store_rows(conn, job.seq, batch[0], batch[1], batch[2])
        missing.extend(batch[3])

    read = skipped = 0
    conn.execute("BEGIN")
    try:
        data = job.load()
        if job.whole:
            arrays: Iterator[Any] = iter([parse_ytd(data, job.member)])
        else:
            # A few MB of JSON are tens of MB of objects: parsed a fraction at a time, the
            # memory of a process that transforms stays small (and flat: a longer import
            # only has more chances to meet its largest moment).
            arrays = (orjson.loads(array) for array in array_pieces(data, PARSE_BYTES))
        for items in arrays:
            if not isinstance(items, list):
                conn.execute("ROLLBACK")
                return PieceResult(0, 0, broken=True)
            counts = transform_items(items, job.ctx, sink)
            del items
            read += counts[0]
            skipped += counts[1]
        del data, arrays
    except (orjson.JSONDecodeError, OSError):
        conn.execute("ROLLBACK")
        return PieceResult(0, 0, broken=True)
    except DeparturesError as exc:
        conn.execute("ROLLBACK")
        # Sent back as data: the error's hint would not survive pickling.
        return PieceResult(0, 0, error=(exc.message, exc.hint))
    conn.execute("COMMIT")
    return PieceResult(read, skipped, missing, db_path)


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


def _drop_secondary_indexes(
    conn: Any, tables: tuple[str, ...], keep: tuple[str, ...] = ()
) -> list[str]:
    """Drop the explicit indexes of ``tables`` (but ``keep``); the statements that make them."""
    marks = ", ".join("?" for _ in tables)
    rows = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({marks}) ORDER BY name",
        tables,
    ).fetchall()
    rows = [(name, sql) for name, sql in rows if name not in keep]
    for name, _ in rows:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in rows]


class _Importer:
    def __init__(
        self,
        source: ArchiveSource,
        root: str,
        workspace: Workspace,
        report: ImportReport,
        progress: Progress | None,
    ) -> None:
        self.source = source
        self.root = root
        self.conn = workspace.conn
        self.workspace = workspace
        self.report = report
        self.progress = progress
        self.account_id: int | None = None
        self.media_files = source.media_index()
        self.missing_media = 0
        self.replaced: set[str] = set()
        self.notes_file = root + "data/note-tweet.js"
        self.tweets_done = 0
        self.tweets_progress = 0  # tweets stored (or transformed by workers) so far
        self.tweets_total: int | None = None
        self.fresh = False
        self.fresh_media = False
        self.staging: Staging | None = None

    def tick(self, stage: str, done: int, total: int | None) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)

    # -- the account, read before the transaction so a wrong workspace is refused early --

    def read_account(self, files: list[DataFile], manifest: dict[str, Any] | None) -> None:
        account: dict[str, Any] = {}
        for data_file in files:
            if data_file.kind == "account":
                for item in parse_ytd(self.source.read(data_file.member), data_file.member):
                    account = unwrap(item, "account") or account
        user_info = (manifest or {}).get("userInfo") or {}
        account_id = account.get("accountId") or user_info.get("accountId")
        self.account_id = int(account_id) if account_id else None
        self.account_row = (
            (
                self.account_id,
                account.get("username") or user_info.get("userName"),
                account.get("accountDisplayName") or user_info.get("displayName"),
                account.get("createdAt"),
                account.get("createdVia"),
            )
            if self.account_id is not None
            else None
        )
        known = self.workspace.get_meta("account_id")
        if known is not None and self.account_id is not None and int(known) != self.account_id:
            theirs = self.workspace.get_meta("account_username") or known
            ours = self.account_row[1] if self.account_row else self.account_id
            raise WorkspaceError(
                f"{self.source.display} is the archive of @{ours}, but the workspace "
                f"{self.workspace.path} holds the archive of @{theirs}; nothing was imported",
                "Import it into another workspace: departures --workspace DIR archive import PATH",
            )
        if self.account_id is None and known is not None:
            self.account_id = int(known)
        if self.account_row is not None:
            self.report.account_id = self.account_id
            self.report.username = self.account_row[1]

    # -- the transaction body --

    def run(self, files: list[DataFile], manifest: dict[str, Any] | None) -> None:
        conn = self.conn
        if self.account_row is not None:
            conn.execute(
                "INSERT INTO account (id, username, display_name, created_at, created_via) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "username = excluded.username, display_name = excluded.display_name, "
                "created_at = excluded.created_at, created_via = excluded.created_via",
                self.account_row,
            )
            self.workspace.set_meta("account_id", str(self.account_id))
            if self.account_row[1]:
                self.workspace.set_meta("account_username", str(self.account_row[1]))
        expected = [f.expected for f in files if f.kind == "tweets"]
        if expected and all(e is not None for e in expected):
            self.tweets_total = sum(e or 0 for e in expected)
        tweet_files = [f for f in files if f.kind in _TWEET_FILES]
        others = [f for f in files if f.kind not in _TWEET_FILES and f.kind != "account"]
        tweet_bytes = sum(self.source.size(f.member) for f in tweet_files)
        self.fresh = conn.execute("SELECT 1 FROM tweets LIMIT 1").fetchone() is None
        self.fresh_media = conn.execute("SELECT 1 FROM media LIMIT 1").fetchone() is None
        parallel = tweet_bytes >= PARALLEL_MIN_BYTES and _use_workers()
        # Into empty tables, building the secondary indexes once at the end is cheaper than
        # updating them row by row (the long posts' updates included); the later linking
        # passes need them, so finish() brings them back after linking the notes. Read from
        # the schema, so that an index added by a later migration is kept too.
        # In one process, except tweets_stats: its key (kind, ..., created_at) follows the
        # tweets' ids, so inserts in id order append to it, which costs less than sorting it
        # afterwards. With workers, their records are copied whole only into a table
        # without indexes (see staging.py).
        indexes = (
            _drop_secondary_indexes(
                conn, ("tweets", "media"), keep=() if parallel else ("tweets_stats",)
            )
            if self.fresh
            else []
        )
        if parallel:
            self._run_parallel(tweet_files, others)
        else:
            for data_file in tweet_files + others:
                self._read_file(data_file)
        self.finish(indexes)

    def _read_file(self, data_file: DataFile) -> None:
        if data_file.kind in _TWEET_FILES:
            self._read_tweet_file(data_file)
            return
        for _ in self._read_steps(data_file):
            pass

    def _read_steps(self, data_file: DataFile) -> Iterator[None]:
        """Read a file that is not tweets, yielding after each chunk (see _run_parallel)."""
        if data_file.kind in _SNAPSHOT_TABLES:
            # Lists of relations are snapshots: a newer archive replaces the older list.
            table = _SNAPSHOT_TABLES[data_file.kind]
            if table not in self.replaced:
                self.conn.execute(f"DELETE FROM {table}")
                self.replaced.add(table)
        reader = getattr(self, "read_" + data_file.kind)
        # In chunks like the tweets: likes and long posts grow with the archive (tens of
        # MB in a large one), and parsed whole they would make the import's memory grow.
        for items in self._chunks(data_file.member, OTHER_CHUNK_BYTES):
            reader(items, data_file)
            del items
            yield

    def _chunks(self, member: str, chunk_bytes: int | None = None) -> Iterator[list[Any]]:
        """The items of a data file a chunk at a time; from disk, never the whole file."""
        local = self.source.local_file(member)
        if local is not None:
            try:
                yield from iter_file_chunks(str(local), member, chunk_bytes)
            except OSError as exc:
                raise ArchiveError(
                    f"{local} cannot be read ({exc.strerror or exc})",
                    "Check the file's permissions, or unzip the archive again",
                ) from exc
            return
        # A zip member is inflated a block at a time and parsed a chunk at a time.
        yield from iter_stream_chunks(
            self.source.open_stream(member),
            member,
            lambda: self.source.read_buffer(member),
            chunk_bytes,
        )

    def _other_steps(self, others: list[DataFile]) -> Iterator[None]:
        for data_file in others:
            yield from self._read_steps(data_file)

    def _run_parallel(self, tweet_files: list[DataFile], others: list[DataFile]) -> None:
        """Parse and transform tweets in worker processes, piece by piece; store them here.

        Parsing and the per-tweet transform are CPU-bound Python: two workers use both
        cores while this process cuts the files into pieces of a few thousand tweets and
        inserts the rows, in the files' order. Pieces rather than whole parts: the work is
        shared evenly, little waits at the end, and at most ``IN_FLIGHT`` pieces (a few MB
        each) are out at a time, so memory stays bounded whatever the archive's size.
        """
        # fork, not spawn: spawn re-imports the caller's main script, which a benchmark or a
        # notebook does not guard. The children only parse and transform: they never touch
        # the parent's database connection or its threads.
        self.staging = staging = Staging(self.workspace.path, tweets_definition(self.conn))
        pool = ProcessPoolExecutor(
            max_workers=WORKERS,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_init_worker,
            initargs=(self.media_files, staging.folder, staging.tweets_ddl),
        )
        # Start the workers now, before any part is read: forked later, each would carry a
        # copy-on-write view of the parent's part buffer (counted in its resident memory).
        pool.submit(int).result()
        jobs = self._pieces(tweet_files)
        # (file, its piece's result) in order; a None future marks the end of a file.
        pending: deque[tuple[DataFile, Future[PieceResult] | None]] = deque()
        counts: dict[str, list[int]] = {f.member: [0, 0] for f in tweet_files}
        fallen_back: set[str] = set()
        databases: set[str] = set()

        def submit_next() -> None:
            while sum(1 for _, f in pending if f is not None and not f.done()) < IN_FLIGHT:
                job = next(jobs, None)
                if job is None:
                    return
                data_file, piece = job
                future = pool.submit(_transform_piece, piece) if piece is not None else None
                pending.append((data_file, future))

        def work_here() -> bool:
            """Take the next piece in this process, when it has nothing else to do."""
            job = next(jobs, None)
            if job is None:
                return False
            data_file, piece = job
            done: Future[PieceResult] | None = None
            if piece is not None:
                conn, path = staging.own_db()
                done = Future()
                done.set_result(_transform_into(piece, conn, path, self.media_files))
            pending.append((data_file, done))
            submit_next()
            return True

        # The other files (likes, long posts, followers...) are read here a chunk at a time
        # whenever the next piece is not back yet: the workers never wait for them.
        other_steps = self._other_steps(others)
        try:
            submit_next()
            while pending:
                data_file, future = pending.popleft()
                while future is not None and not future.done():
                    # Idle otherwise: read the other files, else transform a piece here too
                    # (the workers rarely keep both cores full on their own).
                    if next(other_steps, StopIteration) is StopIteration and not work_here():
                        break
                if future is None:
                    read, skipped = counts[data_file.member]
                    self._after_tweet_file(
                        data_file, _TWEET_FILES[data_file.kind][3], read, skipped
                    )
                    submit_next()
                    continue
                result = future.result()
                submit_next()
                if data_file.member in fallen_back:
                    continue
                if result.error is not None:
                    raise ArchiveError(*result.error)
                if result.broken:
                    fallen_back.add(data_file.member)
                    self._read_rest_here(data_file, counts[data_file.member])
                    continue
                databases.add(result.db)
                for path, tweet_id in result.missing:
                    self._missing_media(path, tweet_id)
                counts[data_file.member][0] += result.read
                counts[data_file.member][1] += result.skipped
                if data_file.kind == "tweets":
                    self.tweets_progress += result.read
                    self.tick("tweets", self.tweets_progress, self.tweets_total)
            for _ in other_steps:
                pass
        finally:
            # The workers exit here: their databases are complete and closed.
            pool.shutdown(wait=True, cancel_futures=True)
        self.tick("storing", 0, 1)
        self.staging.merge(self.conn, sorted(databases), fresh=self.fresh)
        self.tick("storing", 1, 1)

    def _pieces(self, tweet_files: list[DataFile]) -> Iterator[tuple[DataFile, PieceJob | None]]:
        """Every tweets file cut into pieces for the workers, then an end-of-file marker."""
        seq = 0
        for data_file, piece in self._unnumbered_pieces(tweet_files):
            if piece is not None:
                seq += 1
                piece.seq = seq
            yield data_file, piece

    def _unnumbered_pieces(
        self, tweet_files: list[DataFile]
    ) -> Iterator[tuple[DataFile, PieceJob | None]]:
        for data_file in tweet_files:
            dirs, deleted, community, _ = _TWEET_FILES[data_file.kind]
            # The media index reaches each worker once, through its initializer.
            ctx = replace(
                self._context(data_file, dirs, deleted, community), media_files=MediaIndex()
            )
            local = self.source.local_file(data_file.member)
            if local is not None:
                yield from self._local_pieces(data_file, ctx, local)
            else:
                # A zip member is inflated as the pieces are handed out: the workers start
                # on the first piece while the rest of the member is still compressed.
                blocks = self.source.open_stream(data_file.member)
                for whole, piece in stream_pieces(blocks):
                    yield data_file, PieceJob(data_file.member, ctx, piece, whole=whole)
                    del piece
            yield data_file, None

    def _local_pieces(
        self, data_file: DataFile, ctx: TweetContext, local: Path
    ) -> Iterator[tuple[DataFile, PieceJob]]:
        """Cut a file on disk through a memory map: only the bytes near each cut are read
        here, the workers read their pieces themselves."""
        whole = PieceJob(data_file.member, ctx, path=str(local), whole=True)
        try:
            file = open(local, "rb")  # noqa: SIM115 (closed below, after the generator's use)
        except OSError:
            yield data_file, whole  # the worker meets the error and names it
            return
        try:
            try:
                mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):  # empty file
                yield data_file, whole
                return
            with mapped:
                cuts = ytd_pieces(mapped)
                if cuts is None:
                    yield data_file, whole
                    return
                for start, end in cuts:
                    yield data_file, PieceJob(data_file.member, ctx, None, str(local), start, end)
        finally:
            file.close()

    def _read_rest_here(self, data_file: DataFile, counts: list[int]) -> None:
        """A piece did not parse: the whole file decides (its precise error, or the rest)."""
        dirs, deleted, community, _ = _TWEET_FILES[data_file.kind]
        ctx = self._context(data_file, dirs, deleted, community)
        items = parse_ytd(self.source.read_buffer(data_file.member), data_file.member)
        del items[: counts[0] + counts[1]]
        read, skipped = transform_items(
            items, ctx, lambda batch: self._store_batches(data_file, [batch])
        )
        counts[0] += read
        counts[1] += skipped

    def _store_batches(self, data_file: DataFile, batches: list[Batch]) -> None:
        for batch in batches:
            self._store(batch)
            if data_file.kind == "tweets":
                self.tweets_progress += len(batch[0])
                self.tick("tweets", self.tweets_progress, self.tweets_total)

    def _read_tweet_file(self, data_file: DataFile) -> None:
        media_dirs, is_deleted, is_community, count_key = _TWEET_FILES[data_file.kind]
        ctx = self._context(data_file, media_dirs, is_deleted, is_community)

        def sink(batch: Batch) -> None:
            self._store_batches(data_file, [batch])

        read = skipped = 0
        for items in self._chunks(data_file.member):
            counts = transform_items(items, ctx, sink)
            read += counts[0]
            skipped += counts[1]
        self._after_tweet_file(data_file, count_key, read, skipped)

    def _context(
        self, data_file: DataFile, media_dirs: tuple[str, ...], is_deleted: bool,
        is_community: bool,
    ) -> TweetContext:  # fmt: skip
        return TweetContext(
            account_id=self.account_id,
            source_file=data_file.member,
            media_dirs=tuple(f"{self.root}data/{d}/" for d in media_dirs),
            media_files=self.media_files,
            is_deleted=is_deleted,
            is_community=is_community,
        )

    def _after_tweet_file(
        self, data_file: DataFile, count_key: str, read: int, skipped: int
    ) -> None:
        if count_key == "tweets":
            self.tweets_done += read
            self.tick("tweets", self.tweets_done, self.tweets_total)
        self.report.add(count_key, read)
        if skipped:
            self.report.warn(
                data_file.member,
                f"{skipped} entries are not tweets X would write (no id or malformed); "
                "they were skipped",
            )

    def _store(self, batch: Batch) -> None:
        tweets, media, sightings, missing = batch
        if tweets:
            self.conn.executemany(TWEET_REPLACE if self.fresh else TWEET_UPSERT, tweets)
        if media:
            self.conn.executemany(MEDIA_REPLACE if self.fresh_media else MEDIA_UPSERT, media)
        if sightings:
            self.conn.executemany(SIGHTING_INSERT, sightings)
        for path, tweet_id in missing:
            self._missing_media(path, tweet_id)

    def _missing_media(self, path: str, tweet_id: int) -> None:
        self.missing_media += 1
        if self.missing_media <= MAX_MISSING_MEDIA_WARNINGS:
            self.report.warn(
                path,
                f"media file of tweet {tweet_id} is missing from the archive; the tweet is "
                "kept without it (add the file to the archive to publish it)",
            )

    def read_notes(self, items: list[Any], data_file: DataFile) -> None:
        self.notes_file = data_file.member
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
        self.conn.executemany(
            "INSERT INTO notes (note_id, created_at, created_ms, text, entities) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(note_id) DO UPDATE SET "
            "created_at = excluded.created_at, created_ms = excluded.created_ms, "
            "text = excluded.text, entities = excluded.entities",
            rows,
        )
        self.report.add("notes", len(rows))

    def read_profile(self, items: list[Any], data_file: DataFile) -> None:
        for item in items:
            profile = unwrap(item, "profile")
            if profile is None or self.account_id is None:
                continue
            description = profile.get("description") or {}
            self.conn.execute(
                "UPDATE account SET bio = ?, website = ?, location = ?, avatar_media_url = ?, "
                "header_media_url = ? WHERE id = ?",
                (
                    description.get("bio"),
                    description.get("website"),
                    description.get("location"),
                    profile.get("avatarMediaUrl"),
                    profile.get("headerMediaUrl"),
                    self.account_id,
                ),
            )

    def _read_relations(self, items: list[Any], data_file: DataFile, key: str) -> None:
        table = data_file.kind
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
        self.conn.executemany(
            f"INSERT INTO {table} (account_id, user_link) VALUES (?, ?) "
            "ON CONFLICT(account_id) DO UPDATE SET user_link = excluded.user_link",
            rows,
        )
        self.report.add(table, len(rows))

    def read_followers(self, items: list[Any], data_file: DataFile) -> None:
        self._read_relations(items, data_file, "follower")

    def read_following(self, items: list[Any], data_file: DataFile) -> None:
        self._read_relations(items, data_file, "following")

    def read_blocks(self, items: list[Any], data_file: DataFile) -> None:
        self._read_relations(items, data_file, "blocking")

    def read_mutes(self, items: list[Any], data_file: DataFile) -> None:
        self._read_relations(items, data_file, "muting")

    def read_likes(self, items: list[Any], data_file: DataFile) -> None:
        rows = []
        for item in _items(items):
            like = unwrap(item, "like")
            if like is None:
                continue
            try:
                rows.append((int(like["tweetId"]), like.get("fullText"), like.get("expandedUrl")))
            except (KeyError, TypeError, ValueError):
                continue
        self.conn.executemany(
            "INSERT INTO likes (tweet_id, full_text, expanded_url) VALUES (?, ?, ?) "
            "ON CONFLICT(tweet_id) DO UPDATE SET full_text = excluded.full_text, "
            "expanded_url = excluded.expanded_url",
            rows,
        )
        self.report.add("likes", len(rows))

    def read_lists(self, items: list[Any], data_file: DataFile) -> None:
        relation = _stem_and_part(data_file.member)[0].removeprefix("lists-")
        rows = []
        for item in items:
            info = unwrap(item, "userListInfo")
            if info is not None and isinstance(info.get("url"), str):
                rows.append((relation, info["url"]))
        self.conn.executemany("INSERT OR IGNORE INTO lists (relation, url) VALUES (?, ?)", rows)
        self.report.add("lists", len(rows))

    def read_screen_name_changes(self, items: list[Any], data_file: DataFile) -> None:
        rows = []
        for item in items:
            outer = unwrap(item, "screenNameChange")
            change = (outer or {}).get("screenNameChange")
            if not isinstance(change, dict):
                continue
            account_id = (outer or {}).get("accountId")
            rows.append(
                (
                    int(account_id) if account_id else self.account_id,
                    change.get("changedAt") or "",
                    change.get("changedFrom") or "",
                    change.get("changedTo") or "",
                )
            )
        self.conn.executemany("INSERT OR IGNORE INTO screen_name_changes VALUES (?, ?, ?, ?)", rows)
        self.report.add("screen_name_changes", len(rows))

    # -- linking passes over the whole table --

    def finish(self, indexes: list[str]) -> None:
        conn = self.conn
        self.tick("linking", 0, 4)
        linked, unlinked = link_notes(conn)
        # SQLite's sorter takes as much memory as the page cache allows: a smaller cache
        # while the indexes are built keeps a million-tweet sort out of memory (it spills
        # to temporary files), so the import's peak does not grow with the archive.
        cache_size = conn.execute("PRAGMA cache_size").fetchone()[0]
        conn.execute(f"PRAGMA cache_size = {INDEX_BUILD_CACHE_KIB}")
        for sql in indexes:
            conn.execute(sql)
        conn.execute(f"PRAGMA cache_size = {int(cache_size)}")
        self.report.add("long_posts_restored", linked)
        for note_id in unlinked:
            self.report.warn(
                self.notes_file,
                f"long post {note_id} matches no tweet of the archive; it stays unpublished",
            )
        self.tick("linking", 1, 4)
        collapse_edits(conn)
        self.tick("linking", 2, 4)
        mark_self_replies(conn, self.account_id)
        self.tick("linking", 3, 4)
        link_threads(conn, reset=not self.fresh)
        self.tick("linking", 4, 4)
        if self.missing_media > MAX_MISSING_MEDIA_WARNINGS:
            self.report.warn(
                self.root + "data/tweets_media/",
                f"{self.missing_media - MAX_MISSING_MEDIA_WARNINGS} more media files are "
                "missing ('departures archive stats' counts them)",
            )
        self.report.add("media_files_missing", self.missing_media)


_SNAPSHOT_TABLES = {
    "followers": "followers",
    "following": "following",
    "blocks": "blocks",
    "mutes": "mutes",
    "likes": "likes",
}


def collapse_edits(conn: Any) -> None:
    """Keep only the last version of every edited tweet and point references at it."""
    conn.execute(
        "INSERT OR REPLACE INTO tweet_versions (version_id, kept_id) "
        "SELECT t.id, g.kept FROM tweets t JOIN ("
        "  SELECT edit_initial_id AS gid, MAX(id) AS kept FROM tweets "
        "  WHERE edit_initial_id IS NOT NULL GROUP BY edit_initial_id HAVING COUNT(*) > 1"
        ") g ON t.edit_initial_id = g.gid WHERE t.id <> g.kept"
    )
    conn.execute("DELETE FROM media WHERE tweet_id IN (SELECT version_id FROM tweet_versions)")
    conn.execute("DELETE FROM tweets WHERE id IN (SELECT version_id FROM tweet_versions)")
    for column in ("reply_to_id", "quote_of"):
        conn.execute(
            f"UPDATE tweets SET {column} = (SELECT kept_id FROM tweet_versions "
            f"WHERE version_id = tweets.{column}) "
            f"WHERE {column} IN (SELECT version_id FROM tweet_versions)"
        )


def mark_self_replies(conn: Any, account_id: int | None) -> None:
    """A reply to a tweet of this archive, or to the account itself, is a self-reply."""
    conn.execute(
        "UPDATE tweets SET kind = 'reply_to_self' WHERE kind = 'reply_to_other' AND "
        "(reply_to_user_id = ? OR reply_to_id IN (SELECT id FROM tweets))",
        (account_id,),
    )


def link_threads(conn: Any, *, reset: bool = True) -> None:
    """Set parent and root of every self-reply chain whose parent is in the archive.

    ``reset=False`` skips clearing the previous links: only right when every row was
    inserted by this import (the columns start NULL), which spares a full table scan.
    """
    if reset:
        conn.execute(
            "UPDATE tweets SET thread_parent_id = NULL, thread_root_id = NULL "
            "WHERE thread_parent_id IS NOT NULL OR thread_root_id IS NOT NULL"
        )
    conn.execute(
        "UPDATE tweets SET thread_parent_id = reply_to_id WHERE kind = 'reply_to_self' "
        "AND reply_to_id IN (SELECT id FROM tweets) AND reply_to_id < id"
    )
    conn.execute("DROP TABLE IF EXISTS temp.thread_chain")
    # Keyed from the start: an index built afterwards sorts in memory (8 MB at a million
    # tweets), and the import's memory would grow with the archive.
    conn.execute("CREATE TEMP TABLE thread_chain (id INTEGER PRIMARY KEY, root INTEGER)")
    conn.execute(
        "INSERT OR IGNORE INTO thread_chain (id, root) WITH RECURSIVE chain(id, root) AS ("
        "  SELECT id, id FROM tweets WHERE thread_parent_id IS NULL AND id IN "
        "    (SELECT thread_parent_id FROM tweets WHERE thread_parent_id IS NOT NULL)"
        "  UNION ALL"
        "  SELECT t.id, chain.root FROM tweets t JOIN chain ON t.thread_parent_id = chain.id"
        ") SELECT id, root FROM chain"
    )
    conn.execute(
        "UPDATE tweets SET thread_root_id = "
        "(SELECT root FROM thread_chain WHERE thread_chain.id = tweets.id) "
        "WHERE id IN (SELECT id FROM thread_chain)"
    )
    conn.execute("DROP TABLE temp.thread_chain")


def _journal_for_a_first_import(conn: Any) -> list[str]:
    """Into a workspace without tweets, write through a rollback journal; the undo statements.

    In WAL mode every page of a large transaction is written twice (to the WAL, then by the
    checkpoint into the database): for a first import, hundreds of MB. A rollback journal
    only keeps the original content of the pages the import changes (a few, when the tables
    start empty) and the import stays one atomic transaction. Needs the database to itself:
    when another connection has it open, the import simply stays in WAL mode.
    """
    if conn.execute("SELECT 1 FROM tweets LIMIT 1").fetchone() is not None:
        return []
    try:
        mode = conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
    except sqlite3.OperationalError:
        return []
    if str(mode).lower() != "delete":
        return []
    # FULL: in rollback-journal mode NORMAL could lose the journal's ordering on power loss.
    conn.execute("PRAGMA synchronous = FULL")
    return ["PRAGMA synchronous = NORMAL", "PRAGMA journal_mode = WAL"]


def import_archive(
    source: Path,
    workspace: Workspace,
    *,
    progress: Progress | None = None,
) -> ImportReport:
    """Read the X archive at ``source`` (zip, folder or one data .js file) into ``workspace``.

    One transaction for the whole import: on any fatal error (:class:`ArchiveError`,
    :class:`WorkspaceError`) the workspace is exactly as it was. Re-importing the same or a
    newer archive of the same account updates rows in place; an archive of another account
    is refused. Returns the counts read and the warnings (file + message).

    Example::

        report = import_archive(Path("twitter-2026.zip"), Workspace.open("ws"))
        print(report.counts["tweets"], [str(w) for w in report.warnings])
    """
    started = time.perf_counter()
    archive = open_source(Path(source))
    report = ImportReport(source=str(source))
    gc_was_enabled = gc.isenabled()
    restore: list[str] = []
    importers: list[_Importer] = []
    try:
        root = archive.find_root()
        files, manifest = plan_files(archive, root, report)
        if not files and manifest is None:
            if any(n.rsplit("/", 1)[-1] in ("manifest.js", "tweets.js", "tweet.js")
                   for n in archive.names() if "/" not in n):  # fmt: skip
                raise ArchiveError(
                    f"{source} looks like the data/ folder of an archive",
                    "Pass the folder that contains it (the one with 'Your archive.html')",
                )
            raise ArchiveError(
                f"{source} holds no X archive data (no data/manifest.js, tweets.js, "
                "follower.js...)",
                "Pass the zip X sent you, its unzipped folder, or one data .js file",
            )
        importer = _Importer(archive, root, workspace, report, progress)
        importers.append(importer)
        importer.read_account(files, manifest)
        # Millions of small dicts and tuples: the cyclic collector would rescan them all
        # again and again for nothing (they hold no cycles), tripling the time.
        gc.disable()
        conn = workspace.conn
        cache_size = conn.execute("PRAGMA cache_size").fetchone()[0]
        # A bigger page cache keeps the transaction's dirty pages out of the WAL until the
        # commit and spares re-reading them in the linking passes; bounded, so memory
        # does not grow with the archive. (temp_store stays as set: in memory, the sorts
        # that rebuild the indexes would grow with the archive.)
        conn.execute(f"PRAGMA cache_size = {IMPORT_CACHE_KIB}")
        restore.append(f"PRAGMA cache_size = {int(cache_size)}")
        restore.extend(_journal_for_a_first_import(conn))
        with workspace.transaction():
            importer.run(files, manifest)
            workspace.set_meta("archive_path", str(archive.path))
            workspace.set_meta("archive_kind", archive.kind)
            workspace.set_meta("archive_root", root)
            generated = ((manifest or {}).get("archiveInfo") or {}).get("generationDate")
            if generated:
                workspace.set_meta("archive_generated_at", str(generated))
            report.seconds = time.perf_counter() - started
            workspace.conn.execute(
                "INSERT INTO archive_imports (imported_at, archive_path, counts, warnings) "
                "VALUES (?, ?, ?, ?)",
                (
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    str(archive.path),
                    orjson.dumps(report.counts).decode(),
                    orjson.dumps([[w.file, w.message] for w in report.warnings]).decode(),
                ),
            )
    finally:
        for used in importers:
            if used.staging is not None:  # after the commit or rollback
                used.staging.close()
        for pragma in restore:
            # Another connection may hold the database (journal mode back to WAL): then the
            # next Workspace.open sets it again.
            with contextlib.suppress(sqlite3.OperationalError):
                workspace.conn.execute(pragma)
        if gc_was_enabled:
            gc.enable()
        archive.close()
    report.seconds = time.perf_counter() - started
    return report
