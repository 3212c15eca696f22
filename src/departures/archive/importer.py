"""Importing an X archive into the workspace: one transaction, whatever happens.

:func:`import_archive` is the one entry point (the CLI's ``archive import``). It reads an
archive in four steps, each in its own module:

1. the file plan (``plan.py``): which data files to read, in what order, their sizes;
2. the readers (``readers.py``): what each kind of file becomes, one small function each;
3. the engine (``engine.py``): with a spare core, worker processes parse and transform the
   tweets files piece by piece; otherwise this module reads every file in one process,
   a chunk at a time;
4. the linking passes (``linking.py``): SQL that joins long posts, collapses edits and
   links threads once everything is stored.

Everything is written in a single transaction: on any fatal error the workspace is exactly
as before. Memory stays flat whatever the archive's size: files are read in chunks (a zip
member inflated a block at a time), turned into rows, inserted and freed.
"""

from __future__ import annotations

import contextlib
import gc
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from departures.archive import engine
from departures.archive.linking import drop_secondary_indexes, link_all
from departures.archive.plan import DataFile, no_data_error, plan_files
from departures.archive.readers import (
    READERS,
    SNAPSHOT_TABLES,
    TWEET_FILES,
    Batch,
    ReadTarget,
    store_batch,
    transform_items,
    tweet_context,
)
from departures.archive.report import ImportReport, ImportWarning, Progress
from departures.archive.source import ArchiveSource, open_source
from departures.archive.staging import Staging
from departures.archive.tweets import TweetContext
from departures.archive.ytd import iter_file_chunks, iter_stream_chunks, parse_ytd, unwrap
from departures.errors import ArchiveError, WorkspaceError
from departures.workspace.db import Workspace

__all__ = ["ImportReport", "ImportWarning", "Progress", "import_archive"]

# The files other than tweets (likes, long posts...) are read in pieces of this size: the
# parent reads them while it also keeps the workers' results, and its memory stays flat.
OTHER_CHUNK_BYTES = 2 << 20
# The page cache during an import (PRAGMA cache_size; negative: KiB).
IMPORT_CACHE_KIB = -8192
MAX_MISSING_MEDIA_WARNINGS = 20


class ImportRun:
    """One import in progress: the archive, the workspace, the report, the counters.

    Reads every file in this process (``run``), or hands the tweets files to the engine;
    the engine calls back into it for what the parent does (other files, counts, warnings).
    """

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
        self.account_row: tuple[Any, ...] | None = None
        self.media_files = source.media_index()
        self.missing_media_count = 0
        self.replaced: set[str] = set()
        self.tweets_done = 0
        self.tweets_progress = 0  # tweets stored (or transformed by workers) so far
        self.tweets_total: int | None = None
        self.fresh = False
        self.fresh_media = False
        self.staging: Staging | None = None  # the engine's worker databases, if it ran

    def tick(self, stage: str, done: int, total: int | None) -> None:
        """Report progress to the caller, if it asked."""
        if self.progress is not None:
            self.progress(stage, done, total)

    # -- the account, read before the transaction so a wrong workspace is refused early --

    def read_account(self, files: list[DataFile], manifest: dict[str, Any] | None) -> None:
        """The account's id and names (account.js, else the manifest); refuse another's."""
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

    def run(self, files: list[DataFile], manifest: dict[str, Any] | None) -> None:
        """The transaction's body: the account, every file, then the linking passes."""
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
        tweet_files = [f for f in files if f.kind in TWEET_FILES]
        others = [f for f in files if f.kind not in TWEET_FILES and f.kind != "account"]
        self.fresh = conn.execute("SELECT 1 FROM tweets LIMIT 1").fetchone() is None
        self.fresh_media = conn.execute("SELECT 1 FROM media LIMIT 1").fetchone() is None
        parallel = engine.pays_off(sum(f.size for f in tweet_files))
        # Into empty tables, building the secondary indexes once at the end is cheaper than
        # updating them row by row (the long posts' updates included); the later linking
        # passes need them, so link_all brings them back after linking the notes. Read from
        # the schema, so that an index added by a later migration is kept too.
        # In one process, except tweets_stats: its key (kind, ..., created_at) follows the
        # tweets' ids, so inserts in id order append to it, which costs less than sorting it
        # afterwards. With workers, their records are copied whole only into a table
        # without indexes (see staging.py).
        indexes = (
            drop_secondary_indexes(
                conn, ("tweets", "media"), keep=() if parallel else ("tweets_stats",)
            )
            if self.fresh
            else []
        )
        if parallel:
            engine.run_parallel(self, tweet_files, others)
        else:
            for data_file in tweet_files:
                self._read_tweet_file(data_file)
            for _ in self.other_steps(others):
                pass
        notes_files = [f.member for f in files if f.kind == "notes"]
        self.finish(indexes, notes_files[-1] if notes_files else self.root + "data/note-tweet.js")

    # -- one process: a file at a time, a chunk at a time --

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

    def other_steps(self, others: list[DataFile]) -> Iterator[None]:
        """Read the files that are not tweets, yielding after each chunk.

        The engine takes a step whenever it waits for a worker; in one process they are
        simply read through.
        """
        for data_file in others:
            reader = READERS[data_file.kind]
            if data_file.kind in SNAPSHOT_TABLES and data_file.kind not in self.replaced:
                # A snapshot: a newer archive's list replaces the older one.
                self.conn.execute(f"DELETE FROM {data_file.kind}")
                self.replaced.add(data_file.kind)
            target = ReadTarget(self.conn, self.report, self.account_id, data_file)
            # In chunks like the tweets: likes and long posts grow with the archive (tens
            # of MB in a large one), and parsed whole they would make the memory grow.
            for items in self._chunks(data_file.member, OTHER_CHUNK_BYTES):
                reader(items, target)
                del items
                yield

    def _read_tweet_file(self, data_file: DataFile) -> None:
        ctx = self.tweet_context(data_file)

        def sink(batch: Batch) -> None:
            self._store_batches(data_file, [batch])

        read = skipped = 0
        for items in self._chunks(data_file.member):
            counts = transform_items(items, ctx, sink)
            read += counts[0]
            skipped += counts[1]
        self.after_tweet_file(data_file, read, skipped)

    def tweet_context(self, data_file: DataFile) -> TweetContext:
        """The context of the tweets of ``data_file`` (see readers.tweet_context)."""
        return tweet_context(data_file, self.root, self.account_id, self.media_files)

    def read_rest_here(self, data_file: DataFile, counts: list[int]) -> None:
        """A piece did not parse: the whole file decides (its precise error, or the rest)."""
        ctx = self.tweet_context(data_file)
        items = parse_ytd(self.source.read_buffer(data_file.member), data_file.member)
        del items[: counts[0] + counts[1]]
        read, skipped = transform_items(
            items, ctx, lambda batch: self._store_batches(data_file, [batch])
        )
        counts[0] += read
        counts[1] += skipped

    def _store_batches(self, data_file: DataFile, batches: list[Batch]) -> None:
        for batch in batches:
            store_batch(self.conn, batch, fresh=self.fresh, fresh_media=self.fresh_media)
            for path, tweet_id in batch[3]:
                self.missing_media(path, tweet_id)
            if data_file.kind == "tweets":
                self.tweets_progress += len(batch[0])
                self.tick("tweets", self.tweets_progress, self.tweets_total)

    def after_tweet_file(self, data_file: DataFile, read: int, skipped: int) -> None:
        """Count a tweets file once it is read, and warn about the entries skipped."""
        count_key = TWEET_FILES[data_file.kind].count_key
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

    def missing_media(self, path: str, tweet_id: int) -> None:
        """A tweet's media file is not in the archive: count it, warn about the first ones."""
        self.missing_media_count += 1
        if self.missing_media_count <= MAX_MISSING_MEDIA_WARNINGS:
            self.report.warn(
                path,
                f"media file of tweet {tweet_id} is missing from the archive; the tweet is "
                "kept without it (add the file to the archive to publish it)",
            )

    # -- after every file: the linking passes --

    def finish(self, indexes: list[str], notes_file: str) -> None:
        """Link everything (see linking.py) and report what could not be linked."""
        linked, unlinked = link_all(
            self.conn,
            account_id=self.account_id,
            indexes=indexes,
            fresh=self.fresh,
            tick=self.tick,
        )
        self.report.add("long_posts_restored", linked)
        for note in unlinked:
            self.report.warn(notes_file, note.warning)
        if self.missing_media_count > MAX_MISSING_MEDIA_WARNINGS:
            self.report.warn(
                self.root + "data/tweets_media/",
                f"{self.missing_media_count - MAX_MISSING_MEDIA_WARNINGS} more media files are "
                "missing ('departures archive stats' counts them)",
            )
        self.report.add("media_files_missing", self.missing_media_count)


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
    importers: list[ImportRun] = []
    try:
        root = archive.find_root()
        files, manifest = plan_files(archive, root, report)
        if not files and manifest is None:
            raise no_data_error(source, archive)
        importer = ImportRun(archive, root, workspace, report, progress)
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
